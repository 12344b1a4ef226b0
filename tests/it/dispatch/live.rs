//! Live positions over HTTP against a real daemon, PostgreSQL and Mosquitto: readings are
//! published over MQTT, and `GET /v1/vehicles/{id}/position`, `/track` and
//! `GET /v1/dispatch/nearest` are asserted once they are committed.

use crate::common::api::{customer, Api};
use crate::common::dispatch::*;
use crate::common::*;
use chrono::{DateTime, SecondsFormat, Utc};
use fleetd::config::UnknownVehicles;
use serde_json::{json, Value};

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ms_of(v: &Value) -> i64 {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_is_the_newest_reading_and_track_pages_oldest_first() {
    // pos-2 is never registered: its readings are stored all the same.
    let api = Api::start_with(|c| c.ingest.unknown_vehicles = UnknownVehicles::Store).await;
    let a = &api.admin;
    let (_, driver_id) = seat(&api, "pat", "pos-1", 1, &TRUCK, "available").await;
    let (cust, _) = customer(&api, "cust").await;
    let publisher = Publisher::connect(&api.broker).await;
    let sql = api.db.client().await;
    // Whole seconds, two minutes ago: inside the acceptance window.
    let t = (now_ms() - 120_000) / 1000 * 1000;
    let batch: Vec<Value> = (0..5)
        .map(|i| {
            json!({"ts": t + i * 10_000, "lat": 10.0 + i as f64 * 0.01, "lon": 20.0,
                        "speed_kmh": 30.0 + i as f64, "heading_deg": 180.0})
        })
        .collect();
    publisher
        .publish("fleet/pos-1/gps", serde_json::to_vec(&batch).unwrap())
        .await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 5).await;

    let before = now_ms();
    let r = a.get("/v1/vehicles/pos-1/position").await;
    let after = now_ms();
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(p["vehicle_id"], "pos-1");
    assert!((p["lat"].as_f64().unwrap() - 10.04).abs() < 1e-9, "{p}");
    assert_eq!(p["lon"], 20.0);
    assert_eq!(ms_of(&p["ts"]), t + 40_000);
    assert_eq!(
        (p["speed_kmh"].clone(), p["heading_deg"].clone()),
        (json!(34.0), json!(180.0))
    );
    assert_eq!(p["driver_id"], driver_id.as_str());
    // age_s is the time since the reading, measured by the daemon's clock during the request.
    let age = p["age_s"].as_f64().unwrap();
    let (lo, hi) = (
        (before - t - 40_000) as f64 / 1e3,
        (after - t - 40_000) as f64 / 1e3,
    );
    assert!(
        age >= lo - 1.0 && age <= hi + 1.0,
        "age_s {age} not in [{lo}, {hi}]"
    );

    // An older reading arriving late is stored but does not move the vehicle back in time,
    // in the live index or over HTTP.
    publisher
        .publish(
            "fleet/pos-1/gps",
            json!({"ts": t + 35_000, "lat": 50.0, "lon": 50.0}).to_string(),
        )
        .await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 6).await;
    let p = a.get("/v1/vehicles/pos-1/position").await.json();
    assert_eq!(
        (ms_of(&p["ts"]), p["lon"].clone()),
        (t + 40_000, json!(20.0))
    );
    // A newer one does.
    publisher
        .publish(
            "fleet/pos-1/gps",
            json!({"ts": t + 50_000, "lat": 11.0, "lon": 21.0}).to_string(),
        )
        .await;
    publisher
        .publish(
            "fleet/pos-2/gps",
            json!({"ts": t + 1_000, "lat": 1.0, "lon": 1.0}).to_string(),
        )
        .await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 8).await;
    let p = a.get("/v1/vehicles/pos-1/position").await.json();
    assert_eq!(
        (ms_of(&p["ts"]), p["lat"].clone()),
        (t + 50_000, json!(11.0))
    );
    assert_eq!(p["speed_kmh"], Value::Null);

    // Unknown vehicles, ids that cannot exist, wrong role, no token.
    for path in [
        "/v1/vehicles/nobody/position",
        "/v1/vehicles/a%20b/position",
    ] {
        let r = a.get(path).await;
        assert_eq!((r.status, r.code().as_str()), (404, "not_found"), "{path}");
    }
    assert_eq!(cust.get("/v1/vehicles/pos-1/position").await.status, 403);
    assert_eq!(
        api.anonymous()
            .get("/v1/vehicles/pos-1/position")
            .await
            .status,
        401
    );

    // The track: every stored reading of the vehicle in [from, to), oldest first.
    let all_ts = [0, 10_000, 20_000, 30_000, 35_000, 40_000, 50_000].map(|d| t + d);
    let track = |from: i64, to: i64, extra: &str| {
        format!(
            "/v1/vehicles/pos-1/track?from={}&to={}{extra}",
            rfc3339(from),
            rfc3339(to)
        )
    };
    let r = a.get(&track(t - 1_000, t + 60_000, "")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got: Vec<i64> = items(&r).iter().map(|p| ms_of(&p["ts"])).collect();
    assert_eq!(got, all_ts);
    assert!(r.json()["next_cursor"].is_null());
    let first = &items(&r)[0];
    assert_eq!(
        (first["lat"].clone(), first["lon"].clone()),
        (json!(10.0), json!(20.0))
    );
    assert_eq!(first["speed_kmh"], 30.0);
    // from inclusive, to exclusive.
    let r = a.get(&track(t + 10_000, t + 30_000, "")).await;
    let got: Vec<i64> = items(&r).iter().map(|p| ms_of(&p["ts"])).collect();
    assert_eq!(got, [t + 10_000, t + 20_000]);
    // Pages of three follow the cursor without gaps or repeats.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..4 {
        let extra = match &cursor {
            Some(c) => format!("&limit=3&cursor={c}"),
            None => "&limit=3".into(),
        };
        let r = a.get(&track(t - 1_000, t + 60_000, &extra)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let page = items(&r);
        assert!(page.len() <= 3);
        paged.extend(page.iter().map(|p| ms_of(&p["ts"])));
        cursor = r.json()["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, all_ts);
    assert!(cursor.is_none());
    // A valid id without readings has an empty track; an impossible id is 404.
    let r = a
        .get(&format!(
            "/v1/vehicles/quiet/track?from={}&to={}",
            rfc3339(t),
            rfc3339(t + 1000)
        ))
        .await;
    assert_eq!((r.status, items(&r).len()), (200, 0), "{}", r.body);
    let r = a
        .get(&format!(
            "/v1/vehicles/a%20b/track?from={}&to={}",
            rfc3339(t),
            rfc3339(t + 1000)
        ))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // Exactly 31 days is the longest window; one second more is refused.
    let day = 86_400_000;
    assert_eq!(a.get(&track(t - 31 * day, t, "")).await.status, 200);
    for (path, why) in [
        (track(t, t, ""), "to == from"),
        (track(t, t - 1000, ""), "to < from"),
        (track(t - 31 * day - 1000, t, ""), "31 days and a second"),
        (track(t, t + 1000, "&limit=0"), "limit 0"),
        (
            track(t, t + 1000, "&limit=10001"),
            "limit above the maximum",
        ),
        (track(t, t + 1000, "&limit=-3"), "negative limit"),
        (track(t, t + 1000, "&limit=ten"), "limit not a number"),
        (track(t, t + 1000, "&cursor=%21%21"), "cursor not base64"),
        (track(t, t + 1000, "&cursor=azE6enp6"), "cursor not a time"),
        (track(t, t + 1000, "&colour=red"), "unknown parameter"),
        (
            format!("/v1/vehicles/pos-1/track?from={}", rfc3339(t)),
            "no to",
        ),
        (
            "/v1/vehicles/pos-1/track?from=yesterday&to=today".into(),
            "not times",
        ),
    ] {
        let r = a.get(&path).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (422, "invalid_value"),
            "{why}: {}",
            r.body
        );
    }
    assert_eq!(cust.get(&track(t, t + 1000, "")).await.status, 403);
    api.daemon.shutdown().await;
}

/// Vehicles around `BASE`: what nearest must offer, and what it must leave out.
const BASE: (f64, f64) = (52.52, 13.405);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_offers_only_fresh_available_drivers_nearest_first() {
    // A stale position is one older than staleness_s; fresh readings are stamped 5 s ago.
    let api = Api::start_with(|c| c.dispatch.staleness_s = 600).await;
    let a = &api.admin;
    let van = Kind {
        vehicle_type: "van",
        seats: 3,
        load_kg: 1_200,
    };
    let car = Kind {
        vehicle_type: "car",
        seats: 5,
        load_kg: 400,
    };
    // (vehicle, n, kind, duty, metres north, metres east)
    let fleet: [(&str, u32, &Kind, &str, f64, f64); 9] = [
        ("near-1", 1, &TRUCK, "available", 100.0, 0.0),
        ("near-2", 2, &van, "available", 0.0, 300.0),
        ("near-3", 3, &car, "available", -800.0, 0.0),
        ("far", 4, &TRUCK, "available", 20_000.0, 0.0),
        ("offduty", 5, &TRUCK, "off_duty", 50.0, 0.0),
        ("busy", 6, &TRUCK, "busy", 60.0, 0.0),
        ("maint", 7, &TRUCK, "available", 70.0, 0.0),
        ("stale", 8, &TRUCK, "available", 80.0, 0.0),
        ("dateline", 9, &TRUCK, "available", 0.0, 0.0),
    ];
    let mut drivers = std::collections::HashMap::new();
    for (v, n, kind, duty, _, _) in &fleet {
        let (_, id) = seat(&api, &format!("drv-{v}"), v, *n, kind, duty).await;
        drivers.insert(*v, id);
    }
    register_vehicle(&api, "nodriver", 10, &TRUCK).await;
    let r = a
        .post(
            "/v1/vehicles/maint/status",
            json!({"status": "under_maintenance"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let publisher = Publisher::connect(&api.broker).await;
    let fresh = now_ms() - 5_000;
    let mut at = std::collections::HashMap::new();
    for (v, _, _, _, north, east) in &fleet {
        let (lat, lon) = match *v {
            "dateline" => (0.0, 179.999),
            _ => offset(BASE.0, BASE.1, *north, *east),
        };
        let ts = if *v == "stale" {
            now_ms() - 3_600_000
        } else {
            fresh
        };
        publish_fix(&publisher, v, ts, lat, lon).await;
        at.insert(*v, (lat, lon));
    }
    let (lat, lon) = offset(BASE.0, BASE.1, 90.0, 0.0);
    publish_fix(&publisher, "nodriver", fresh, lat, lon).await;
    let sql = api.db.client().await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 10).await;

    let q = format!("lat={}&lon={}", BASE.0, BASE.1);
    wait_nearest(a, &q, &["near-1", "near-2", "near-3"]).await;
    let r = a.get(&format!("/v1/dispatch/nearest?{q}")).await;
    for item in items(&r) {
        let v = item["vehicle_id"].as_str().unwrap();
        let (lat, lon) = at[v];
        assert_eq!(
            (item["lat"].as_f64(), item["lon"].as_f64()),
            (Some(lat), Some(lon))
        );
        let want = haversine(BASE.0, BASE.1, lat, lon);
        let got = item["distance_m"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-6, "{v}: {got} vs haversine {want}");
        assert_eq!(item["driver_id"], drivers[v].as_str());
        assert!(item["age_s"].as_f64().unwrap() >= 5.0, "{item}");
        assert_eq!(ms_of(&item["ts"]), fresh);
    }
    let ids = |query: String| {
        let a = a.clone();
        async move { nearest_ids(&a, &query).await }
    };
    assert_eq!(ids(format!("{q}&k=1")).await, ["near-1"]);
    assert_eq!(ids(format!("{q}&radius_m=200")).await, ["near-1"]);
    assert_eq!(
        ids(format!("{q}&radius_m=30000")).await,
        ["near-1", "near-2", "near-3", "far"]
    );
    assert_eq!(ids(format!("{q}&type=van")).await, ["near-2"]);
    assert_eq!(ids(format!("{q}&min_seats=3")).await, ["near-2", "near-3"]);
    assert_eq!(ids(format!("{q}&min_seats=5&type=car")).await, ["near-3"]);
    assert_eq!(
        ids(format!("{q}&min_load_kg=1000")).await,
        ["near-1", "near-2"]
    );
    assert_eq!(ids(format!("{q}&type=bus")).await, Vec::<String>::new());
    let r = a
        .get(&format!("/v1/dispatch/nearest?{q}&radius_m=1000000"))
        .await;
    assert_eq!(r.json()["truncated"], false, "{}", r.body);
    // Across the antimeridian: 0.002° of longitude on the equator, about 222 m.
    let r = a
        .get("/v1/dispatch/nearest?lat=0&lon=-179.999&radius_m=1000")
        .await;
    let hit = &items(&r)[0];
    assert_eq!(hit["vehicle_id"], "dateline");
    let want = haversine(0.0, -179.999, 0.0, 179.999);
    assert!((hit["distance_m"].as_f64().unwrap() - want).abs() < 1e-6);
    assert!((want - 222.4).abs() < 1.0, "{want}");

    // Duty status and vehicle status reach the roster through notifications.
    set_duty(&api, &drivers["near-1"], "off_duty", None).await;
    set_duty(&api, &drivers["offduty"], "available", None).await;
    wait_nearest(a, &q, &["offduty", "near-2", "near-3"]).await;
    let r = a
        .post("/v1/vehicles/maint/status", json!({"status": "active"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    set_duty(&api, &drivers["busy"], "available", None).await;
    wait_nearest(a, &q, &["offduty", "busy", "maint", "near-2", "near-3"]).await;
    // A driver moving to another vehicle takes their availability along.
    set_duty(&api, &drivers["near-2"], "available", Some("nodriver")).await;
    wait_nearest(a, &q, &["offduty", "busy", "maint", "nodriver", "near-3"]).await;
    // The roster heals when its LISTEN connection drops: a change made meanwhile is seen
    // through the notification after reconnecting or the full reload that comes with it.
    let killed = count(
        &sql,
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE 'LISTEN fleetd_roster%') k",
    )
    .await;
    assert_eq!(killed, 1);
    set_duty(&api, &drivers["busy"], "off_duty", None).await;
    wait_nearest(a, &q, &["offduty", "maint", "nodriver", "near-3"]).await;

    // Out-of-range, non-finite, huge and mistyped parameters are 422 naming the parameter.
    for (query, field) in [
        ("lat=91&lon=0", "lat"),
        ("lat=-90.0001&lon=0", "lat"),
        ("lat=0&lon=180.5", "lon"),
        ("lat=0&lon=-181", "lon"),
        ("lat=NaN&lon=0", "lat"),
        ("lat=0&lon=inf", "lon"),
        ("lat=1e400&lon=0", "lat"),
        ("lat=0&lon=0&k=0", "k"),
        ("lat=0&lon=0&k=1001", "k"),
        ("lat=0&lon=0&k=-1", "query"),
        ("lat=0&lon=0&k=99999999999999999999999", "query"),
        ("lat=0&lon=0&k=ten", "query"),
        ("lat=0&lon=0&radius_m=0", "radius_m"),
        ("lat=0&lon=0&radius_m=-5", "radius_m"),
        ("lat=0&lon=0&radius_m=NaN", "radius_m"),
        ("lat=0&lon=0&radius_m=1e300", "radius_m"),
        ("lat=0&lon=0&radius_m=20015200", "radius_m"),
        // Above dispatch.max_radius_m (1,000 km by default), though on Earth.
        ("lat=0&lon=0&radius_m=1000000.5", "radius_m"),
        ("lat=0&lon=0&radius_m=20015000", "radius_m"),
        ("lat=0&lon=0&min_seats=-1", "min_seats"),
        ("lat=0&lon=0&min_load_kg=99999999", "min_load_kg"),
        ("lat=0&lon=0&min_seats=2.5", "query"),
        ("lat=north&lon=0", "query"),
        ("lon=0", "query"),
        ("lat=0&lon=0&colour=red", "query"),
    ] {
        let r = a.get(&format!("/v1/dispatch/nearest?{query}")).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (422, "invalid_value"),
            "{query}: {}",
            r.body
        );
        let message = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.starts_with(field), "{query}: {message}");
    }
    // Staff only.
    let (cust, _) = customer(&api, "cust").await;
    let (drv, _) = crate::common::api::driver(&api, "plain-driver").await;
    for c in [&cust, &drv] {
        let r = c.get(&format!("/v1/dispatch/nearest?{q}")).await;
        assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    }
    assert_eq!(
        api.anonymous()
            .get(&format!("/v1/dispatch/nearest?{q}"))
            .await
            .status,
        401
    );
    api.daemon.shutdown().await;
}

/// A reading stamped minutes ahead (accepted: within `ingest.max_future_s`) is stored as sent
/// but counts for the live position as of its arrival, so the readings after it move the
/// vehicle on instead of being ignored until the clock catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_from_the_future_does_not_pin_the_live_position() {
    let api = Api::start_with(|c| c.ingest.unknown_vehicles = UnknownVehicles::Store).await;
    let a = &api.admin;
    let publisher = Publisher::connect(&api.broker).await;
    let sql = api.db.client().await;
    let ahead = now_ms() + 240_000;
    publish_fix(&publisher, "skewed", ahead, 10.0, 20.0).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 1).await;
    let stored: i64 = count(
        &sql,
        "SELECT (extract(epoch FROM ts) * 1000)::bigint FROM gps_readings",
    )
    .await;
    assert_eq!(stored, ahead, "stored as sent");
    let p = a.get("/v1/vehicles/skewed/position").await.json();
    assert_eq!(p["lat"], 10.0);
    assert!(ms_of(&p["ts"]) <= now_ms(), "live: as of its arrival: {p}");
    // A reading stamped now (after the first arrived) is the position from now on.
    let now = now_ms();
    publish_fix(&publisher, "skewed", now, 11.0, 21.0).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 2).await;
    let p = eventually("the newer reading moves the vehicle", || async {
        let p = a.get("/v1/vehicles/skewed/position").await.json();
        (p["lat"] == 11.0).then_some(p)
    })
    .await;
    assert_eq!(ms_of(&p["ts"]), now);
    api.daemon.shutdown().await;
}
