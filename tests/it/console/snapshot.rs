//! `GET /v1/positions`: the live map's snapshot equals the newest stored reading of every
//! vehicle (a brute-force query over `gps_readings`), carries the registry, the driver and the
//! job, filters by box across the antimeridian, and is for staff only.

use crate::common::api::{customer, Api};
use crate::common::dispatch::*;
use crate::common::*;
use chrono::{DateTime, Utc};
use fleetd::config::UnknownVehicles;
use serde_json::{json, Value};

/// A stored reading: vehicle, time, lat, lon, speed.
type Newest = (String, DateTime<Utc>, f64, f64, Option<f32>);

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["vehicle_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_is_the_newest_reading_of_every_vehicle_with_its_registry_and_job() {
    let api = Api::start_with(|c| c.ingest.unknown_vehicles = UnknownVehicles::Store).await;
    let (driver, driver_id) = seat(&api, "dana", "map-1", 1, &TRUCK, "available").await;
    register_vehicle(&api, "map-2", 2, &TRUCK).await;
    let publisher = Publisher::connect(&api.broker).await;
    let sql = api.db.client().await;
    // Recent enough for dispatch (dispatch.staleness_s): the newest is about 15 s old.
    let t = (now_ms() - 50_000) / 1000 * 1000;
    // Out of order, several per vehicle; map-3 and "ghost.9" are not registered; one reading
    // sits just west of the antimeridian, one just east.
    let mut rng = 7u64;
    let mut next = || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) as f64 / (1u64 << 31) as f64
    };
    let vehicles = ["map-1", "map-2", "map-3", "ghost.9"];
    let mut sent = 0;
    for round in (0..6).rev() {
        for (n, v) in vehicles.iter().enumerate() {
            let lon = match n {
                2 => 179.9 - next() * 0.05,
                3 => -179.9 + next() * 0.05,
                _ => 13.0 + next(),
            };
            let body = json!({"ts": t + round * 7_000 + n as i64, "lat": 52.0 + next(), "lon": lon,
                              "speed_kmh": (next() * 90.0).round(), "heading_deg": 90.0});
            publisher
                .publish(&format!("fleet/{v}/gps"), body.to_string())
                .await;
            sent += 1;
        }
    }
    wait_count(&sql, "SELECT count(*) FROM gps_readings", sent).await;
    // The job: created where map-1 is, offered to its driver, accepted.
    let at = api.admin.get("/v1/vehicles/map-1/position").await.json();
    let job = create_job(
        &api.admin,
        at["lat"].as_f64().unwrap(),
        at["lon"].as_f64().unwrap(),
    )
    .await;
    wait_job(&api.admin, &job, "offered", |j| j["state"] == "offered").await;
    let r = driver
        .post(&format!("/v1/dispatch/jobs/{job}/accept"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = api.admin.get("/v1/positions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let snapshot = r.json();
    let items = snapshot["items"].as_array().unwrap().clone();
    // The reference: the newest stored reading per vehicle, straight from PostgreSQL.
    let rows = sql
        .query(
            "SELECT DISTINCT ON (vehicle_id) vehicle_id, ts, ST_Y(position), ST_X(position), speed_kmh
               FROM gps_readings ORDER BY vehicle_id, ts DESC",
            &[],
        )
        .await
        .unwrap();
    let mut want: Vec<Newest> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ids(&items),
        want.iter().map(|w| w.0.clone()).collect::<Vec<_>>()
    );
    for (item, (id, ts, lat, lon, speed)) in items.iter().zip(&want) {
        let got_ts = DateTime::parse_from_rfc3339(item["ts"].as_str().unwrap()).unwrap();
        assert_eq!(got_ts, *ts, "{id}");
        assert!((item["lat"].as_f64().unwrap() - lat).abs() < 1e-9, "{id}");
        assert!((item["lon"].as_f64().unwrap() - lon).abs() < 1e-9, "{id}");
        assert_eq!(item["speed_kmh"].as_f64().map(|s| s as f32), *speed, "{id}");
        assert!(item["age_s"].as_f64().unwrap() >= 0.0);
    }
    let by_id = |id: &str| {
        items
            .iter()
            .find(|i| i["vehicle_id"] == id)
            .unwrap()
            .clone()
    };
    let m1 = by_id("map-1");
    assert_eq!(m1["driver_id"], driver_id.as_str());
    assert_eq!(m1["type"], "truck");
    assert_eq!(m1["status"], "active");
    assert!(m1["plate"].is_string());
    assert_eq!(m1["job_id"], job.as_str());
    assert_eq!(m1["job_state"], "assigned");
    let m2 = by_id("map-2");
    assert_eq!(
        (m2["job_id"].clone(), m2["driver_id"].clone()),
        (Value::Null, Value::Null)
    );
    let ghost = by_id("ghost.9");
    for k in ["plate", "type", "status", "job_id"] {
        assert_eq!(ghost[k], Value::Null, "{k}");
    }

    // A box across the antimeridian holds map-3 and ghost.9 only; a plain box map-1 and map-2.
    let r = api.admin.get("/v1/positions?bbox=50,179,55,-179").await;
    assert_eq!(
        ids(r.json()["items"].as_array().unwrap()),
        ["ghost.9", "map-3"]
    );
    let r = api.admin.get("/v1/positions?bbox=50,12,55,15").await;
    assert_eq!(
        ids(r.json()["items"].as_array().unwrap()),
        ["map-1", "map-2"]
    );
    let r = api.admin.get("/v1/positions?bbox=0,0,1,1").await;
    assert_eq!(r.json()["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_staff_and_only_well_formed_boxes() {
    let api = Api::start().await;
    let (cust, _) = customer(&api, "cust").await;
    let (drv, _) = crate::common::api::driver(&api, "dave").await;
    assert_eq!(api.anonymous().get("/v1/positions").await.status, 401);
    assert_eq!(cust.get("/v1/positions").await.status, 403);
    assert_eq!(drv.get("/v1/positions").await.status, 403);
    let (dispatcher, _) = api.admin.user("disp", "dispatcher").await;
    let r = dispatcher.get("/v1/positions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["items"], json!([]));
    for bad in [
        "bbox=1,2,3",
        "bbox=1,2,3,4,5",
        "bbox=91,0,92,1",
        "bbox=10,0,5,1",
        "bbox=0,-181,1,1",
        "bbox=NaN,0,1,1",
        "bbox=1e1,0,20,1",
        "bbox=%00",
        "box=0,0,1,1",
    ] {
        let r = api.admin.get(&format!("/v1/positions?{bad}")).await;
        assert!(
            r.status == 422 || r.status == 400,
            "{bad}: {} {}",
            r.status,
            r.body
        );
        let code = r.code();
        assert!(!code.is_empty(), "{bad}");
    }
    let long = format!("/v1/positions?bbox={}", "1".repeat(10_000));
    let r = api.admin.get(&long).await;
    assert!(r.status >= 400 && r.status < 500, "{}", r.status);
}
