//! `ingest.source` and `[jetstream]`: every malformed or hostile value is refused with its key.

use super::super::*;
use super::{err_text, load_str};

#[test]
fn malformed_and_hostile_values_are_refused_by_key() {
    let long = "x".repeat(5000);
    let many = vec!["nats://h:1"; 33].join(",");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("FLEETD_INGEST_SOURCE", "kafka")], "ingest.source"),
        (&[("FLEETD_INGEST_SOURCE", "")], "ingest.source"),
        (
            &[("FLEETD_JETSTREAM_CAPTURE", "fleet")],
            "jetstream.capture",
        ),
        (&[("FLEETD_JETSTREAM_CAPTURE", "MQTT")], "jetstream.capture"),
        (&[("FLEETD_JETSTREAM_URLS", "")], "jetstream.urls"),
        (&[("FLEETD_JETSTREAM_URLS", " , ,")], "jetstream.urls"),
        (
            &[("FLEETD_JETSTREAM_URLS", "http://h:4222")],
            "jetstream.urls",
        ),
        (
            &[("FLEETD_JETSTREAM_URLS", "tls://h:4222,nats://h2:4222")],
            "jetstream.urls",
        ),
        (
            &[("FLEETD_JETSTREAM_URLS", "nats://h:4222,tls://h2:4222")],
            "jetstream.urls",
        ),
        (
            &[("FLEETD_JETSTREAM_URLS", "tls://u:p@h:4222")],
            "jetstream.urls",
        ),
        (
            &[("FLEETD_JETSTREAM_TLS_CA_FILE", "/etc/ca.crt")],
            "jetstream.tls_ca_file",
        ),
        (
            &[
                ("FLEETD_JETSTREAM_URLS", "tls://h:4222"),
                ("FLEETD_JETSTREAM_TLS_CERT_FILE", "/etc/client.crt"),
            ],
            "jetstream.tls_cert_file",
        ),
        (
            &[
                ("FLEETD_JETSTREAM_URLS", "tls://h:4222"),
                ("FLEETD_JETSTREAM_TLS_KEY_FILE", "/etc/client.key"),
            ],
            "jetstream.tls_cert_file",
        ),
        (
            &[
                ("FLEETD_JETSTREAM_URLS", "tls://h:4222"),
                ("FLEETD_JETSTREAM_TLS_CA_FILE", "/etc/ca\n.crt"),
            ],
            "jetstream.tls_ca_file",
        ),
        (
            &[("FLEETD_JETSTREAM_NKEY_SEED_FILE", "/etc/\u{7}.nk")],
            "jetstream.nkey_seed_file",
        ),
        (
            &[("FLEETD_JETSTREAM_NKEY_SEED_FILE", &long)],
            "jetstream.nkey_seed_file",
        ),
        (
            &[
                ("FLEETD_JETSTREAM_NKEY_SEED_FILE", "/etc/fleetd.nk"),
                ("FLEETD_JETSTREAM_USERNAME", "fleetd"),
            ],
            "jetstream.nkey_seed_file",
        ),
        (&[("FLEETD_JETSTREAM_URLS", "nats://")], "jetstream.urls"),
        (
            &[("FLEETD_JETSTREAM_URLS", "nats://u:p@h:4222")],
            "jetstream.urls",
        ),
        (
            &[("FLEETD_JETSTREAM_URLS", "nats://h:4222/x?y")],
            "jetstream.urls",
        ),
        (&[("FLEETD_JETSTREAM_URLS", "not a url")], "jetstream.urls"),
        (&[("FLEETD_JETSTREAM_URLS", &long)], "jetstream.urls"),
        (&[("FLEETD_JETSTREAM_URLS", &many)], "jetstream.urls"),
        (
            &[("FLEETD_JETSTREAM_USERNAME", "a\nb")],
            "jetstream.username",
        ),
        (&[("FLEETD_JETSTREAM_NAME", "")], "jetstream.name"),
        (&[("FLEETD_JETSTREAM_NAME", "a b")], "jetstream.name"),
        (&[("FLEETD_JETSTREAM_STREAM", "FLE.ET")], "jetstream.stream"),
        (&[("FLEETD_JETSTREAM_STREAM", "F*")], "jetstream.stream"),
        (&[("FLEETD_JETSTREAM_STREAM", "../x")], "jetstream.stream"),
        (&[("FLEETD_JETSTREAM_STREAM", &long)], "jetstream.stream"),
        (&[("FLEETD_JETSTREAM_CONSUMER", ">")], "jetstream.consumer"),
        (&[("FLEETD_JETSTREAM_CONSUMER", "")], "jetstream.consumer"),
        (&[("FLEETD_JETSTREAM_REPLICAS", "0")], "jetstream.replicas"),
        (&[("FLEETD_JETSTREAM_REPLICAS", "2")], "jetstream.replicas"),
        (&[("FLEETD_JETSTREAM_REPLICAS", "7")], "jetstream.replicas"),
        (&[("FLEETD_JETSTREAM_REPLICAS", "-1")], "jetstream.replicas"),
        (
            &[("FLEETD_JETSTREAM_MAX_AGE_S", "59")],
            "jetstream.max_age_s",
        ),
        (
            &[("FLEETD_JETSTREAM_ACK_WAIT_MS", "999")],
            "jetstream.ack_wait_ms",
        ),
        (
            &[("FLEETD_JETSTREAM_ACK_WAIT_MS", "1e9")],
            "jetstream.ack_wait_ms",
        ),
        (
            &[("FLEETD_JETSTREAM_MAX_ACK_PENDING", "0")],
            "jetstream.max_ack_pending",
        ),
        (
            &[("FLEETD_JETSTREAM_PULL_BATCH", "0")],
            "jetstream.pull_batch",
        ),
        (
            &[
                ("FLEETD_JETSTREAM_PULL_BATCH", "600"),
                ("FLEETD_JETSTREAM_MAX_ACK_PENDING", "500"),
            ],
            "jetstream.pull_batch",
        ),
        (
            &[("FLEETD_JETSTREAM_LIVE_SUBJECT", "fleetd.*")],
            "jetstream.live_subject",
        ),
        (
            &[("FLEETD_JETSTREAM_LIVE_SUBJECT", "a..b")],
            "jetstream.live_subject",
        ),
        (
            &[("FLEETD_JETSTREAM_LIVE_SUBJECT", "")],
            "jetstream.live_subject",
        ),
        (
            &[("FLEETD_JETSTREAM_LIVE_SUBJECT", "a b")],
            "jetstream.live_subject",
        ),
        // Under the readings' subjects: nodes would store each other's positions.
        (
            &[("FLEETD_JETSTREAM_LIVE_SUBJECT", "fleet.live")],
            "jetstream.live_subject",
        ),
        (
            &[
                ("FLEETD_INGEST_SOURCE", "jetstream"),
                ("FLEETD_MQTT_TOPIC_PREFIX", "fleet.v2"),
            ],
            "mqtt.topic_prefix",
        ),
        (
            &[
                ("FLEETD_INGEST_SOURCE", "jetstream"),
                ("FLEETD_MQTT_TOPIC_PREFIX", "a//b"),
            ],
            "mqtt.topic_prefix",
        ),
    ];
    for (vars, key) in cases {
        let e = err_text("", vars);
        assert!(e.contains(key), "{vars:?}: {e}");
        assert!(e.contains(&env_name(key)), "{vars:?}: {e}");
        assert!(e.len() < 1_000, "the error must not echo a huge value: {e}");
    }
}

#[test]
fn a_cluster_configuration_loads() {
    let (c, _) = load_str(
        r#"
[ingest]
source = "jetstream"
[mqtt]
topic_prefix = "acme/fleet"
[jetstream]
urls = "nats://10.0.0.1:4222, nats://10.0.0.2:4222,nats://10.0.0.3"
replicas = 3
password = "s3cret"
"#,
        &[],
    )
    .unwrap();
    assert_eq!(c.ingest.source, IngestSource::Jetstream);
    assert_eq!(c.jetstream.capture, Capture::Mqtt);
    assert_eq!(
        c.jetstream.server_list(),
        vec![
            "nats://10.0.0.1:4222",
            "nats://10.0.0.2:4222",
            "nats://10.0.0.3"
        ]
    );
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "the password is redacted"
    );
    assert!(!c.jetstream.tls());
}

#[test]
fn a_tls_cluster_with_an_nkey_loads() {
    let (c, _) = load_str(
        r#"
[jetstream]
urls = "tls://nats-1.internal:4222,tls://nats-2.internal:4222"
tls_ca_file = "/etc/fleetd/nats-ca.crt"
tls_cert_file = "/etc/fleetd/node.crt"
tls_key_file = "/etc/fleetd/node.key"
nkey_seed_file = "/etc/fleetd/node.nk"
"#,
        &[],
    )
    .unwrap();
    assert!(c.jetstream.tls());
    assert_eq!(c.jetstream.tls_files().ca_file, "/etc/fleetd/nats-ca.crt");
    assert_eq!(c.jetstream.nkey_seed_file, "/etc/fleetd/node.nk");
}
