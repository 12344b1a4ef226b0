//! Migrations and day partitions against a real PostgreSQL.

use std::sync::Arc;

use crate::common::*;
use fleetd::config::{DatabaseConfig, Secret};
use fleetd::ingest::partitions::{day_of, Partitions};

const DAY_US: i64 = 86_400_000_000;

/// A pool on `db` (shared with the other storage tests of this module).
pub(super) fn pool(db: &TestDb) -> deadpool_postgres::Pool {
    fleetd::db::pool(&DatabaseConfig {
        url: Secret::new(db.url.clone()),
        pool_size: 4,
        ingest_pool_size: 4,
        connect_timeout_ms: 5_000,
        ..Default::default()
    })
    .unwrap()
}

async fn partitions_of(sql: &tokio_postgres::Client, table: &str) -> Vec<String> {
    sql.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1 ORDER BY 1",
        &[&table],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_once_and_edits_are_detected() {
    let db = TestDb::create().await;
    let (mut a, mut b) = (db.client().await, db.client().await);
    let (ra, rb) = tokio::join!(
        fleetd::migrate::migrate(&mut a),
        fleetd::migrate::migrate(&mut b)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let mut all = [ra, rb].concat();
    all.sort();
    let shipped: Vec<i32> = fleetd::migrate::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(all, shipped, "applied exactly once between the two");
    assert!(fleetd::migrate::migrate(&mut a).await.unwrap().is_empty());
    assert_eq!(
        count(&a, "SELECT count(*) FROM fleetd_migrations").await,
        shipped.len() as i64
    );
    // The tables of docs/storage.md exist with the contract's columns.
    let cols: Vec<String> = a
        .query(
            "SELECT column_name::text FROM information_schema.columns
              WHERE table_name = 'gps_readings' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        cols,
        [
            "vehicle_id",
            "ts",
            "position",
            "speed_kmh",
            "heading_deg",
            "alt_m",
            "accuracy_m",
            "received_at"
        ]
    );
    a.batch_execute("UPDATE fleetd_migrations SET checksum = 'edited'")
        .await
        .unwrap();
    let e = fleetd::migrate::migrate(&mut a).await.unwrap_err();
    assert!(
        e.to_string().contains("changed after it was applied"),
        "{e}"
    );
    a.batch_execute("INSERT INTO fleetd_migrations VALUES (999, 'future', 'x')")
        .await
        .unwrap();
    let e = fleetd::migrate::migrate(&mut a).await.unwrap_err();
    assert!(e.to_string().contains("newer"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_created_ahead_on_demand_and_dropped_past_retention() {
    let db = TestDb::create().await;
    let sql = db.client().await;
    let mut c = db.client().await;
    fleetd::migrate::migrate(&mut c).await.unwrap();
    let parts = Arc::new(Partitions::new(pool(&db), 30, 2, 3));
    let now = 20_000 * DAY_US + 3_600_000_000; // a fixed day, 01:00 UTC
    let today = day_of(now);

    let report = parts.run_pass(now).await.unwrap();
    assert_eq!(report.ensured, (today - 2..=today + 3).collect::<Vec<_>>());
    let gps = partitions_of(&sql, "gps_readings").await;
    assert_eq!(gps.len(), 6, "{gps:?}");
    assert_eq!(partitions_of(&sql, "obd_readings").await.len(), 6);

    // On demand: an old day a late reading needs.
    parts.ensure(&[today - 20]).await.unwrap();
    assert_eq!(partitions_of(&sql, "gps_readings").await.len(), 7);
    // Idempotent, also from a second manager (another daemon).
    let other = Partitions::new(pool(&db), 30, 2, 3);
    other.run_pass(now).await.unwrap();
    assert_eq!(partitions_of(&sql, "gps_readings").await.len(), 7);

    // Data in the old partition and a recent one; an operator's own partition elsewhere.
    let old_ts = (today - 20) * DAY_US / 1_000_000;
    let new_ts = today * DAY_US / 1_000_000;
    sql.batch_execute(&format!(
        "INSERT INTO gps_readings VALUES
           ('v', to_timestamp({old_ts}), ST_SetSRID(ST_MakePoint(1, 2), 4326), null, null, null, null, now()),
           ('v', to_timestamp({new_ts}), ST_SetSRID(ST_MakePoint(1, 2), 4326), null, null, null, null, now());
         CREATE TABLE gps_readings_archive PARTITION OF gps_readings
           FOR VALUES FROM ('1990-01-01') TO ('1990-01-02');
         INSERT INTO telemetry_rejects (received_at, topic, reason, payload) VALUES
           (to_timestamp({old_ts}), 't', 'r', ''), (to_timestamp({new_ts}), 't', 'r', '');"
    ))
    .await
    .unwrap();

    // Fifteen days later the old day is past the 30-day retention.
    let report = parts.run_pass(now + 15 * DAY_US).await.unwrap();
    assert!(report
        .dropped
        .iter()
        .any(|n| n.starts_with("gps_readings_p")));
    assert!(report
        .dropped
        .iter()
        .any(|n| n.starts_with("obd_readings_p")));
    assert_eq!(report.rejects_deleted, 1);
    let gps = partitions_of(&sql, "gps_readings").await;
    assert!(
        gps.contains(&"gps_readings_archive".to_string()),
        "operator's partition kept"
    );
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'v'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&sql, "SELECT count(*) FROM telemetry_rejects").await,
        1
    );
    // Days ahead of the new "today" now exist too.
    let later_today = day_of(now + 15 * DAY_US);
    let name = fleetd::ingest::partitions::partition_name("gps_readings", later_today + 3).unwrap();
    assert!(gps.contains(&name), "{name} missing from {gps:?}");
}
