//! A daemon killed with -9 in the middle of a vehicle's visit neither repeats nor loses a
//! geofence transition (nor an alert on it), and the events reach a webhook receiver.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::DateTime;
use serde_json::{json, Value};

use super::stream::A;
use crate::common::api::{Client, ADMIN_PASSWORD, SECRET};
use crate::common::dispatch::seed_fleet;
use crate::common::pass::settled;
use crate::common::{config, count, wait_count, Broker, Publisher, TestDb};

/// One vehicle drives into a fence and stays; the only daemon is killed with -9 while the
/// visit is on (readings of it in flight), restarted, and the vehicle leaves: one
/// `geofence.entered`, one `geofence.dwell` and one `geofence.exited`, each delivered to a
/// webhook receiver, and nobody left inside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_visit_neither_repeats_nor_loses_a_transition() {
    use crate::common::receiver::{Mode, Receiver};
    use crate::common::{now_ms, ChildDaemon};

    let db = TestDb::create().await;
    let broker = Broker::start();
    let cfg = config(&db, &broker);
    let extra = [
        ("FLEETD_TRIPS_SETTLE_S", "0"),
        ("FLEETD_TRIPS_INTERVAL_MS", "100"),
        ("FLEETD_JWT_SECRET", SECRET),
        ("FLEETD_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("FLEETD_WEBHOOKS_ALLOW_PRIVATE", "true"),
        ("FLEETD_WEBHOOKS_RETRY_MIN_MS", "50"),
        ("FLEETD_WEBHOOKS_RETRY_MAX_MS", "200"),
    ];
    let child = ChildDaemon::start_with(&cfg, &extra).await;
    let client = db.client().await;
    seed_fleet(&client, "kv", 1, None).await;
    let admin = Client::anonymous(child.addr)
        .login("admin", ADMIN_PASSWORD)
        .await;
    let r = admin
        .post(
            "/v1/geofences",
            json!({"name": "yard", "center": {"lat": A.0, "lon": A.1}, "radius_m": 200,
                   "dwell_s": 2}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let fence = r.json()["id"].as_str().unwrap().to_string();
    // And an alert rule on its crossings, resolved at the next reading.
    let rule = json!({"name": "yard", "kind": "geofence", "params": {"on": "both"},
                      "scope": {"geofence_ids": [fence]}, "clear_s": 0});
    let r = admin.post("/v1/alert-rules", rule).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rx = Receiver::start(Mode::Ok).await;
    let r = admin
        .post(
            "/v1/webhooks",
            json!({"url": rx.url("/fences"), "events": ["geofence.*"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // 1 reading a second: 10 outside (1 km east), 30 inside, 10 outside again.
    let start = now_ms() - 120_000;
    let reading = |k: i64| {
        let east = if (10..40).contains(&k) { 0.0 } else { 1_000.0 };
        let (lat, lon) = fleetd::geofences::destination(A.0, A.1, 90.0, east);
        json!([{"ts": start + k * 1_000, "lat": lat, "lon": lon}])
    };
    let publisher = Publisher::connect(&broker).await;
    let mut sent = 0;
    for k in 0..20 {
        publisher
            .publish("fleet/kv-0/gps", serde_json::to_vec(&reading(k)).unwrap())
            .await;
        sent += 1;
    }
    publisher.wait_acked(sent).await;
    let entered = "SELECT count(*) FROM event_outbox WHERE type = 'geofence.entered'
                   UNION ALL SELECT count(*) FROM events WHERE type = 'geofence.entered'";
    crate::common::dispatch::eventually("entered", || async {
        let n: i64 = client
            .query(entered, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .sum();
        (n > 0).then_some(())
    })
    .await;
    // More of the visit, and the kill while it is being stored and evaluated.
    for k in 20..30 {
        publisher
            .publish("fleet/kv-0/gps", serde_json::to_vec(&reading(k)).unwrap())
            .await;
        sent += 1;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    child.kill9();
    // The rest while it is down: the broker keeps them for the daemon's session.
    for k in 30..50 {
        publisher
            .publish("fleet/kv-0/gps", serde_json::to_vec(&reading(k)).unwrap())
            .await;
        sent += 1;
    }
    publisher.wait_acked(sent).await;
    let _child = ChildDaemon::start_with(&cfg, &extra).await;
    wait_count(&client, "SELECT count(*) FROM gps_readings", 50).await;
    settled(&client).await;

    let types: Vec<String> = client
        .query(
            "SELECT type FROM events WHERE type LIKE 'geofence.%' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        types,
        ["geofence.entered", "geofence.dwell", "geofence.exited"]
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM geofence_members").await,
        0
    );
    // One alert per crossing, each resolved by the reading after it.
    let alerts: Vec<(String, i32, String)> = client
        .query(
            "SELECT details->>'crossing', count, status FROM alerts ORDER BY opened_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let resolved = |c: &str| (c.to_string(), 1, "resolved".to_string());
    assert_eq!(alerts, [resolved("entered"), resolved("exited")]);
    let delivered = crate::common::dispatch::eventually("three deliveries", || async {
        let hits = rx.accepted();
        let ids: BTreeSet<i64> = hits.iter().map(|h| h.event_id()).collect();
        (ids.len() >= 3).then_some(hits)
    })
    .await;
    let mut seen = BTreeMap::new();
    for h in delivered {
        let body = h.json();
        assert_eq!(body["aggregate_id"], fence.as_str());
        assert_eq!(body["payload"]["vehicle_id"], "kv-0");
        seen.insert(h.event_id(), body["type"].as_str().unwrap().to_string());
    }
    let kinds: Vec<&str> = seen.values().map(String::as_str).collect();
    assert_eq!(
        kinds,
        ["geofence.entered", "geofence.dwell", "geofence.exited"]
    );
    let ts = |k: i64| {
        DateTime::from_timestamp_millis(start + k * 1_000)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let payloads: Vec<Value> = client
        .query(
            "SELECT payload FROM events WHERE type LIKE 'geofence.%' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let at: Vec<(&str, &str)> = payloads
        .iter()
        .map(|p| (p["ts"].as_str().unwrap(), p["entered_at"].as_str().unwrap()))
        .collect();
    assert_eq!(
        at,
        [
            (ts(10).as_str(), ts(10).as_str()),
            (ts(12).as_str(), ts(10).as_str()),
            (ts(40).as_str(), ts(10).as_str())
        ]
    );
}
