//! fleetd to NATS over TLS and with an NKey: a server that accepts only TLS clients presenting
//! a certificate of its CA (`verify: true`) and authenticates every client, fleetd by its
//! NKey (`jetstream.nkey_seed_file`), trackers by user and password over MQTT. Readings flow
//! through it; a node without its client certificate, with another key, or speaking plain
//! TCP is refused and says so (`/readyz`: nats unreachable), and takes nothing.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;

use super::ingest::{js_config, stored, wait_for};
use crate::common::nats::NatsCluster;
use crate::common::tls::Certs;
use crate::common::*;
use fleetd::config::{Config, Secret};

const TRACKER: &str = "tracker";
const TRACKER_PASSWORD: &str = "a tracker's password";

/// The server's TLS (its certificate from `certs`, clients' checked against the same CA) and
/// its users: the NKey `fleetd` (a public key) and the tracker.
fn secured(certs: &Certs, fleetd: &str) -> String {
    format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n  \
         timeout: 2\n}}\nauthorization {{\n  users = [\n    {{ nkey: {fleetd} }}\n    \
         {{ user: {TRACKER}, password: \"{TRACKER_PASSWORD}\" }}\n  ]\n}}\n",
        certs.file("server.crt"),
        certs.file("server.key"),
        certs.file("ca.crt"),
    )
}

/// A seed file of a new NKey user in `dir`; returns (its path, the public key).
fn nkey_file(dir: &std::path::Path, name: &str) -> (String, String) {
    let user = nkeys::KeyPair::new_user();
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", user.seed().unwrap())).unwrap();
    (path.display().to_string(), user.public_key())
}

/// A node's configuration for the secured server: TLS with the client certificate and the
/// NKey in `seed_file`, the tracker's account for the one MQTT connection fleetd makes.
fn node_config(db: &TestDb, nats: &NatsCluster, certs: &Certs, seed_file: &str) -> Config {
    let mut c = js_config(db, nats, 1);
    c.jetstream.urls = nats.client_url().replace("nats://", "tls://");
    c.jetstream.tls_ca_file = certs.file("ca.crt");
    c.jetstream.tls_cert_file = certs.file("client.crt");
    c.jetstream.tls_key_file = certs.file("client.key");
    c.jetstream.nkey_seed_file = seed_file.to_string();
    c.mqtt.username = TRACKER.into();
    c.mqtt.password = Secret::new(TRACKER_PASSWORD.to_string());
    c.validate().unwrap();
    c
}

/// Publishes `n` readings of vehicle `sec-1` (the `from`th on) at QoS 1 as the tracker;
/// returns once each is PUBACKed.
async fn publish_as_tracker(port: u16, n: usize, from: usize) {
    let mut o = MqttOptions::new(format!("sec{:x}", rand::random::<u32>()), "127.0.0.1", port);
    o.set_credentials(TRACKER, TRACKER_PASSWORD);
    let (client, mut eventloop) = AsyncClient::new(o, n + 10);
    let t0 = now_ms() - 60_000;
    for i in from..from + n {
        let body = json!({"ts": t0 + i as i64, "lat": 48.0, "lon": 11.0});
        client
            .publish("fleet/sec-1/gps", QoS::AtLeastOnce, false, body.to_string())
            .await
            .unwrap();
    }
    let mut acked = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked < n {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("the tracker's connection failed: {e}"),
            Err(_) => panic!("{acked} of {n} PUBACKed in 20 s"),
        }
    }
}

/// Starts a node of `c` without waiting for it to be ready, and expects `/readyz` to keep
/// saying that NATS is unreachable for 3 s.
async fn refused(c: Config, why: &str) {
    let stop = tokio_util::sync::CancellationToken::new();
    let daemon = fleetd::daemon::start(c, stop.clone()).await.unwrap();
    let addr = daemon.internal_addr.unwrap_or(daemon.http_addr);
    let until = Instant::now() + Duration::from_secs(3);
    let mut answers = 0;
    while Instant::now() < until {
        let (status, _, body) = http_get(addr, "/readyz", &[]).await.unwrap();
        assert_eq!(status, 503, "{why}: ready, {body}");
        assert!(body.contains("nats unreachable"), "{why}: {body}");
        answers += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(answers > 5);
    stop.cancel();
    daemon.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readings_flow_over_tls_with_an_nkey_and_a_node_without_them_is_refused() {
    let certs = Certs::new();
    let keys = tempfile::tempdir().unwrap();
    let (seed, public) = nkey_file(keys.path(), "fleetd.nk");
    let nats = NatsCluster::start_with(1, &secured(&certs, &public));
    let db = TestDb::create().await;
    let sql = db.client().await;
    let good = node_config(&db, &nats, &certs, &seed);

    let node = InProcess::start(good.clone()).await;
    publish_as_tracker(nats.mqtt_port(0), 50, 0).await;
    wait_for("50 readings stored through TLS and the NKey", || async {
        stored(&sql).await == (50, 50)
    })
    .await;
    node.shutdown().await;

    // Ten more wait in the stream while nodes the server refuses run: none takes one.
    publish_as_tracker(nats.mqtt_port(0), 10, 50).await;
    let mut no_client_cert = good.clone();
    no_client_cert.jetstream.tls_cert_file.clear();
    no_client_cert.jetstream.tls_key_file.clear();
    refused(no_client_cert, "without the client certificate").await;

    let (other_seed, _) = nkey_file(keys.path(), "other.nk");
    let mut other_key = good.clone();
    other_key.jetstream.nkey_seed_file = other_seed;
    refused(other_key, "with a key the server does not know").await;

    let mut plain = good.clone();
    plain.jetstream.urls = nats.client_url();
    plain.jetstream.tls_ca_file.clear();
    plain.jetstream.tls_cert_file.clear();
    plain.jetstream.tls_key_file.clear();
    refused(plain, "over plain TCP").await;

    assert_eq!(stored(&sql).await, (50, 50));

    let node = InProcess::start(good).await;
    wait_for("the ten stored by a node the server accepts", || async {
        stored(&sql).await == (60, 60)
    })
    .await;
    node.shutdown().await;
}

/// A seed file that cannot be read, or does not hold a user's seed, stops the node at start
/// with the key named, and never shows the file's content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_seed_file_stops_the_node_at_start_naming_the_key() {
    let certs = Certs::new();
    let keys = tempfile::tempdir().unwrap();
    let (seed, public) = nkey_file(keys.path(), "fleetd.nk");
    let nats = NatsCluster::start_with(1, &secured(&certs, &public));
    let db = TestDb::create().await;
    let good = node_config(&db, &nats, &certs, &seed);

    let not_a_seed = keys.path().join("public.nk");
    std::fs::write(&not_a_seed, "SUAAVERYSECRETBUTNOTASEEDATALL\n").unwrap();
    let account = nkeys::KeyPair::new_account();
    let account_seed = keys.path().join("account.nk");
    std::fs::write(&account_seed, account.seed().unwrap()).unwrap();
    for (path, why) in [
        (keys.path().join("missing.nk"), "cannot read"),
        (not_a_seed, "does not hold an NKey seed"),
        (account_seed, "but not a user's"),
    ] {
        let mut c = good.clone();
        c.jetstream.nkey_seed_file = path.display().to_string();
        let stop = tokio_util::sync::CancellationToken::new();
        let error = match fleetd::daemon::start(c, stop).await {
            Ok(_) => panic!("started with {}", path.display()),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains("jetstream.nkey_seed_file"), "{error}");
        assert!(error.contains(why), "{why}: {error}");
        assert!(!error.contains("VERYSECRET"), "{error}");
    }
}
