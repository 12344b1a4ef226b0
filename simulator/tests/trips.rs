//! `fleet-sim verify --trips` end to end: a Mosquitto of its own, fleetd in-process (its
//! configuration from `FLEETD_*` variables, with `FLEETD_TRIPS_SETTLE_S=0` and
//! `FLEETD_TRIPS_INTERVAL_MS=100`), `fleet-sim run` publishing a few simulated hours of a
//! few vehicles in seconds (`--max-rate --readings`: stamped in the past, ending now), then,
//! once the segmenter has caught up, `verify` (readings) and `verify --trips` must pass; a
//! stop deleted from the table, a broken truth file and a database without the trips tables
//! must not. Needs PostgreSQL with PostGIS (`FLEETD_TEST_DATABASE_URL`, default the local
//! server, as tests/it/common does) and mosquitto.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fleetd::config::Config;
use serde_json::Value;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;

#[path = "support/mosquitto.rs"]
mod mosquitto;
use mosquitto::Mosquitto;

const VEHICLES: u64 = 5;
const SIMULATED_H: u64 = 4;
/// GPS at 1 Hz and OBD at 0.2 Hz per vehicle.
const READINGS: u64 = VEHICLES * SIMULATED_H * 3_600 * 6 / 5;

fn admin_url() -> String {
    std::env::var("FLEETD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// A database of its own, dropped (by name, from the admin URL) even when the test fails.
struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    async fn create() -> TestDb {
        let admin = admin_url();
        let name = format!("fleet_sim_trips_{:012x}", rand::random::<u64>() >> 16);
        connect(&admin)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (base, query) = admin
            .split_once('?')
            .map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
        let base = &base[..base.rfind('/').unwrap()];
        let url = match query {
            Some(q) => format!("{base}/{name}?{q}"),
            None => format!("{base}/{name}"),
        };
        TestDb { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own on a thread of its own: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    connect(&admin_url())
                        .await
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                })
        })
        .join();
    }
}

/// Runs fleet-sim to completion: exit code, stdout, stderr.
fn sim(args: &[&str]) -> (i32, String, String) {
    let out = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_fleet-sim"))
            .args(args)
            .output()
            .unwrap()
    });
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn verify_trips(truth: &Path, db: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "verify",
        "--trips",
        "--json",
        "--truth",
        truth.to_str().unwrap(),
        "--database-url",
        db,
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = sim(&args);
    let report = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code, report, err)
}

async fn count(db: &Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// Polls until `done`; the deadline only keeps a broken daemon from hanging the test.
async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_hours_give_the_trips_and_stops_the_vehicles_drove() {
    let broker = Mosquitto::start();
    let db = TestDb::create().await;
    let env = [
        ("FLEETD_DATABASE_URL", db.url.clone()),
        (
            "FLEETD_MQTT_URL",
            format!("mqtt://127.0.0.1:{}", broker.port),
        ),
        (
            "FLEETD_MQTT_CLIENT_ID",
            format!("trips{:x}", rand::random::<u32>()),
        ),
        ("FLEETD_HTTP_ADDR", "127.0.0.1:0".into()),
        ("FLEETD_REDIS_URL", String::new()),
        ("FLEETD_INGEST_BATCH_AGE_MS", "20".into()),
        ("FLEETD_INGEST_UNKNOWN_VEHICLES", "store".into()),
        ("FLEETD_TRIPS_SETTLE_S", "0".into()),
        ("FLEETD_TRIPS_INTERVAL_MS", "100".into()),
    ];
    let env = env.into_iter().map(|(k, v)| (k.to_string(), v));
    let (config, warnings) = Config::load(None, env).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let stop = CancellationToken::new();
    let daemon = fleetd::daemon::start(config, stop.clone()).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (manifest, truth) = (dir.path().join("run.jsonl"), dir.path().join("truth.jsonl"));
    let mqtt = format!("mqtt://127.0.0.1:{}", broker.port);
    let readings = READINGS.to_string();
    let vehicles = VEHICLES.to_string();
    let (code, out, err) = sim(&[
        "run",
        "--mqtt-url",
        &mqtt,
        "--vehicles",
        &vehicles,
        "--seed",
        "11",
        "--format",
        "json-batch",
        "--batch",
        "50",
        "--max-rate",
        "--readings",
        &readings,
        // Late readings: fleetd re-segments, and must still end up exact.
        "--fault-out-of-order",
        "1",
        "--fault-offline",
        "1",
        "--manifest",
        manifest.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
        "--quiet",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    let expected = run["expected"].as_i64().unwrap();
    assert_eq!(expected as u64, READINGS, "{run}");

    // Every reading stored, then every one segmented.
    let client = connect(&db.url).await;
    let stored = "SELECT (SELECT count(*) FROM gps_readings) + (SELECT count(*) FROM obd_readings)";
    wait_for("storing every reading", async || {
        count(&client, stored).await >= expected
    })
    .await;
    let pending =
        "SELECT (SELECT count(*) FROM segment_marks) + (SELECT count(*) FROM segment_state \
                   WHERE dirty_from IS NOT NULL OR obd_dirty_from IS NOT NULL)";
    wait_for("the segmenter catching up", async || {
        count(&client, pending).await == 0
    })
    .await;
    let (code, out, err) = sim(&[
        "verify",
        "--manifest",
        manifest.to_str().unwrap(),
        "--database-url",
        &db.url,
    ]);
    assert_eq!(code, 0, "readings: {out}{err}");

    let (code, report, err) = verify_trips(&truth, &db.url, &[]);
    eprint!("{err}");
    assert_eq!(code, 0, "{err}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["vehicles"], VEHICLES);
    assert_eq!(report["matched"], report["expected"], "{err}");
    assert!(report["expected"]["trips"].as_u64().unwrap() >= 8, "{err}");
    assert!(report["expected"]["stops"].as_u64().unwrap() >= 4, "{err}");
    assert!(
        report["long_dwells_required"].as_u64().unwrap() >= 4,
        "{err}"
    );
    assert_eq!(report["pending_segmentation"], 0);
    assert_eq!(report["off_distance"], 0, "{err}");
    for key in ["missing", "unexpected", "off_time"] {
        assert_eq!(
            report[key],
            serde_json::json!({"trips": 0, "stops": 0}),
            "{key}: {err}"
        );
    }

    // A stop that is settled (a later one exists) deleted: a mismatch that names it.
    let gone: (String, i64) = {
        let row = client
            .query_one(
                "DELETE FROM stops WHERE id = (
                     SELECT s.id FROM stops s WHERE EXISTS (SELECT 1 FROM stops l
                        WHERE l.vehicle_id = s.vehicle_id AND l.start_ts > s.start_ts)
                     ORDER BY s.start_ts LIMIT 1)
                 RETURNING vehicle_id, floor(extract(epoch FROM start_ts) * 1000)::bigint",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let (code, report, err) = verify_trips(&truth, &db.url, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["missing"],
        serde_json::json!({"trips": 0, "stops": 1}),
        "{err}"
    );
    assert!(
        err.contains(&format!("missing stop: {}", gone.0)),
        "{gone:?} {err}"
    );
    let (code, out, _) = sim(&[
        "verify",
        "--trips",
        "--truth",
        truth.to_str().unwrap(),
        "--database-url",
        &db.url,
    ]);
    assert_eq!(code, 1);
    assert!(out.ends_with("MISMATCH\n"), "{out}");

    // Input it cannot use: a clear error and exit code 2.
    let broken = dir.path().join("broken.jsonl");
    let text = std::fs::read_to_string(&truth).unwrap();
    let first_vehicle = text.lines().nth(1).unwrap();
    std::fs::write(
        &broken,
        format!(
            "{}\n{}\n",
            text.lines().next().unwrap(),
            &first_vehicle[..first_vehicle.len() / 2]
        ),
    )
    .unwrap();
    let (code, _, err) = verify_trips(&broken, &db.url, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("truth file") && err.contains("line 2"),
        "{err}"
    );
    let (code, _, err) = verify_trips(&manifest, &db.url, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("line 1") && err.contains("fleet-sim run --truth"),
        "{err}"
    );
    let empty = TestDb::create().await;
    let (code, _, err) = verify_trips(&truth, &empty.url, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no trips, stops"), "{err}");
    let (code, _, err) = sim(&["verify", "--trips", "--database-url", &db.url]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--truth"), "{err}");

    drop(client);
    stop.cancel();
    daemon.wait().await.unwrap();
}
