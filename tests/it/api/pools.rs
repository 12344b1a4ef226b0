//! The API cannot starve ingestion: with every connection of the API's pool held by requests
//! waiting on a lock, readings still reach PostgreSQL through ingestion's own pool.

use crate::common::api::Api;
use crate::common::dispatch::publish_fix;
use crate::common::{count, now_ms, wait_count, Publisher};
use fleetd::config::UnknownVehicles;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_are_stored_while_the_api_pool_is_exhausted() {
    let api = Api::start_with(|c| {
        c.database.pool_size = 2;
        c.ingest.unknown_vehicles = UnknownVehicles::Store;
    })
    .await;
    let admin_id = api.admin.get("/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sql = api.db.client().await;
    // An uncommitted claim of key "held": two identical requests with that key wait on it
    // (up to 10 s), each holding one of the API's two connections.
    let mut holder = api.db.client().await;
    let tx = holder.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO idempotency_keys (user_id, key, request_hash)
         VALUES ($1::text::uuid, 'held', '\\x00')",
        &[&admin_id],
    )
    .await
    .unwrap();
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let admin = api.admin.clone();
            tokio::spawn(async move {
                let body = crate::common::api::vehicle_body("held", 1);
                admin.post_key("/v1/vehicles", body, "held").await
            })
        })
        .collect();
    let locked = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    wait_count(&sql, locked, 2).await;

    // The API's pool is empty; the writers' is not.
    let publisher = Publisher::connect(&api.broker).await;
    let ts = now_ms() - 1_000;
    for i in 0..10 {
        publish_fix(
            &publisher,
            &format!("v-{i}"),
            ts,
            52.0,
            13.0 + f64::from(i) * 0.01,
        )
        .await;
    }
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 10).await;
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "the API's connections were held throughout"
    );
    assert_eq!(count(&sql, locked).await, 2);
    let ingest: i64 = count(
        &sql,
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'fleetd-ingest'",
    )
    .await;
    assert!((1..=3).contains(&ingest), "{ingest} ingestion connections");

    tx.rollback().await.unwrap();
    for w in waiting {
        let r = w.await.unwrap();
        assert!(matches!(r.status, 201 | 409), "{} {}", r.status, r.body);
    }
    assert_eq!(api.admin.get("/v1/me").await.status, 200);
    api.daemon.shutdown().await;
}
