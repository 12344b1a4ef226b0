//! The metrics added for the dashboard: `fleetd_dispatch_nearest_seconds` times each answered
//! `GET /v1/dispatch/nearest`; `fleetd_alerts_open` and `fleetd_alerts_acknowledged` count the
//! database's unresolved alerts by kind, the same on every daemon sharing it, whichever
//! daemon raised, acknowledged or resolved them.

use std::net::SocketAddr;

use chrono::Utc;
use fleetd::alerts::{store, Subject};
use serde_json::json;

use crate::alerts::{create_rule, load, offline_rule};
use crate::common::api::{Api, SECRET};
use crate::common::dispatch::eventually;
use crate::common::{config, metric, InProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_nearest_queries_are_timed() {
    let api = Api::start().await;
    let addr = api.daemon.addr;
    let count = || metric(addr, "fleetd_dispatch_nearest_seconds_count", "");
    assert_eq!(count().await, 0.0);
    for _ in 0..3 {
        let r = api
            .admin
            .get("/v1/dispatch/nearest?lat=52.5&lon=13.4")
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Refused before the index is asked: not a query.
    let r = api.admin.get("/v1/dispatch/nearest?lat=95&lon=13.4").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(count().await, 3.0);
    let sum = metric(addr, "fleetd_dispatch_nearest_seconds_sum", "").await;
    assert!(sum > 0.0 && sum < 3.0, "{sum}");
    assert_eq!(
        metric(
            addr,
            "fleetd_dispatch_nearest_seconds_bucket",
            "le=\"+Inf\""
        )
        .await,
        3.0
    );
    api.daemon.shutdown().await;
}

/// Waits until daemon `addr` reports `open` and `acknowledged` offline alerts.
async fn reports(addr: SocketAddr, open: f64, acknowledged: f64) {
    eventually(
        &format!("{addr}: {open} open and {acknowledged} acknowledged"),
        || async {
            let o = metric(addr, "fleetd_alerts_open", "kind=\"offline\"").await;
            let a = metric(addr, "fleetd_alerts_acknowledged", "kind=\"offline\"").await;
            (o == open && a == acknowledged).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alert_gauges_agree_across_daemons_sharing_a_database() {
    let api = Api::start().await;
    let mut second = config(&api.db, &api.broker);
    second.jwt.secret = fleetd::config::Secret::new(SECRET);
    let second = InProcess::start(second).await;
    let (a, b) = (api.daemon.addr, second.addr);
    for addr in [a, b] {
        reports(addr, 0.0, 0.0).await;
        assert_eq!(metric(addr, "fleetd_alerts_open", "").await, 0.0);
    }
    let rule = create_rule(&api.admin, offline_rule(0)).await;
    let rule = load(&api.db.client().await, rule["id"].as_str().unwrap()).await;
    let db = api.db.client().await;
    let mut ids = Vec::new();
    for v in ["mon-a", "mon-b", "mon-c"] {
        let details = json!({});
        let raised = store::raise(&db, &rule, &Subject::vehicle(v), Utc::now(), &details)
            .await
            .unwrap();
        ids.push(raised.id());
    }
    for addr in [a, b] {
        reports(addr, 3.0, 0.0).await;
    }
    // By hand, through the second daemon's API.
    let on_b = api.admin.with_addr(b);
    for (id, what) in [(ids[0], "acknowledge"), (ids[1], "resolve")] {
        let r = on_b
            .send("POST", &format!("/v1/alerts/{id}/{what}"), None, &[])
            .await;
        assert_eq!(r.status, 200, "{what}: {}", r.body);
    }
    for addr in [a, b] {
        reports(addr, 1.0, 1.0).await;
        assert_eq!(
            metric(addr, "fleetd_alerts_open", "kind=\"speeding\"").await,
            0.0
        );
    }
    second.shutdown().await;
    api.daemon.shutdown().await;
}
