//! docs/delivery.md's guarantee under failure: nothing acknowledged before it is durable,
//! nothing lost when the daemon dies or PostgreSQL goes away, nothing stored twice.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;

/// Publishes `n` two-reading messages for vehicle `v`; returns the number of readings.
async fn publish_n(p: &Publisher, v: &str, n: i64, t0: i64) -> i64 {
    for i in 0..n {
        let body = json!([
            {"ts": t0 + 2 * i, "lat": 48.1, "lon": 11.5},
            {"ts": t0 + 2 * i + 1, "lat": 48.1, "lon": 11.5}
        ]);
        p.publish(&format!("fleet/{v}/gps"), body.to_string()).await;
    }
    2 * n
}

async fn wait_metric(addr: std::net::SocketAddr, name: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = metric(addr, name, "").await;
        if got >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed at {got}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_before_commit_loses_nothing_and_redelivery_is_stored_once() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let mut cfg = config(&db, &broker);
    // Hold everything in memory: nothing can be committed before the kill.
    cfg.ingest.batch_age_ms = 60_000;
    cfg.ingest.batch_rows = 1_000_000;
    let first = ChildDaemon::start(&cfg).await;
    let publisher = Publisher::connect(&broker).await;
    let t0 = now_ms() - 10_000;
    let readings = publish_n(&publisher, "k9", 40, t0).await;
    publisher.wait_acked(40).await;
    wait_metric(first.addr, "fleetd_messages_received_total", 40.0).await;
    let sql = db.client().await;
    assert_eq!(count(&sql, "SELECT count(*) FROM gps_readings").await, 0);
    first.kill9();

    // Same client ids: the persistent sessions resume and the broker redelivers.
    cfg.ingest.batch_age_ms = 20;
    cfg.ingest.batch_rows = 10_000;
    let second = ChildDaemon::start(&cfg).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", readings).await;
    // And the redelivered messages get acknowledged: a third daemon receives nothing more.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(second.addr, "fleetd_in_flight_messages", "").await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "redelivered messages never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
    let third = ChildDaemon::start(&cfg).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        metric(third.addr, "fleetd_messages_received_total", "").await,
        0.0
    );
    assert_eq!(
        count(&sql, "SELECT count(*) FROM gps_readings").await,
        readings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_withholds_acks_reports_not_ready_and_recovers_by_itself() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let daemon = InProcess::start(config(&db, &broker)).await;
    let publisher = Publisher::connect(&broker).await;
    let t0 = now_ms() - 10_000;

    db.take_offline().await;
    let readings = publish_n(&publisher, "pgdown", 30, t0).await;
    publisher.wait_acked(30).await;
    // Not ready while the database is unreachable; messages held, not acknowledged.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = http_get(daemon.addr, "/readyz", &[]).await.unwrap();
        if status == 503 {
            assert!(body.contains("postgresql"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never reported the database down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_metric(daemon.addr, "fleetd_messages_received_total", 30.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        metric(daemon.addr, "fleetd_in_flight_messages", "").await,
        30.0,
        "nothing may be acknowledged while PostgreSQL is down"
    );
    assert!(metric(daemon.addr, "fleetd_db_errors_total", "backoff").await > 0.0);

    db.bring_online().await;
    let sql = db.client().await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", readings).await;
    daemon.wait_ready().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(daemon.addr, "fleetd_in_flight_messages", "").await > 0.0 {
        assert!(Instant::now() < deadline, "acks not sent after recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_then_kill_9_loses_nothing() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let cfg = config(&db, &broker);
    let first = ChildDaemon::start(&cfg).await;
    let publisher = Publisher::connect(&broker).await;
    db.take_offline().await;
    let readings = publish_n(&publisher, "pgk9", 25, now_ms() - 10_000).await;
    publisher.wait_acked(25).await;
    wait_metric(first.addr, "fleetd_messages_received_total", 25.0).await;
    first.kill9();
    db.bring_online().await;
    let _second = ChildDaemon::start(&cfg).await;
    let sql = db.client().await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", readings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_and_acknowledges_in_flight_messages_then_exits_0() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let mut cfg = config(&db, &broker);
    cfg.mqtt.connections = 1;
    // Long enough that the messages are still batched when SIGTERM arrives.
    cfg.ingest.batch_age_ms = 20_000;
    // At info: its connections, subscriptions and shutdown are in the test's output, for
    // the rare run where the restarted daemon is redelivered what this one acknowledged.
    let mut first = ChildDaemon::start_with(&cfg, &[("RUST_LOG", "info")]).await;
    let publisher = Publisher::connect(&broker).await;
    let readings = publish_n(&publisher, "term", 20, now_ms() - 10_000).await;
    publisher.wait_acked(20).await;
    wait_metric(first.addr, "fleetd_messages_received_total", 20.0).await;

    let started = Instant::now();
    signal(first.child.id(), "TERM");
    let status = loop {
        if let Some(s) = first.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no exit within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    let sql = db.client().await;
    assert_eq!(
        count(&sql, "SELECT count(*) FROM gps_readings").await,
        readings
    );

    // Everything was acknowledged: a restarted daemon gets no redelivery.
    cfg.ingest.batch_age_ms = 20;
    let second = ChildDaemon::start_with(&cfg, &[("RUST_LOG", "info")]).await;
    publisher
        .publish(
            "fleet/marker/gps",
            json!({"ts": now_ms(), "lat": 0, "lon": 0}).to_string(),
        )
        .await;
    wait_count(
        &sql,
        "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'marker'",
        1,
    )
    .await;
    assert_eq!(
        metric(second.addr, "fleetd_messages_received_total", "").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_loses_nothing() {
    let db = TestDb::create().await;
    let mut broker = Broker::start();
    let mut cfg = config(&db, &broker);
    cfg.mqtt.reconnect_max_ms = 200;
    let sql = db.client().await;
    let t0 = now_ms() - 10_000;

    // Live: the broker restarts under a running daemon.
    let daemon = InProcess::start(cfg.clone()).await;
    let publisher = Publisher::connect(&broker).await;
    let mut expected = publish_n(&publisher, "br1", 20, t0).await;
    publisher.wait_acked(20).await;
    broker.restart();
    daemon.wait_ready().await;
    let publisher = Publisher::connect(&broker).await;
    expected += publish_n(&publisher, "br2", 20, t0).await;
    publisher.wait_acked(20).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", expected).await;
    daemon.shutdown().await;

    // Offline: messages queued for the daemon's persistent sessions survive a broker restart.
    expected += publish_n(&publisher, "br3", 30, t0).await;
    publisher.wait_acked(50).await;
    broker.restart();
    let daemon = InProcess::start(cfg).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", expected).await;
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_by_the_in_flight_budget_while_postgres_is_down() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let mut cfg = config(&db, &broker);
    cfg.ingest.max_in_flight_bytes = cfg.mqtt.max_packet_bytes; // the smallest allowed: 1 MiB
    let budget = cfg.ingest.max_in_flight_bytes as f64;
    let daemon = InProcess::start(cfg).await;
    let publisher = Publisher::connect(&broker).await;
    db.take_offline().await;

    // 8 MiB of readings: 160 messages of 1,000 readings (~52 KiB each).
    let t0 = now_ms() - 60_000;
    for m in 0..160i64 {
        let batch: Vec<_> = (0..1000)
            .map(|i| json!({"ts": t0 + m * 1000 + i, "lat": 1.0, "lon": 1.0}))
            .collect();
        publisher
            .publish("fleet/flood/gps", serde_json::to_vec(&batch).unwrap())
            .await;
    }
    publisher.wait_acked(160).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = metric(daemon.addr, "fleetd_in_flight_bytes", "").await;
    let taken = metric(daemon.addr, "fleetd_messages_received_total", "").await;
    assert!(held <= budget, "holding {held} bytes, budget {budget}");
    assert!(
        taken < 40.0,
        "took {taken} of 160 messages while the database is down"
    );

    db.bring_online().await;
    let sql = db.client().await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 160_000).await;
    daemon.shutdown().await;
}
