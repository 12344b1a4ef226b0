//! A replica that fails costs no request an error: a read whose replica connection is cut is
//! run again on the primary; a killed replica is given up and the primary answers, `/readyz`
//! staying ready; restarted, it is read again.

use std::time::{Duration, Instant};

use super::{reading, track_len, v1_read_from_the_replica};
use crate::common::api::vehicle;
use crate::common::replica::ReplicaApi;
use crate::common::{http_get, metric};

/// `/readyz`'s status and its `checks.replica.state`.
async fn readyz(api: &ReplicaApi) -> (u16, String) {
    let (status, _, body) = http_get(api.daemon.addr, "/readyz", &[]).await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let state = body["checks"]["replica"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_killed_or_restarted_replica_never_fails_a_read() {
    let api = ReplicaApi::start(|c| c.trips.enabled = false).await;
    let a = &api.admin;
    let db = v1_read_from_the_replica(&api).await;
    assert_eq!(readyz(&api).await, (200, "standby".to_string()));

    // The network loses the pool's connection to the replica (not the monitor's): the next
    // read finds it lost and is run again on the primary.
    api.proxy.cut();
    let (primary0, retried0) = (
        api.reads("primary").await,
        metric(api.daemon.addr, "fleetd_replica_retried_total", "").await,
    );
    assert_eq!(track_len(a, "v1").await, 1);
    assert_eq!(api.reads("primary").await - primary0, 1.0);
    assert_eq!(
        metric(api.daemon.addr, "fleetd_replica_retried_total", "").await - retried0,
        1.0
    );
    // The next check finds the replica fine, and it is read again.
    api.wait_replica_in_use().await;
    let replica0 = api.reads("replica").await;
    assert_eq!(track_len(a, "v1").await, 1);
    assert_eq!(api.reads("replica").await - replica0, 1.0);
    // Lost between the read's BEGIN and its query: the query fails there and the whole read
    // is run again on the primary, once.
    api.proxy.cut_mid_read();
    let (primary0, retried0) = (
        api.reads("primary").await,
        metric(api.daemon.addr, "fleetd_replica_retried_total", "").await,
    );
    let r = a
        .get(&format!("/v1/vehicles/v1/summary?{}", super::window()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.reads("primary").await - primary0, 1.0);
    assert_eq!(
        metric(api.daemon.addr, "fleetd_replica_retried_total", "").await - retried0,
        1.0
    );
    api.wait_replica_in_use().await;

    // Killed: every read is answered, by the primary, from the first one on.
    api.cluster.replica.kill();
    let killed = Instant::now();
    let primary0 = api.reads("primary").await;
    for _ in 0..5 {
        assert_eq!(track_len(a, "v1").await, 1);
        let w = super::window();
        for path in [
            format!("/v1/vehicles/v1/trips?{w}"),
            format!("/v1/vehicles/v1/summary?{w}"),
            format!("/v1/reports/fleet?{w}"),
        ] {
            let r = a.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
    }
    assert_eq!(api.reads("primary").await - primary0, 20.0);
    api.wait_usable(false).await;
    eprintln!("killed replica given up after {:?}", killed.elapsed());
    assert_eq!(readyz(&api).await, (200, "unreachable".to_string()));
    let primary0 = api.reads("primary").await;
    reading(&db, "v1", 5).await;
    assert_eq!(track_len(a, "v1").await, 2);
    assert_eq!(api.reads("primary").await - primary0, 1.0);

    // Started again, it catches up and is read again.
    api.cluster.replica.start();
    let restarted = Instant::now();
    api.wait_replica_in_use().await;
    eprintln!(
        "restarted replica read again after {:?}",
        restarted.elapsed()
    );
    let replica0 = api.reads("replica").await;
    assert_eq!(track_len(a, "v1").await, 2);
    assert_eq!(api.reads("replica").await - replica0, 1.0);
    assert_eq!(readyz(&api).await, (200, "standby".to_string()));
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_never_answers_leaves_the_daemon_ready_and_reading_the_primary() {
    // Nothing listens on the replica's port: as a replica not yet started.
    let port = crate::common::free_port();
    let api = crate::common::api::Api::start_with(|c| {
        c.database.replica_url = fleetd::config::Secret::new(format!(
            "postgres://postgres:never-shown-pw@127.0.0.1:{port}/fleetd"
        ));
        c.database.connect_timeout_ms = 1_000;
    })
    .await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    let db = api.db.client().await;
    reading(&db, "v1", 10).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = http_get(api.daemon.addr, "/readyz", &[]).await.unwrap();
        assert_eq!(status, 200, "{body}");
        if body.contains("\"unreachable\"") {
            assert!(!body.contains("never-shown-pw"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(track_len(a, "v1").await, 1);
    let reads = "fleetd_replica_reads_total";
    let addr = api.daemon.addr;
    assert_eq!(metric(addr, reads, "served_by=\"replica\"").await, 0.0);
    assert_eq!(metric(addr, reads, "served_by=\"primary\"").await, 1.0);
    api.daemon.shutdown().await;
}
