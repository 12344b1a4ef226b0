//! The reliability drills at small size: fleet-sim publishes at QoS 1 while fleetd is killed
//! with SIGKILL, PostgreSQL goes away, or the broker restarts, alone or one after the other;
//! each drill ends with `fleet-sim verify` finding nothing lost, duplicated, unexpected or
//! wrongly stored among the readings the broker accepted. `scripts/drills.sh` runs them at
//! full size. Where the broker restarts, fleetd reconnects slowly on purpose, so trackers are
//! back first and publish before fleetd has re-subscribed (the window of issue 11).
//! `DRILL_SHARED=1` runs the fleet-sim drills with a shared subscription over 2 connections
//! instead: on Mosquitto 2.0 the broker-restart drills then lose readings (the cause).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use fleetd::config::SubscriptionMode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drill {
    KillFleetd,
    PostgresDown,
    RestartBroker,
    /// PostgreSQL away, then back, then a broker restart.
    PostgresThenBroker,
    /// kill -9 of fleetd, then the above.
    KillPostgresBroker,
}

impl Drill {
    fn restarts_broker(self) -> bool {
        matches!(
            self,
            Drill::RestartBroker | Drill::PostgresThenBroker | Drill::KillPostgresBroker
        )
    }
}

/// The fleet-sim binary next to fleetd's; built on demand when only this package was built.
fn sim_bin() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_fleetd")).with_file_name("fleet-sim");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "fleet-sim"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok && path.exists(), "cannot build fleet-sim");
    }
    path
}

async fn drill(kind: Drill) {
    let db = TestDb::create().await;
    let mut broker = Broker::start();
    let mut cfg = config(&db, &broker);
    cfg.mqtt.reconnect_max_ms = 300;
    if std::env::var("DRILL_SHARED").is_ok() {
        cfg.mqtt.subscription = SubscriptionMode::Shared;
        cfg.mqtt.connections = 2;
    }
    if kind.restarts_broker() {
        // fleet-sim reconnects within milliseconds; fleetd only after 1.5 s.
        cfg.mqtt.reconnect_min_ms = 1_500;
        cfg.mqtt.reconnect_max_ms = 1_500;
    }
    let mut daemon = ChildDaemon::start(&cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.jsonl");
    // The combined drills need the publisher running until after the broker restart.
    let readings = match kind {
        Drill::PostgresThenBroker | Drill::KillPostgresBroker => "32000",
        _ => "16000",
    };

    let mut sim = Command::new(sim_bin())
        .args(["run", "--mqtt-url", &broker.url(), "--vehicles", "50"])
        .args(["--format", "json-batch", "--batch", "20", "--qos", "1"])
        .args(["--rate", "4000", "--readings", readings, "--quiet"])
        .args([
            "--fault-duplicate",
            "2",
            "--fault-out-of-order",
            "2",
            "--fault-malformed",
            "1",
        ])
        .arg("--manifest")
        .arg(&manifest)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    match kind {
        Drill::KillFleetd => {
            daemon.kill9();
            daemon = ChildDaemon::start(&cfg).await;
        }
        Drill::PostgresDown => {
            db.take_offline().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            db.bring_online().await;
        }
        Drill::RestartBroker => broker.restart(),
        Drill::PostgresThenBroker | Drill::KillPostgresBroker => {
            if kind == Drill::KillPostgresBroker {
                daemon.kill9();
                daemon = ChildDaemon::start(&cfg).await;
            }
            db.take_offline().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            db.bring_online().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            broker.restart();
        }
    }
    let status = tokio::task::spawn_blocking(move || sim.wait())
        .await
        .unwrap()
        .unwrap();
    // Losing its broker counts as an error for fleet-sim's exit status; what matters is that
    // verify finds every reading the broker accepted.
    if !kind.restarts_broker() {
        assert!(status.success(), "fleet-sim failed: {status:?}");
    }

    // Wait until the expected number of readings is stored, then verify exactly.
    let header: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let expected =
        header["expected"]["gps"].as_i64().unwrap() + header["expected"]["obd"].as_i64().unwrap();
    assert!(expected > 10_000, "{header}");
    let sql = db.client().await;
    wait_count(
        &sql,
        "SELECT (SELECT count(*) FROM gps_readings) + (SELECT count(*) FROM obd_readings)",
        expected,
    )
    .await;
    let out = Command::new(sim_bin())
        .args(["verify", "--database-url", &db.url, "--json", "--manifest"])
        .arg(&manifest)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{kind:?}: verify failed: {report}");
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    for field in ["lost", "duplicated", "unexpected"] {
        assert_eq!(v[field]["gps"], 0, "{kind:?} {field}: {report}");
        assert_eq!(v[field]["obd"], 0, "{kind:?} {field}: {report}");
    }
    // The deliberately malformed payloads were rejected and recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&sql, "SELECT count(*) FROM telemetry_rejects").await == 0 {
        assert!(Instant::now() < deadline, "no rejects recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_kill_9_fleetd_while_publishing() {
    drill(Drill::KillFleetd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_postgres_unavailable_while_publishing() {
    drill(Drill::PostgresDown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_broker_restart_while_publishing() {
    drill(Drill::RestartBroker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_postgres_then_broker_restart_while_publishing() {
    drill(Drill::PostgresThenBroker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_kill_9_then_postgres_then_broker_restart_while_publishing() {
    drill(Drill::KillPostgresBroker).await;
}

/// Publishes `n` single GPS readings for vehicle `v` from `t0` (ms), one per message.
async fn publish_run(p: &Publisher, v: &str, t0: i64, n: i64) {
    for i in 0..n {
        let body = serde_json::json!({"ts": t0 + i, "lat": 48.1, "lon": 11.5});
        p.publish(&format!("fleet/{v}/gps"), body.to_string()).await;
    }
}

async fn readyz_json(addr: std::net::SocketAddr) -> (u16, serde_json::Value) {
    let (status, _, body) = http_get(addr, "/readyz", &[]).await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// Issue 11's window, deterministically: a database outage, then a graceful broker restart
/// after which a tracker reconnects and publishes everything while fleetd is still waiting to
/// reconnect. Returns the readings published, the readings stored and fleetd's `/readyz`.
async fn trackers_back_before_fleetd(
    mode: SubscriptionMode,
    connections: u16,
) -> (i64, i64, serde_json::Value) {
    let db = TestDb::create().await;
    let mut broker = Broker::start();
    let mut cfg = config(&db, &broker);
    cfg.mqtt.subscription = mode;
    cfg.mqtt.connections = connections;
    cfg.mqtt.reconnect_min_ms = 3_000;
    cfg.mqtt.reconnect_max_ms = 3_000;
    cfg.validate().unwrap();
    let daemon = InProcess::start(cfg).await;
    let sql = db.client().await;
    let t0 = now_ms() - 60_000;
    let gps = "SELECT count(*) FROM gps_readings";

    let p = Publisher::connect(&broker).await;
    publish_run(&p, "before", t0, 100).await;
    p.wait_acked(100).await;
    wait_count(&sql, gps, 100).await;
    // The database goes away: these are received and held unacknowledged.
    db.take_offline().await;
    publish_run(&p, "outage", t0, 100).await;
    p.wait_acked(200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.bring_online().await;
    drop(p);
    let sql = db.client().await; // the outage ended the test's own connection too

    broker.restart();
    let p = Publisher::connect(&broker).await;
    publish_run(&p, "after", t0, 300).await;
    p.wait_acked(300).await;
    let (status, _) = readyz_json(daemon.addr).await;
    assert_eq!(
        status, 503,
        "fleetd must still be disconnected while the tracker publishes, or the drill tests nothing"
    );

    // Wait until fleetd is back and its session check has an answer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let (status, body) = readyz_json(daemon.addr).await;
        let checked = body["mqtt_sessions"]
            .as_array()
            .is_some_and(|s| s.iter().all(|s| s["subscription"] != "checking"));
        if status == 200 && checked {
            break body;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Give whatever the broker still routes a moment, then count.
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&sql, gps).await < 500 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = count(&sql, gps).await;
    daemon.shutdown().await;
    (500, stored, ready)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_with_trackers_back_first_loses_nothing() {
    let (published, stored, ready) = trackers_back_before_fleetd(SubscriptionMode::Plain, 1).await;
    assert_eq!(stored, published, "{ready}");
    let s = &ready["mqtt_sessions"][0];
    assert_eq!(s["session_present"], true, "{ready}");
    assert_eq!(s["subscription"], "restored", "{ready}");
    assert_eq!(s["recreated_total"], 0, "{ready}");
}

/// A shared subscription on Mosquitto 2.0: the session comes back without it. fleetd says so
/// (metric and `/readyz`), and counts the messages since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_lost_by_the_broker_is_reported() {
    let (published, stored, ready) = trackers_back_before_fleetd(SubscriptionMode::Shared, 2).await;
    eprintln!("shared subscription across a broker restart: {stored} of {published} stored");
    let sessions = ready["mqtt_sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{ready}");
    for s in sessions {
        assert_eq!(s["session_present"], true, "{ready}");
        assert_eq!(s["subscription"], "recreated", "{ready}");
        assert_eq!(s["recreated_total"], 1, "{ready}");
        assert!(s["last_recreated_at"].is_string(), "{ready}");
        assert!(s["messages_since_recreated"].is_u64(), "{ready}");
    }
    // Everything published while no subscription existed is gone; what the sessions held
    // (the first 200) survived.
    assert!((200..published).contains(&stored), "{stored}: {ready}");
}

/// A broker that comes back without fleetd's session (crash before its save, persistence off):
/// fleetd subscribes again, and says that the session was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_broker_forgot_is_reported() {
    let db = TestDb::create().await;
    let mut broker = Broker::start();
    let mut cfg = config(&db, &broker);
    cfg.mqtt.reconnect_min_ms = 50;
    cfg.mqtt.reconnect_max_ms = 200;
    let daemon = InProcess::start(cfg).await;
    assert_eq!(
        metric(daemon.addr, "fleetd_mqtt_session_lost_total", "").await,
        0.0
    );
    broker.restart_empty();
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(daemon.addr, "fleetd_mqtt_session_lost_total", "").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the lost session was not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.wait_ready().await;
    let (_, ready) = readyz_json(daemon.addr).await;
    assert_eq!(
        ready["mqtt_sessions"][0]["session_present"], false,
        "{ready}"
    );
    assert_eq!(
        ready["mqtt_sessions"][0]["subscription"], "new_session",
        "{ready}"
    );
    // Subscribed again: a reading published now is stored.
    let p = Publisher::connect(&broker).await;
    publish_run(&p, "again", now_ms() - 1_000, 1).await;
    p.wait_acked(1).await;
    wait_count(&db.client().await, "SELECT count(*) FROM gps_readings", 1).await;
    daemon.shutdown().await;
}
