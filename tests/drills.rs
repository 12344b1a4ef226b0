//! Issue 3's reliability drills at small size: fleet-sim publishes at QoS 1 while fleetd is
//! killed with SIGKILL, PostgreSQL goes away, or the broker restarts; each drill ends with
//! `fleet-sim verify` finding nothing lost, duplicated, unexpected or wrongly stored among the
//! readings the broker accepted. `scripts/drills.sh` runs them at full size.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[derive(Clone, Copy, Debug)]
enum Drill {
    KillFleetd,
    PostgresDown,
    RestartBroker,
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
    let mut daemon = ChildDaemon::start(&cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.jsonl");

    let mut sim = Command::new(sim_bin())
        .args(["run", "--mqtt-url", &broker.url(), "--vehicles", "50"])
        .args(["--format", "json-batch", "--batch", "20", "--qos", "1"])
        .args(["--rate", "4000", "--readings", "16000", "--quiet"])
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
    }
    let status = tokio::task::spawn_blocking(move || sim.wait())
        .await
        .unwrap()
        .unwrap();
    // Losing its broker counts as an error for fleet-sim's exit status; what matters is that
    // verify finds every reading the broker accepted.
    if !matches!(kind, Drill::RestartBroker) {
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
