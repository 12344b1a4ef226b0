//! Writers that store the same readings at once (two nodes given one re-sent reading each, or
//! two writers of one node) never deadlock: the deduplicating merges insert in one order, and
//! the fast path's COPY gives up waiting for another transaction's rows at once and goes the
//! deduplicating way (`fleetd::ingest::sink`).

use std::sync::Arc;

use rand::seq::SliceRandom;
use tokio_postgres::error::SqlState;

use super::storage::pool;
use crate::common::*;
use fleetd::ingest::partitions::{day_of, Partitions};
use fleetd::ingest::sink::{FAST_PATH_LOCK_TIMEOUT, MERGE_GPS};

const STAGE: &str =
    "CREATE TEMP TABLE IF NOT EXISTS fleetd_stage_gps (LIKE gps_readings) ON COMMIT DELETE ROWS";

/// Stages readings `keys` (vehicle number, second) in the order given.
async fn stage(tx: &tokio_postgres::Transaction<'_>, keys: &[(u32, i64)]) {
    let vehicles: Vec<String> = keys.iter().map(|(v, _)| format!("v{v}")).collect();
    let secs: Vec<i64> = keys.iter().map(|(_, s)| *s).collect();
    tx.execute(
        "INSERT INTO fleetd_stage_gps (vehicle_id, ts, position, received_at)
         SELECT v, date_trunc('day', now()) + make_interval(secs => s), ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326), now()
           FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(v, s, n) ORDER BY n",
        &[&vehicles, &secs],
    )
    .await
    .unwrap();
}

/// Migrates the database and makes its day partitions from yesterday to tomorrow.
async fn days_around_today(db: &TestDb) {
    fleetd::migrate::migrate(&mut db.client().await)
        .await
        .unwrap();
    let today = day_of(chrono::Utc::now().timestamp_micros());
    Partitions::new(pool(db), 30, 2, 3)
        .ensure(&[today - 1, today, today + 1])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_merges_of_overlapping_readings_never_deadlock() {
    let db = TestDb::create().await;
    days_around_today(&db).await;
    // Four writers, each round merging the same 400 readings in its own random order: in
    // arrival order, two of them would hold rows the other waits for within a few rounds.
    let keys: Vec<(u32, i64)> = (0..40).flat_map(|v| (0..10).map(move |s| (v, s))).collect();
    let mut writers = Vec::new();
    let start = Arc::new(tokio::sync::Barrier::new(4));
    for _ in 0..4 {
        let (keys, url, start) = (keys.clone(), db.url.clone(), start.clone());
        writers.push(tokio::spawn(async move {
            let mut client = connect(&url).await;
            client.batch_execute(STAGE).await.unwrap();
            let mut failures = Vec::new();
            for round in 0..25i64 {
                let mut mine: Vec<(u32, i64)> =
                    keys.iter().map(|(v, s)| (*v, s + round * 10)).collect();
                mine.shuffle(&mut rand::thread_rng());
                let tx = client.transaction().await.unwrap();
                stage(&tx, &mine).await;
                // All four merge this round's readings at the same moment.
                start.wait().await;
                match tx.execute(MERGE_GPS, &[]).await {
                    Ok(_) => tx.commit().await.unwrap(),
                    Err(e) => failures.push(e.code().cloned()),
                }
            }
            failures
        }));
    }
    for w in writers {
        assert_eq!(w.await.unwrap(), Vec::<Option<SqlState>>::new());
    }
    let sql = db.client().await;
    assert_eq!(
        count(&sql, "SELECT count(*) FROM gps_readings").await,
        400 * 25
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_path_gives_up_on_rows_another_transaction_holds() {
    let db = TestDb::create().await;
    let (mut a, mut b) = (db.client().await, db.client().await);
    let insert = "INSERT INTO gps_readings (vehicle_id, ts, position, received_at)
                  VALUES ('v1', now(), ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326), now())";
    days_around_today(&db).await;
    // The same reading, uncommitted in a's transaction (now() is the transaction's start).
    let ta = a.transaction().await.unwrap();
    let at: chrono::DateTime<chrono::Utc> = ta.query_one("SELECT now()", &[]).await.unwrap().get(0);
    ta.execute(insert, &[]).await.unwrap();
    let tb = b.transaction().await.unwrap();
    tb.batch_execute(FAST_PATH_LOCK_TIMEOUT).await.unwrap();
    let e = tb
        .execute(
            "INSERT INTO gps_readings (vehicle_id, ts, position, received_at)
             VALUES ('v1', $1, ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326), now())",
            &[&at],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::LOCK_NOT_AVAILABLE), "{e}");
    drop(tb);
    ta.commit().await.unwrap();
}
