//! `http.request_timeout_ms` (a stuck request is 503 and leaves nothing behind, the event
//! stream is exempt), `http.internal_addr` (`/readyz` and `/metrics` off the public
//! listener) and `/readyz` asking PostgreSQL at most once a second.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::api::{raw, vehicle, Api};
use crate::common::dispatch::{publish_fix, Sse};
use crate::common::{count, metric, now_ms, Publisher};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_request_is_rolled_back_and_answered_503() {
    // Longer than a login's password hash takes in a debug build.
    let api = Api::start_with(|c| c.http.request_timeout_ms = 1_500).await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    // Another session holds the vehicle's row: the API's update waits on the lock.
    let mut holder = api.db.client().await;
    let lock = holder.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM vehicles WHERE id = 'v1' FOR UPDATE", &[])
        .await
        .unwrap();

    let started = Instant::now();
    let r = a.patch("/v1/vehicles/v1", json!({"plate": "NEW-1"})).await;
    assert_eq!(
        (r.status, r.code()),
        (503, "unavailable".into()),
        "{}",
        r.body
    );
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("request_timeout_ms"));
    assert!(started.elapsed() < Duration::from_secs(10));
    // A keyed request times out the same way, and its key is not spent.
    let path = "/v1/vehicles/v1/status";
    let body = json!({"status": "under_maintenance"});
    let r = a
        .send("POST", path, Some(&body), &[("Idempotency-Key", "k-1")])
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    // The statements it was waiting on were cancelled, not left queued behind the lock.
    let sql = api.db.client().await;
    let waiting = "SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&sql, waiting).await > 0 {
        assert!(
            Instant::now() < deadline,
            "a timed-out statement still waits on the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lock.rollback().await.unwrap();

    // Nothing was changed, and the retry with the same key runs for real.
    assert_eq!(a.get("/v1/vehicles/v1").await.json()["plate"], "PL-1");
    let r = a
        .send("POST", path, Some(&body), &[("Idempotency-Key", "k-1")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("idempotent-replayed"), Some("false"));
    assert_eq!(r.json()["status"], "under_maintenance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_outlives_the_request_timeout() {
    let api = Api::start_with(|c| {
        c.http.request_timeout_ms = 1_500;
        c.ingest.unknown_vehicles = fleetd::config::UnknownVehicles::Store;
    })
    .await;
    let mut sse = Sse::open(&api.admin, "/v1/stream?jobs=false&bbox=50,-1,52,1")
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.body));
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let publisher = Publisher::connect(&api.broker).await;
    publish_fix(&publisher, "late", now_ms() - 1_000, 51.0, 0.0).await;
    let e = sse.expect("positions").await;
    assert_eq!(e.json()["items"][0]["vehicle_id"], "late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_move_to_the_internal_address_and_readyz_queries_once_a_second() {
    let api = Api::start_with(|c| c.http.internal_addr = "127.0.0.1:0".into()).await;
    let public = api.daemon.addr;
    let internal = api.daemon.internal_addr.expect("an internal address");
    for path in ["/readyz", "/metrics"] {
        let r = raw(public, "GET", path, &[], Vec::new()).await;
        assert_eq!(r.status, 404, "{path} still public");
        let r = raw(internal, "GET", path, &[], Vec::new()).await;
        assert_eq!(r.status, 200, "{path} not internal: {}", r.body);
    }
    assert_eq!(
        raw(public, "GET", "/healthz", &[], Vec::new()).await.status,
        200
    );
    assert_eq!(
        raw(internal, "GET", "/healthz", &[], Vec::new())
            .await
            .status,
        200
    );
    // Nothing else is served there.
    let r = raw(internal, "GET", "/v1/vehicles", &[], Vec::new()).await;
    assert_eq!(r.status, 404);
    let doc = raw(public, "GET", "/openapi.json", &[], Vec::new())
        .await
        .json();
    assert!(doc["paths"]["/readyz"].is_null() && doc["paths"]["/metrics"].is_null());

    // 200 readiness calls, 20 at a time, within about a second: one or two queries.
    let before = metric(internal, "fleetd_readiness_checks_total", "").await;
    let started = Instant::now();
    for _ in 0..10 {
        let calls: Vec<_> = (0..20)
            .map(|_| tokio::spawn(raw(internal, "GET", "/readyz", &[], Vec::new())))
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap().status, 200);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let checks = metric(internal, "fleetd_readiness_checks_total", "").await - before;
    assert!(
        checks <= seconds.ceil() + 1.0,
        "{checks} checks for 200 calls in {seconds:.2} s"
    );
}
