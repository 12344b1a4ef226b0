//! The HTTP basics and start-up configuration errors, through the real binary.

use std::process::Command;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_request_ids_and_error_envelope() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let daemon = InProcess::start(config(&db, &broker)).await;

    let (status, headers, body) = http_get(daemon.addr, "/healthz", &[]).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("ok"));
    assert!(headers
        .iter()
        .any(|(k, v)| k == "x-request-id" && v.len() == 32));

    let (status, headers, body) =
        http_get(daemon.addr, "/readyz", &[("x-request-id", "trace-123")])
            .await
            .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains(&("x-request-id".into(), "trace-123".into())));

    // A hostile request id is replaced, not echoed.
    let evil = "a".repeat(500);
    let (_, headers, _) = http_get(daemon.addr, "/healthz", &[("x-request-id", &evil)])
        .await
        .unwrap();
    let id = &headers.iter().find(|(k, _)| k == "x-request-id").unwrap().1;
    assert_ne!(id, &evil);

    let (status, headers, body) = http_get(daemon.addr, "/nope", &[]).await.unwrap();
    assert_eq!(status, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    let id = &headers.iter().find(|(k, _)| k == "x-request-id").unwrap().1;
    assert_eq!(v["error"]["request_id"], id.as_str());

    let (status, headers, body) = http_get(daemon.addr, "/metrics", &[]).await.unwrap();
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.contains("openmetrics")));
    for name in [
        "fleetd_readings_received_total",
        "fleetd_readings_stored_total",
        "fleetd_readings_rejected_total{reason=\"out_of_range\"}",
        "fleetd_batch_rows_bucket",
        "fleetd_copy_seconds_bucket",
        "fleetd_decode_queue_depth",
        "fleetd_writer_queue_depth",
        "fleetd_mqtt_connected",
        "fleetd_oldest_unacked_seconds",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics");
    }

    // The probes and the document are in the document: it comes from the table they are
    // routed from.
    let (status, _, body) = http_get(daemon.addr, "/openapi.json", &[]).await.unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let op = &doc["paths"][path]["get"];
        assert!(op.is_object(), "GET {path} missing from /openapi.json");
        assert_eq!(
            op["security"],
            serde_json::json!([]),
            "{path} needs no token"
        );
    }
    assert!(doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object());
    daemon.shutdown().await;
}

#[test]
fn bad_configuration_fails_start_up_naming_the_key() {
    let (code, out) = fleetd_cli(&["serve"], &[("FLEETD_INGEST_BATCH_ROWS", "0")]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("ingest.batch_rows") && out.contains("FLEETD_INGEST_BATCH_ROWS"),
        "{out}"
    );

    let (code, out) = fleetd_cli(&["serve"], &[("FLEETD_HTTP_ADDR", "not-an-address")]);
    assert_eq!(code, 2);
    assert!(out.contains("http.addr"), "{out}");

    let (code, out) = fleetd_cli(&["check-config"], &[("FLEETD_MQTT_URL", "ftp://x")]);
    assert_eq!(code, 2);
    assert!(out.contains("mqtt.url"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[ingest]\nbatch_rowz = 5\n").unwrap();
    let (code, out) = fleetd_cli(&["--config", path.to_str().unwrap(), "check-config"], &[]);
    assert_eq!(code, 2);
    assert!(out.contains("batch_rowz"), "{out}");

    let (code, out) = fleetd_cli(&["--config", "/does/not/exist.toml", "check-config"], &[]);
    assert_eq!(code, 2);
    assert!(out.contains("/does/not/exist.toml"), "{out}");
}

#[test]
fn check_config_prints_effective_values_without_secrets() {
    let (code, out) = fleetd_cli(
        &["check-config"],
        &[
            (
                "FLEETD_DATABASE_URL",
                "postgres://fleet:s3cr3t-pw@db:5432/fleetd",
            ),
            ("FLEETD_JWT_SECRET", "jwt-0123456789-0123456789-0123456789"),
            ("FLEETD_ADMIN_PASSWORD", "admin-pw-42"),
            ("FLEETD_INGEST_WRITERS", "3"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("writers = 3"), "{out}");
    for secret in ["s3cr3t-pw", "jwt-0123456789", "admin-pw-42"] {
        assert!(!out.contains(secret), "{secret} printed: {out}");
    }
    // The shipped default file is valid.
    let (code, out) = fleetd_cli(
        &[
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"),
            "check-config",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
}

/// Logs written to a pipe or file are plain text (no colour codes), and a restart on an
/// existing database does not log a PostgreSQL notice per partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_plain_text_without_partition_notices() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let cfg = config(&db, &broker);
    for start in ["first", "second"] {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_fleetd"))
            .arg("serve")
            .envs(config_env(&cfg))
            .env("FLEETD_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_ready(format!("127.0.0.1:{port}").parse().unwrap()).await;
        signal(child.id(), "TERM");
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{start} start: {log}");
        assert!(log.contains("INFO"), "{start} start logged nothing: {log}");
        assert!(
            !log.contains('\u{1b}'),
            "{start} start: colour codes: {log}"
        );
        assert!(
            !log.contains("NOTICE") && !log.contains("already exists"),
            "{start} start: {log}"
        );
    }
}
