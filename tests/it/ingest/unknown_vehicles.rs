//! `ingest.unknown_vehicles = "reject"` (the default): readings of a vehicle id nobody
//! registered are recorded as `unknown_vehicle` rejects and never shown; registering the
//! vehicle lets the next ones in, and deleting it shuts them out again.

use serde_json::json;

use crate::common::api::{vehicle, Api};
use crate::common::dispatch::publish_fix;
use crate::common::{count, now_ms, wait_count, Publisher};

const STORED: &str = "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'ghost'";
const REJECTED: &str =
    "SELECT count(*) FROM telemetry_rejects WHERE reason LIKE 'unknown_vehicle:%' AND topic = 'fleet/ghost/gps'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_of_unregistered_vehicles_are_rejects_until_the_vehicle_is_registered() {
    let api = Api::start().await;
    let a = &api.admin;
    let sql = api.db.client().await;
    let publisher = Publisher::connect(&api.broker).await;
    vehicle(a, "known", 1).await;
    let t = (now_ms() - 60_000) / 1000 * 1000;

    // One message of each in a batch: the known vehicle's is stored, the ghost's rejected,
    // whole (a batch of two readings is one reject row), with its payload kept.
    publish_fix(&publisher, "ghost", t, 10.0, 20.0).await;
    let batch = json!([{"ts": t + 1000, "lat": 10.0, "lon": 20.0}, {"ts": t + 2000, "lat": 10.0, "lon": 20.0}]);
    publisher
        .publish("fleet/ghost/gps", batch.to_string())
        .await;
    publish_fix(&publisher, "known", t, 10.0, 20.0).await;
    wait_count(
        &sql,
        "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'known'",
        1,
    )
    .await;
    wait_count(&sql, REJECTED, 2).await;
    assert_eq!(count(&sql, STORED).await, 0);
    let payload: Vec<u8> = sql
        .query_one(
            "SELECT payload FROM telemetry_rejects WHERE topic = 'fleet/ghost/gps' ORDER BY received_at DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(payload, batch.to_string().into_bytes());
    // Never shown: no live position, nothing in nearest's index.
    assert_eq!(a.get("/v1/vehicles/ghost/position").await.status, 404);
    assert!(api.daemon.live.position("ghost").is_none());
    let metrics = crate::common::metric(
        api.daemon.addr,
        "fleetd_readings_rejected_total",
        "reason=\"unknown_vehicle\"",
    )
    .await;
    assert_eq!(metrics, 2.0);

    // Registered: its next readings are stored and shown (the writers ask PostgreSQL about
    // an id their cache does not know, in the batch's own transaction).
    vehicle(a, "ghost", 2).await;
    publish_fix(&publisher, "ghost", t + 3000, 11.0, 21.0).await;
    wait_count(&sql, STORED, 1).await;
    let p = a.get("/v1/vehicles/ghost/position").await;
    assert_eq!((p.status, p.json()["lat"].clone()), (200, json!(11.0)));

    // Deleted: rejected again once the deletion's notification has reached the writers, and
    // from the first rejection on, every reading.
    assert_eq!(a.delete("/v1/vehicles/ghost").await.status, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut ts = t + 4000;
    while outcome(&sql, &publisher, ts).await == Outcome::Stored {
        assert!(
            std::time::Instant::now() < deadline,
            "the deletion never took effect"
        );
        ts += 1000;
    }
    for i in 1..=3 {
        assert_eq!(
            outcome(&sql, &publisher, ts + i * 1000).await,
            Outcome::Rejected
        );
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Stored,
    Rejected,
}

/// Publishes one ghost reading at `ts` and waits until it was stored or rejected.
async fn outcome(sql: &tokio_postgres::Client, publisher: &Publisher, ts: i64) -> Outcome {
    let (stored, rejected) = (count(sql, STORED).await, count(sql, REJECTED).await);
    publish_fix(publisher, "ghost", ts, 12.0, 22.0).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if count(sql, STORED).await > stored {
            return Outcome::Stored;
        }
        if count(sql, REJECTED).await > rejected {
            return Outcome::Rejected;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reading at {ts} never resolved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_store_unregistered_vehicles_are_stored() {
    let api =
        Api::start_with(|c| c.ingest.unknown_vehicles = fleetd::config::UnknownVehicles::Store)
            .await;
    let sql = api.db.client().await;
    let publisher = Publisher::connect(&api.broker).await;
    publish_fix(&publisher, "ghost", now_ms() - 1000, 10.0, 20.0).await;
    wait_count(&sql, STORED, 1).await;
    assert_eq!(
        count(&sql, "SELECT count(*) FROM telemetry_rejects").await,
        0
    );
}
