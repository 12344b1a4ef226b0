//! `fleetd healthcheck` as a container runs it: the binary, its exit code and its message.

use std::process::{Command, Output};

use crate::common::api::Api;
use crate::common::free_port;

fn healthcheck(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetd"))
        .args(["healthcheck", "--url", url, "--timeout-ms", "5000"])
        // A configuration the daemon would refuse: the probe must not read it.
        .env("FLEETD_INGEST_WRITERS", "not a number")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_0_against_a_live_daemon_and_1_otherwise() {
    let api = Api::start().await;
    let addr = api.daemon.addr;
    let out = tokio::task::spawn_blocking(move || healthcheck(&format!("http://{addr}/healthz")))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());

    let out = tokio::task::spawn_blocking(move || healthcheck(&format!("http://{addr}/nope")))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("fleetd healthcheck: http://{addr}/nope answered 404\n")
    );
    api.daemon.shutdown().await;
}

#[test]
fn exits_1_on_a_closed_port() {
    let port = free_port();
    let out = healthcheck(&format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.starts_with(&format!(
            "fleetd healthcheck: cannot connect to 127.0.0.1:{port}: "
        )),
        "{message}"
    );
}

#[test]
fn exits_1_with_a_clear_message_on_a_malformed_url() {
    let out = healthcheck("127.0.0.1:8080/healthz");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "fleetd healthcheck: invalid url \"127.0.0.1:8080/healthz\": relative URL without a base\n"
    );
    let out = healthcheck("https://127.0.0.1:8080/healthz");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("only http:// is supported"),
        "{}",
        stderr(&out)
    );
}
