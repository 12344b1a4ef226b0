//! The events background work emits, against the served schemas: the time rules (a shift
//! that ended, a rental never collected), the segmenter (trips and stops written, revised
//! by late OBD, and dropped by a re-decision; geofences entered, dwelt in and left) and the
//! alert timer (a licence alert opened, acknowledged through the API, and resolved once the
//! licence is renewed).

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use serde_json::json;

use super::{bodies, served, validate_all};
use crate::common::api::{
    assign_now, customer, driver, plan, reserve_body, standard_plan, vehicle, Api,
};
use crate::common::dispatch::eventually;
use crate::common::{count, now_ms, Publisher};

/// What the time rules emit.
pub const TIME_RULES: &[&str] = &["assignment.completed", "rental.no_show"];
/// What the segmenter emits.
pub const SEGMENTER: &[&str] = &[
    "trip.completed",
    "trip.discarded",
    "stop.completed",
    "stop.discarded",
    "geofence.entered",
    "geofence.exited",
    "geofence.dwell",
];

/// What the alert timer and the alert routes emit.
pub const ALERTS: &[&str] = &["alert.opened", "alert.acknowledged", "alert.resolved"];

fn set(types: &[&str]) -> BTreeSet<String> {
    types.iter().map(|t| t.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_rules_emit_what_their_schemas_say() {
    let now = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let (api, hand) = Api::start_at(now).await;
    let a = &api.admin;
    vehicle(a, "tr-1", 1).await;
    vehicle(a, "tr-2", 2).await;
    let (_, d) = driver(&api, "tess").await;
    assign_now(a, &d, "tr-1", 1).await;
    let p = plan(a, standard_plan()).await;
    let (_, c) = customer(&api, "nadia").await;
    let mut body = reserve_body(
        "tr-2",
        &p,
        &(now + Duration::hours(1)).to_rfc3339(),
        &(now + Duration::hours(25)).to_rfc3339(),
        10,
    );
    body["customer_id"] = json!(c);
    let r = a.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "{}", r.body);

    hand.advance(Duration::hours(26));
    let pass = api.daemon.time_rules.pass().await.unwrap();
    assert_eq!(
        (pass.shifts_ended.len(), pass.no_shows.len()),
        (1, 1),
        "{pass:?}"
    );

    let db = api.db.client().await;
    let seen = validate_all(&served(&api).await, &bodies(&db).await);
    let setup = [
        "vehicle.registered",
        "assignment.created",
        "rental.reserved",
    ];
    let want = &set(TIME_RULES) | &set(&setup);
    assert_eq!(seen, want);
    api.daemon.shutdown().await;
}

/// Parked 10 min, 10 min north at 36 km/h, parked 10 min: one reading every 10 s, ending a
/// minute ago.
fn drive(start_ms: i64) -> Vec<serde_json::Value> {
    (0..180i64)
        .map(|i| {
            let moving = (60..120).contains(&i);
            let north = (i.clamp(60, 120) - 60) as f64 * 100.0;
            let speed = if moving { 36.0 } else { 0.0 };
            json!({"ts": start_ms + i * 10_000, "lat": 52.0 + north / 111_195.0, "lon": 13.0,
                   "speed_kmh": speed})
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_segmenter_emits_what_its_schemas_say() {
    let api = Api::start_with(|c| {
        c.trips.settle_s = 0;
        c.trips.interval_ms = 100;
    })
    .await;
    vehicle(&api.admin, "tp-1", 1).await;
    // Around the start, where the vehicle stays 10 minutes then leaves, and the end.
    let end_lat = 52.0 + 6_000.0 / 111_195.0;
    for (lat, name) in [(52.0, "start"), (end_lat, "end")] {
        let body = json!({"name": name, "center": {"lat": lat, "lon": 13.0}, "radius_m": 300,
                          "dwell_s": 60});
        let r = api.admin.post("/v1/geofences", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let db = api.db.client().await;
    let start_ms = now_ms() - 1_860_000;
    let publisher = Publisher::connect(&api.broker).await;
    let gps = drive(start_ms);
    for chunk in gps.chunks(60) {
        let body = serde_json::to_vec(chunk).unwrap();
        publisher.publish("fleet/tp-1/gps", body).await;
    }
    let written = "SELECT count(DISTINCT type) FROM event_outbox
                    WHERE type IN ('trip.completed', 'stop.completed')";
    let numbered = "SELECT count(DISTINCT type) FROM events
                     WHERE type IN ('trip.completed', 'stop.completed')";
    eventually("a trip and a stop", || async {
        (count(&db, written).await + count(&db, numbered).await >= 2).then_some(())
    })
    .await;
    let fences = "SELECT count(DISTINCT type)
                    FROM (SELECT type FROM event_outbox UNION ALL SELECT type FROM events) e
                   WHERE type LIKE 'geofence.%'";
    eventually("entered, dwell and exited", || async {
        (count(&db, fences).await >= 3).then_some(())
    })
    .await;

    // Late OBD over the trip: its fuel figures change, a revised `trip.completed`.
    let obd: Vec<_> = (60..120i64)
        .map(|i| {
            json!({"ts": start_ms + i * 10_000, "rpm": 2000,
                        "fuel_pct": 60.0 - i as f64 * 0.01, "odometer_km": 1000.0 + i as f64 * 0.1})
        })
        .collect();
    publisher
        .publish("fleet/tp-1/obd", serde_json::to_vec(&obd).unwrap())
        .await;
    publisher.wait_acked(4).await;
    let revised = "SELECT count(*) FROM events
                    WHERE type = 'trip.completed' AND (payload->>'revised')::boolean";
    eventually("a revised trip", || async {
        let _: Vec<i64> = super::super::numbered(&db, "trip.").await;
        (count(&db, revised).await > 0).then_some(())
    })
    .await;

    // A re-decision from before the first segment drops them all, each with its event.
    let mut c = api.db.client().await;
    let tx = c.transaction().await.unwrap();
    let epoch = chrono::DateTime::from_timestamp(0, 0).unwrap();
    fleetd::trips::segments::drop_from(&tx, "tp-1", epoch, &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let seen = validate_all(&served(&api).await, &bodies(&db).await);
    let want = &set(SEGMENTER) | &set(&["vehicle.registered"]);
    assert_eq!(seen, want);
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_emit_what_their_schemas_say() {
    let now = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let (api, hand) = Api::start_at(now).await;
    let a = &api.admin;
    let (_, user) = a.user("lena", "driver").await;
    let expiry = (now + Duration::days(3)).date_naive().to_string();
    let r = a
        .post(
            "/v1/drivers",
            json!({"user_id": user, "name": "Lena", "licence_number": "L-lena",
                   "licence_expiry": expiry}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .post(
            "/v1/alert-rules",
            json!({"name": "licences", "kind": "licence_expiring",
                   "params": {"within_days": 14}, "clear_s": 0}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    api.daemon.alerts.pass().await.unwrap();
    let alerts = a.get("/v1/alerts?status=open").await.json();
    let alert = alerts["items"][0]["id"].as_str().unwrap().to_string();
    let r = a
        .post(&format!("/v1/alerts/{alert}/acknowledge"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a
        .patch(
            &format!("/v1/drivers/{d}"),
            json!({"licence_expiry": "2099-01-01"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    hand.advance(Duration::minutes(5));
    api.daemon.alerts.pass().await.unwrap();

    let db = api.db.client().await;
    let seen = validate_all(&served(&api).await, &bodies(&db).await);
    assert_eq!(seen, set(ALERTS));
    api.daemon.shutdown().await;
}
