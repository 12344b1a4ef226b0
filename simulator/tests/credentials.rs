//! Trackers with their own broker accounts, end to end: a Mosquitto that refuses anonymous
//! clients (dynamic-security plugin), fleetd in-process administering it, `fleet-sim
//! provision` issuing every vehicle's account through the API, and `fleet-sim run
//! --credentials` connecting each vehicle as its tracker, until PostgreSQL holds every
//! reading. Needs PostgreSQL with PostGIS (`FLEETD_TEST_DATABASE_URL`, default the local
//! server) and mosquitto with mosquitto_ctrl.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fleet_sim::provision::http;
use fleetd::config::{Config, Secret};
use serde_json::json;
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

#[path = "support/mosquitto.rs"]
mod mosquitto;
use mosquitto::{free_port, Mosquitto};

const ADMIN: (&str, &str) = ("fleetd-admin", "broker-admin-pw");
const API_PASSWORD: &str = "api-admin-password";

fn find(paths: &[&str]) -> PathBuf {
    paths
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("none of {paths:?} exists (scripts/services.sh installs mosquitto)")
        })
}

/// A Mosquitto refusing anonymous clients, its accounts in the dynamic-security plugin.
fn secured_broker() -> Mosquitto {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.path().join("dynamic-security.json");
    let ok = Command::new("mosquitto_ctrl")
        .args(["dynsec", "init"])
        .arg(&file)
        .args([ADMIN.0, ADMIN.1])
        .stdout(Stdio::null())
        .status()
        .expect("mosquitto_ctrl")
        .success();
    assert!(ok, "mosquitto_ctrl dynsec init failed");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let plugin = find(&[
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/mosquitto_dynamic_security.so",
    ]);
    let port = free_port();
    let conf = format!(
        "listener {port} 127.0.0.1\nallow_anonymous false\nplugin {}\n\
         plugin_opt_config_file {}\npersistence false\nmax_queued_messages 0\n",
        plugin.display(),
        file.display()
    );
    Mosquitto::start_conf(dir, port, &conf)
}

/// A database of its own, dropped at the end (by name, from the server's admin URL).
async fn database() -> (String, String) {
    let admin = std::env::var("FLEETD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("fleet_sim_cred_{:012x}", rand::random::<u64>() >> 16);
    let (c, conn) = tokio_postgres::connect(&admin, NoTls).await.unwrap();
    tokio::spawn(conn);
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    (name.clone(), format!("{base}/{name}"))
}

async fn drop_database(name: &str) {
    let admin = std::env::var("FLEETD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if let Ok((c, conn)) = tokio_postgres::connect(&admin, NoTls).await {
        tokio::spawn(conn);
        let _ = c
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// Runs fleet-sim to completion (the in-process daemon keeps the runtime's other workers).
fn sim(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_fleet-sim"))
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    });
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn vin(n: u32) -> String {
    let mut vin = format!("1M8GDM90{n:09}");
    let digit = fleetd::api::vehicles::vin::check_digit(&vin).unwrap();
    vin.replace_range(8..9, &digit.to_string());
    vin
}

async fn register(api: &str, token: &str, id: &str, n: u32) {
    let body = json!({"id": id, "plate": format!("S-{n}"), "vin": vin(n), "make": "Sim",
                      "model": "One", "year": 2024, "type": "van", "seats": 2, "load_kg": 800});
    let a = http::request(api, "POST", "/v1/vehicles", Some(token), Some(&body))
        .await
        .unwrap();
    assert_eq!(a.status, 201, "{}", a.text);
}

async fn count(url: &str) -> i64 {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    c.query_one("SELECT count(*) FROM gps_readings", &[])
        .await
        .unwrap()
        .get(0)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_trackers_publish_through_a_secured_broker() {
    let broker = secured_broker();
    let (db_name, db_url) = database().await;
    let mut c = Config::default();
    c.database.url = Secret::new(db_url.clone());
    c.mqtt.url = format!("mqtt://127.0.0.1:{}", broker.port);
    c.mqtt.client_id = "simd".into();
    c.mqtt.username = "fleetd".into();
    c.mqtt.password = Secret::new("daemon-pw");
    c.mqtt.topic_prefix = "sim".into();
    c.broker.admin_username = ADMIN.0.into();
    c.broker.admin_password = Secret::new(ADMIN.1);
    c.http.addr = "127.0.0.1:0".into();
    c.redis.url = String::new();
    c.ingest.batch_age_ms = 20;
    c.jwt.secret = Secret::new("sim-secret-sim-secret-sim-secret-123");
    c.admin.password = Secret::new(API_PASSWORD);
    c.validate().unwrap();
    let admin = fleetd::broker::Admin::start(&c)
        .unwrap()
        .expect("broker.admin_username is set");
    fleetd::broker::setup(&admin, &c).await.unwrap();
    let stop = CancellationToken::new();
    let daemon = fleetd::daemon::start(c, stop.clone()).await.unwrap();
    let api = daemon.http_addr.to_string();
    let url = format!("http://{api}");

    let login = http::request(
        &api,
        "POST",
        "/v1/auth/token",
        None,
        Some(&json!({"username": "admin", "password": API_PASSWORD})),
    )
    .await
    .unwrap();
    let token = login.body["access_token"].as_str().unwrap().to_string();
    for n in 0..5 {
        register(&api, &token, &format!("veh-{:06}", n + 1), n + 1).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trackers.jsonl");
    let file_s = file.to_str().unwrap();
    let env = [("FLEET_SIM_API_PASSWORD", API_PASSWORD)];
    // Three first, then the rest: vehicles already in the file are kept, not re-issued.
    let (code, out, err) = sim(
        &[
            "provision",
            "--api-url",
            &url,
            "--vehicles",
            "3",
            "--out",
            file_s,
            "--json",
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["issued"],
        3
    );
    let (code, out, err) = sim(
        &[
            "provision",
            "--api-url",
            &url,
            "--vehicles",
            "5",
            "--out",
            file_s,
            "--json",
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["issued"].as_u64(), report["kept"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(lines(&file), 5);

    let mqtt = format!("mqtt://127.0.0.1:{}", broker.port);
    let run = |vehicles: &str, extra: &[&str]| {
        let mut a = vec![
            "run",
            "--mqtt-url",
            &mqtt,
            "--prefix",
            "sim",
            "--vehicles",
            vehicles,
            "--obd-hz",
            "0",
            "--readings",
            "50",
            "--max-rate",
            "--quiet",
            "--json",
            "--connections",
            "2",
        ];
        a.extend_from_slice(extra);
        sim(&a, &[])
    };
    // Anonymous: refused at the door.
    let (code, _, err) = run("5", &[]);
    assert_eq!(code, 2, "{err}");
    // Each vehicle as its own tracker: one connection per vehicle, every reading stored.
    let (code, out, err) = run("5", &["--credentials", file_s]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["connections"], 5, "{report}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&db_url).await < 50 {
        assert!(
            Instant::now() < deadline,
            "readings not stored: {}",
            count(&db_url).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&db_url).await, 50);

    // A file that lacks a vehicle names it.
    let (code, _, err) = run("6", &["--credentials", file_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("veh-000006"), "{err}");

    stop.cancel();
    let _ = daemon.wait().await;
    drop_database(&db_name).await;
}
