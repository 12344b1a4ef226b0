//! The read replica (`database.replica_url`, docs/replica.md) against a primary and a
//! streaming replica of the test's own ([`crate::common::replica`]):
//! - [`reads`]: every route that prefers the replica is served by it (the caller's row-level
//!   security in force there), and while its replay is paused it answers its older state
//!   until the lag passes `replica_max_lag_ms`, then the primary answers;
//! - [`fallback`]: a replica that drops a read's connection, is killed or never started costs
//!   no request an error: the primary answers, `/readyz` stays ready, and the replica is read
//!   again once back;
//! - [`config`]: bad replica settings refused at start, naming the key, never the password.

mod config;
mod fallback;
mod reads;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::common::api::{vehicle, Client};
use crate::common::replica::ReplicaApi;

/// The window `[now - 1 h, now + 1 h)` as `from=..&to=..`.
pub(crate) fn window() -> String {
    let now = Utc::now();
    let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
    format!(
        "from={}&to={}",
        t(now - Duration::hours(1)),
        t(now + Duration::hours(1))
    )
}

/// Stores a GPS reading of `vehicle` `minutes_ago` minutes ago, on the primary.
pub(crate) async fn reading(db: &tokio_postgres::Client, vehicle: &str, minutes_ago: i32) {
    db.execute(
        "INSERT INTO gps_readings (vehicle_id, ts, position, speed_kmh, received_at)
         VALUES ($1, date_trunc('second', now()) - make_interval(mins => $2),
                 ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326), 12, now())",
        &[&vehicle, &minutes_ago],
    )
    .await
    .unwrap();
}

/// The number of points of `vehicle`'s track in [`window`] (asserting a 200).
pub(crate) async fn track_len(c: &Client, vehicle: &str) -> usize {
    let r = c
        .get(&format!("/v1/vehicles/{vehicle}/track?{}", window()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["items"].as_array().unwrap().len()
}

/// Registers `v1` with one reading 10 minutes ago, waits until the replica has it and the
/// daemon reads from the replica, and checks the track shows it. Returns the primary's client.
pub(crate) async fn v1_read_from_the_replica(api: &ReplicaApi) -> tokio_postgres::Client {
    vehicle(&api.admin, "v1", 1).await;
    let db = api.cluster.primary.client().await;
    reading(&db, "v1", 10).await;
    api.cluster.wait_replayed().await;
    api.wait_replica_in_use().await;
    assert_eq!(track_len(&api.admin, "v1").await, 1);
    db
}
