//! TLS settings go with a TLS URL, and their errors say what is wrong.

use super::*;

#[test]
fn tls_settings_go_with_a_tls_url_and_say_what_is_wrong() {
    let (c, _) = load_str(
        "",
        &[
            ("FLEETD_MQTT_URL", "mqtts://broker.example"),
            ("FLEETD_MQTT_TLS_CA_FILE", "/etc/fleetd/ca.pem"),
            ("FLEETD_MQTT_TLS_CERT_FILE", "/etc/fleetd/client.pem"),
            ("FLEETD_MQTT_TLS_KEY_FILE", "/etc/fleetd/client.key"),
            ("FLEETD_REDIS_URL", "rediss://cache:6380"),
            ("FLEETD_REDIS_TLS_CA_FILE", "/etc/fleetd/ca.pem"),
            (
                "FLEETD_DATABASE_URL",
                "postgres://u@db/x?sslmode=verify-full&sslrootcert=/etc/fleetd/ca.pem",
            ),
        ],
    )
    .unwrap();
    let broker = c.mqtt_endpoint().unwrap();
    assert_eq!((broker.port, broker.tls), (8883, true));
    assert_eq!(c.mqtt_tls_files().key_file, "/etc/fleetd/client.key");
    assert_eq!(c.redis_tls_files().ca_file, "/etc/fleetd/ca.pem");

    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("FLEETD_MQTT_TLS_CA_FILE", "/ca.pem")],
            "mqtt.tls_ca_file",
        ),
        (
            &[
                ("FLEETD_MQTT_URL", "mqtts://b"),
                ("FLEETD_MQTT_TLS_CERT_FILE", "/c.pem"),
            ],
            "mqtt.tls_cert_file",
        ),
        (
            &[
                ("FLEETD_MQTT_URL", "mqtts://b"),
                ("FLEETD_MQTT_TLS_KEY_FILE", "/k.pem"),
            ],
            "mqtt.tls_cert_file",
        ),
        (
            &[
                ("FLEETD_MQTT_URL", "mqtts://b"),
                ("FLEETD_MQTT_TLS_CA_FILE", "/a\nb"),
            ],
            "mqtt.tls_ca_file",
        ),
        (&[("FLEETD_MQTT_URL", "mqttx://b")], "mqtt.url"),
        (
            &[("FLEETD_REDIS_TLS_CA_FILE", "/ca.pem")],
            "redis.tls_ca_file",
        ),
        (
            &[
                ("FLEETD_REDIS_URL", "rediss://r"),
                ("FLEETD_REDIS_TLS_KEY_FILE", "/k.pem"),
            ],
            "redis.tls_cert_file",
        ),
        (
            &[("FLEETD_DATABASE_URL", "postgres://u@db/x?sslmode=allow")],
            "database.url",
        ),
        (
            &[("FLEETD_DATABASE_URL", "postgres://u@db/x?sslcert=/c.pem")],
            "database.url",
        ),
    ];
    for (vars, key) in cases {
        let e = err_text("", vars);
        assert!(e.contains(key), "{vars:?}: {e}");
    }
    let long = "/".repeat(5000);
    let e = err_text(
        "",
        &[
            ("FLEETD_MQTT_URL", "mqtts://b"),
            ("FLEETD_MQTT_TLS_CA_FILE", &long),
        ],
    );
    assert!(
        e.contains("mqtt.tls_ca_file") && e.len() < 400,
        "{}",
        e.len()
    );
}
