//! `GET /v1/reports/fleet` (JSON and CSV) and `GET /v1/reports/dashboard` against a real
//! daemon: figures from the rollups, trips, the registry, rentals and the live index.

use std::time::Duration;

use serde_json::json;

use super::api::{publish_drive, wait_trips};
use crate::common::api::{
    customer, driver, plan, reserve_body, standard_plan, vehicle, vehicle_body, Api,
};
use crate::common::errors::is;
use crate::common::now_ms;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_report_csv_and_dashboard() {
    let api = Api::start_with(|c| {
        c.trips.settle_s = 0;
        c.trips.interval_ms = 100;
        c.reports.dashboard_cache_s = 2;
    })
    .await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    let mut hostile = vehicle_body("v2", 2);
    hostile["plate"] = json!("=HYPERLINK(\"x\",\"y\")");
    assert_eq!(a.post("/v1/vehicles", hostile).await.status, 201);

    let start_ms = now_ms() - 3_060_000;
    let publisher = publish_drive(&api, start_ms).await;
    let from = chrono::DateTime::from_timestamp_millis(start_ms - 60_000).unwrap();
    let to = chrono::Utc::now() + chrono::Duration::minutes(1);
    let window = format!("from={}&to={}", from.to_rfc3339(), to.to_rfc3339()).replace('+', "%2B");
    wait_trips(a, &format!("/v1/vehicles/v1/trips?{window}"), 2).await;
    // The rollups follow the same passes as the trips; wait for every reading, OBD too.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let report = loop {
        let r = a.get(&format!("/v1/reports/fleet?{window}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        let fuel = body["items"][0]["fuel_used_pct"].as_f64().unwrap_or(0.0);
        if body["items"][0]["readings"] == 3_000 && fuel > 1.19 {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let v1 = &items[0];
    assert_eq!(v1["vehicle_id"], "v1");
    assert_eq!(v1["plate"], "PL-1");
    assert_eq!(v1["trips"], 2);
    assert_eq!(v1["driving_s"], 1_200.0);
    let metres = v1["distance_m"].as_f64().unwrap();
    assert!((metres - 12_000.0).abs() < 1.0, "{metres}");
    let window_s = (to - from).num_milliseconds() as f64 / 1e3;
    let util = v1["utilisation"].as_f64().unwrap();
    assert!((util - 1_200.0 / window_s).abs() < 1e-9, "{util}");
    let fuel = v1["fuel_used_pct"].as_f64().unwrap();
    assert!((fuel - 1.2).abs() < 0.005, "{fuel}");
    assert_eq!(items[1]["vehicle_id"], "v2");
    assert_eq!(items[1]["trips"], 0);
    assert_eq!(items[1]["distance_m"], 0.0);
    assert!(items[1]["fuel_used_pct"].is_null());

    // Pages of one.
    let r = a
        .get(&format!("/v1/reports/fleet?{window}&limit=1"))
        .await
        .json();
    assert_eq!(r["items"][0]["vehicle_id"], "v1");
    let cursor = r["next_cursor"].as_str().unwrap();
    let r = a
        .get(&format!(
            "/v1/reports/fleet?{window}&limit=1&cursor={cursor}"
        ))
        .await
        .json();
    assert_eq!(r["items"][0]["vehicle_id"], "v2");
    assert!(r["next_cursor"].is_null());

    // A window over 31 days reads the daily rollups: the same figures.
    let long_from = (chrono::Utc::now() - chrono::Duration::days(40)).to_rfc3339();
    let long = format!("from={long_from}&to={}", to.to_rfc3339()).replace('+', "%2B");
    let r = a.get(&format!("/v1/reports/fleet?{long}")).await.json();
    let daily = r["items"][0]["distance_m"].as_f64().unwrap();
    assert!((daily - metres).abs() < 1e-6, "{daily} vs {metres}");
    assert_eq!(r["items"][0]["trips"], 2);

    // CSV: every vehicle, the hostile plate quoted and defused.
    let r = a
        .send(
            "GET",
            &format!("/v1/reports/fleet?{window}&limit=1"),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.body);
    assert!(lines[0].starts_with("vehicle_id,plate,type,distance_m,trips"));
    assert!(
        lines[1].starts_with("\"v1\",\"PL-1\",\"truck\",12000.0,2,1200,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("\"v2\",\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""),
        "{}",
        lines[2]
    );

    // Dashboard: v1 moving now, v2 silent; a reservation's charges are this month's revenue
    // once the statistics are refreshed.
    let now = now_ms();
    publisher
        .publish(
            "fleet/v1/gps",
            serde_json::to_vec(&json!({"ts": now, "lat": 52.2, "lon": 13.0, "speed_kmh": 40}))
                .unwrap(),
        )
        .await;
    let p = plan(a, standard_plan()).await;
    let (alice, _) = customer(&api, "alice").await;
    let starts = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let ends = (chrono::Utc::now() + chrono::Duration::days(5)).to_rfc3339();
    let r = alice
        .post("/v1/rentals", reserve_body("v2", &p, &starts, &ends, 100))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut db = fleetd::config::DatabaseConfig::default();
    db.url = fleetd::config::Secret::new(api.db.url.clone());
    let pool = fleetd::db::pool(&db).unwrap();
    // Two at once: one refreshes, the other skips (the lock is taken).
    let (a1, a2) = tokio::join!(
        fleetd::api::reports::refresh_once(&pool),
        fleetd::api::reports::refresh_once(&pool)
    );
    let ran = [a1.unwrap(), a2.unwrap()];
    assert!(ran.contains(&true), "{ran:?}");
    tokio::time::sleep(Duration::from_millis(2_100)).await; // past the cache
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let d = loop {
        let d = a.get("/v1/reports/dashboard").await;
        assert_eq!(d.status, 200, "{}", d.body);
        let d = d.json();
        if d["vehicles"]["moving"] == 1 {
            break d;
        }
        assert!(std::time::Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(2_100)).await;
    };
    assert_eq!(d["vehicles"]["registered"], 2);
    assert_eq!(d["vehicles"]["active"], 1);
    assert_eq!(d["vehicles"]["parked"], 0);
    assert_eq!(d["vehicles"]["offline"], 1);
    assert_eq!(d["rentals_active"], 0);
    assert_eq!(d["cache_age_s"], 0.0);
    // Two days at the plan's 5000.
    assert_eq!(
        d["revenue"],
        json!([{"currency": "EUR", "amount": 10_000}]),
        "{d}"
    );
    assert!(d["distance_m"].as_f64().unwrap() >= 12_000.0 - 1.0);
    // Cached: the same figures, older.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = a.get("/v1/reports/dashboard").await.json();
    assert_eq!(again["generated_at"], d["generated_at"]);
    assert!(again["cache_age_s"].as_f64().unwrap() > 0.0);

    // Who may: staff only. Bad input.
    let (dee, _) = driver(&api, "dee").await;
    is(
        &dee.get("/v1/reports/dashboard").await,
        403,
        "forbidden",
        "",
    );
    is(
        &alice.get(&format!("/v1/reports/fleet?{window}")).await,
        403,
        "forbidden",
        "",
    );
    for path in [
        "/v1/reports/fleet?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "/v1/reports/fleet?from=2006-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "/v1/reports/fleet?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&limit=0",
        "/v1/reports/fleet?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&cursor=%%%",
    ] {
        let status = a.get(path).await.status;
        assert!(status == 400 || status == 422, "{path}: {status}");
    }
}
