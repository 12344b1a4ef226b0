//! The trip routes against a real daemon: what a vehicle drove, with its driver, fuel and
//! path; windows, pages, who may look, and bad input.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::api::{assign_now, customer, driver, vehicle, Api, Client};
use crate::common::errors::is;
use crate::common::{now_ms, Publisher};

/// Parked 10 min, 10 min north at 36 km/h (6 km), parked 10 min, 10 min on, parked 10 min;
/// one reading a second, ending a minute ago. OBD every 10 s: the fuel falls 0.01 points and
/// the odometer advances 0.1 km per reading while driving; a refuel of +20 points while
/// parked between the trips.
fn drive(start_ms: i64) -> (Vec<Value>, Vec<Value>) {
    let (mut gps, mut obd) = (Vec::new(), Vec::new());
    let (mut lat, mut fuel, mut odo) = (52.0, 60.0, 1_000.0);
    for t in 0..3_000i64 {
        let moving = (600..1_200).contains(&t) || (1_800..2_400).contains(&t);
        if moving {
            lat += 10.0 / 111_195.0;
        }
        let ts = start_ms + t * 1_000;
        let speed = if moving { 36.0 } else { 0.0 };
        gps.push(json!({"ts": ts, "lat": lat, "lon": 13.0, "speed_kmh": speed}));
        if t % 10 == 0 {
            if moving {
                fuel -= 0.01;
                odo += 0.1;
            }
            if t == 1_500 {
                fuel += 20.0;
            }
            obd.push(json!({"ts": ts, "rpm": if moving { 2000 } else { 0 }, "fuel_pct": fuel, "odometer_km": odo}));
        }
    }
    (gps, obd)
}

/// Publishes [`drive`] for vehicle `v1` (GPS in messages of 100, OBD of 50) and waits until
/// the broker acknowledged all of it.
pub(super) async fn publish_drive(api: &Api, start_ms: i64) -> Publisher {
    let (gps, obd) = drive(start_ms);
    let publisher = Publisher::connect(&api.broker).await;
    let mut sent = 0;
    for (topic, readings, per) in [("fleet/v1/gps", &gps, 100), ("fleet/v1/obd", &obd, 50)] {
        for chunk in readings.chunks(per) {
            publisher
                .publish(topic, serde_json::to_vec(chunk).unwrap())
                .await;
            sent += 1;
        }
    }
    publisher.wait_acked(sent).await;
    publisher
}

pub(super) async fn wait_trips(c: &Client, path: &str, want: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = c.get(path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        if body["items"].as_array().unwrap().len() >= want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no {want} items at {path}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vehicles_trips_and_stops_with_driver_fuel_and_path() {
    let api = Api::start_with(|c| {
        c.trips.settle_s = 0;
        c.trips.interval_ms = 100;
    })
    .await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    vehicle(a, "v2", 2).await;
    let (dee, d) = driver(&api, "dee").await;
    let (eve, _) = driver(&api, "eve").await;
    let (carl, _) = customer(&api, "carl").await;
    assign_now(a, &d, "v1", 8).await;
    let r = dee
        .patch(
            &format!("/v1/drivers/{d}"),
            json!({"current_vehicle_id": "v1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let start_ms = now_ms() - 3_060_000;
    let _publisher = publish_drive(&api, start_ms).await;

    let from = chrono::DateTime::from_timestamp_millis(start_ms - 60_000).unwrap();
    let to = chrono::Utc::now() + chrono::Duration::minutes(1);
    let window = format!("from={}&to={}", from.to_rfc3339(), to.to_rfc3339()).replace('+', "%2B");
    let body = wait_trips(a, &format!("/v1/vehicles/v1/trips?{window}"), 2).await;
    let trips = body["items"].as_array().unwrap();
    assert_eq!(trips.len(), 2, "{body}");
    let first = &trips[0];
    assert_eq!(first["vehicle_id"], "v1");
    assert_eq!(first["driver_id"], d.as_str(), "the shift's driver");
    let started =
        chrono::DateTime::parse_from_rfc3339(first["start"]["ts"].as_str().unwrap()).unwrap();
    assert_eq!(started.timestamp_millis(), start_ms + 600_000);
    assert_eq!(first["duration_s"], 600.0);
    let km = first["distance_m"].as_f64().unwrap();
    // 600 steps of 10 m, the first one taken before the start reading.
    assert!((km - 5_990.0).abs() < 0.5, "{km}");
    assert_eq!(first["max_speed_kmh"], 36.0);
    assert_eq!(first["readings"], 601);
    let fuel = first["fuel_used_pct"].as_f64().unwrap();
    // OBD readings at 600, 610, .., 1200 s: 59 falls of 0.01 after the first.
    assert!((fuel - 0.59).abs() < 0.005, "{fuel}");
    let odo = first["odometer_delta_km"].as_f64().unwrap();
    assert!((odo - 5.9).abs() < 0.01, "{odo}");
    assert!(first.get("path").is_none(), "lists carry no path");
    // The refuel between the trips counts against neither.
    let second_fuel = trips[1]["fuel_used_pct"].as_f64().unwrap();
    assert!((second_fuel - 0.59).abs() < 0.005, "{second_fuel}");

    // One trip, with its path: a straight line keeps its two ends.
    let id = first["id"].as_i64().unwrap();
    let r = a.get(&format!("/v1/trips/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let path = &r.json()["path"];
    assert_eq!(path["type"], "LineString");
    assert_eq!(path["coordinates"].as_array().unwrap().len(), 2, "{path}");

    // Stops: before the first trip and between the two (the last one is still open).
    let stops = wait_trips(a, &format!("/v1/vehicles/v1/stops?{window}"), 2).await;
    let stops = stops["items"].as_array().unwrap();
    assert_eq!(stops.len(), 2);
    assert_eq!(stops[1]["duration_s"], 600.0);
    assert_eq!(stops[1]["start_ts"], first["end"]["ts"]);

    // Pages of one.
    let r = a
        .get(&format!("/v1/vehicles/v1/trips?{window}&limit=1"))
        .await;
    let page = r.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let r = a
        .get(&format!(
            "/v1/vehicles/v1/trips?{window}&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(r.json()["items"][0]["id"], trips[1]["id"]);

    // Who may look: the driver of v1 yes; another driver, a customer no.
    assert_eq!(
        dee.get(&format!("/v1/vehicles/v1/trips?{window}"))
            .await
            .status,
        200
    );
    assert_eq!(dee.get(&format!("/v1/trips/{id}")).await.status, 200);
    is(
        &eve.get(&format!("/v1/vehicles/v1/trips?{window}")).await,
        403,
        "forbidden",
        "",
    );
    is(
        &eve.get(&format!("/v1/trips/{id}")).await,
        403,
        "forbidden",
        "",
    );
    is(
        &eve.get(&format!("/v1/vehicles/v1/stops?{window}")).await,
        403,
        "forbidden",
        "",
    );
    assert_eq!(carl.get(&format!("/v1/trips/{id}")).await.status, 403);
    // Nothing for v2.
    let r = a.get(&format!("/v1/vehicles/v2/trips?{window}")).await;
    assert_eq!(r.json()["items"], json!([]));
    // A vehicle never registered, or removed, has no history to show (404 as for the vehicle).
    assert_eq!(a.delete("/v1/vehicles/v2").await.status, 204);
    for v in ["v2", "nobody"] {
        for what in ["trips", "stops", "obd"] {
            let r = a.get(&format!("/v1/vehicles/{v}/{what}?{window}")).await;
            assert_eq!(
                (r.status, r.code()),
                (404, "not_found".into()),
                "{v} {what}"
            );
        }
        let r = a
            .get(&format!("/v1/vehicles/{v}/summary?{window}&bucket=day"))
            .await;
        assert_eq!(r.status, 404, "{v} summary: {}", r.body);
    }

    // Rollups: the hours of the drive add up to what was driven (steps into moving readings:
    // 1,200 steps of 10 m), fuel fell 1.2 points over the two drives (60 falls each, the
    // refuel excluded), and the odometer moved the vehicle's own.
    // The rollups follow the same passes as the trips: wait for every reading, OBD too.
    let deadline = Instant::now() + Duration::from_secs(60);
    let hours = loop {
        let r = a
            .get(&format!("/v1/vehicles/v1/summary?{window}&bucket=hour"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let h = r.json();
        let fuel = h["total"]["fuel_used_pct"].as_f64().unwrap_or(0.0);
        if h["total"]["readings"] == 3_000 && fuel > 1.19 {
            break h;
        }
        assert!(Instant::now() < deadline, "{h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(hours["bucket"], "hour");
    let total = &hours["total"];
    assert_eq!(total["readings"], 3_000);
    let metres = total["distance_m"].as_f64().unwrap();
    assert!((metres - 12_000.0).abs() < 1.0, "{metres}");
    assert_eq!(total["moving_s"], 1_200.0);
    assert_eq!(total["idle_s"], 2_999.0 - 1_200.0);
    let fuel = total["fuel_used_pct"].as_f64().unwrap();
    assert!((fuel - 1.2).abs() < 0.005, "{fuel}");
    let buckets = hours["items"].as_array().unwrap();
    assert!((1..=3).contains(&buckets.len()), "{hours}");
    let days = a
        .get(&format!("/v1/vehicles/v1/summary?{window}"))
        .await
        .json();
    assert_eq!(days["bucket"], "day");
    assert_eq!(days["total"]["readings"], 3_000);
    let day_metres = days["total"]["distance_m"].as_f64().unwrap();
    assert!(
        (day_metres - metres).abs() < 1e-6,
        "{day_metres} vs {metres}"
    );
    let r = a.get("/v1/vehicles/v1").await;
    assert_eq!(r.json()["odometer_km"], 1_012, "{}", r.body);

    // The latest OBD values ride along with the live position.
    let r = a.get("/v1/vehicles/v1/position").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let latest = &r.json()["obd"];
    let at = chrono::DateTime::parse_from_rfc3339(latest["ts"].as_str().unwrap()).unwrap();
    assert_eq!(at.timestamp_millis(), start_ms + 2_990_000, "{latest}");
    assert_eq!(latest["rpm"], 0.0);
    let km = latest["odometer_km"].as_f64().unwrap();
    assert!((km - 1_012.0).abs() < 1e-6, "{km}");
    assert!(latest["dtc"].is_null());

    // OBD readings, paged.
    let r = a
        .get(&format!("/v1/vehicles/v1/obd?{window}&limit=250"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 250);
    assert_eq!(page["items"][0]["fuel_pct"], 60.0);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let r = a
        .get(&format!(
            "/v1/vehicles/v1/obd?{window}&limit=250&cursor={cursor}"
        ))
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 50);
    is(
        &eve.get(&format!("/v1/vehicles/v1/obd?{window}")).await,
        403,
        "forbidden",
        "",
    );
    is(
        &eve.get(&format!("/v1/vehicles/v1/summary?{window}")).await,
        403,
        "forbidden",
        "",
    );

    // Bad input.
    let bad = [
        "/v1/vehicles/v1/trips?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".to_string(),
        "/v1/vehicles/v1/trips?from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z".to_string(),
        format!("/v1/vehicles/v1/trips?{window}&limit=0"),
        format!("/v1/vehicles/v1/trips?{window}&limit=1001"),
        format!("/v1/vehicles/v1/trips?{window}&cursor=nonsense"),
        format!("/v1/vehicles/v1/stops?{window}&cursor=nonsense"),
        "/v1/vehicles/v1/summary?from=2026-01-01T00:00:00Z&to=2026-02-02T00:00:00Z&bucket=hour"
            .to_string(),
        "/v1/vehicles/v1/summary?from=2016-01-01T00:00:00Z&to=2026-02-02T00:00:00Z".to_string(),
        "/v1/vehicles/v1/summary?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".to_string(),
        "/v1/vehicles/v1/obd?from=2026-01-01T00:00:00Z&to=2026-02-02T00:00:00Z".to_string(),
        format!("/v1/vehicles/v1/obd?{window}&limit=10001"),
        format!("/v1/vehicles/v1/obd?{window}&cursor=-"),
    ];
    for path in bad {
        assert_eq!(a.get(&path).await.status, 422, "{path}");
    }
    for path in [
        "/v1/vehicles/v1/trips",
        "/v1/vehicles/v1/trips?from=yesterday&to=today",
        "/v1/vehicles/v1/trips?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&extra=1",
        "/v1/vehicles/v1/summary?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&bucket=week",
        "/v1/vehicles/v1/obd?from=2026-01-01T00:00:00Z",
    ] {
        let status = a.get(path).await.status;
        assert!(status == 400 || status == 422, "{path}: {status}");
    }
    for path in [
        "/v1/trips/999999",
        "/v1/trips/abc",
        "/v1/trips/-1",
        "/v1/trips/99999999999999999999999",
    ] {
        is(&a.get(path).await, 404, "not_found", "");
    }
    let long = "x".repeat(65);
    is(
        &a.get(&format!("/v1/vehicles/{long}/trips?{window}")).await,
        404,
        "not_found",
        "",
    );
}
