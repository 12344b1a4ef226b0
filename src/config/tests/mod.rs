//! The configuration's tests: loading, environment overrides, secrets, modes; the value
//! ranges in [`values`], TLS settings in [`tls`].

mod jetstream;
mod replica;
mod tls;
mod values;

use super::*;

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn load_str(
    text: &str,
    vars: &[(&str, &str)],
) -> Result<(Config, Vec<String>), ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(Some(&path), env(vars))
}

pub(super) fn err_text(text: &str, vars: &[(&str, &str)]) -> String {
    load_str(text, vars).unwrap_err().to_string()
}

#[test]
fn defaults_are_valid() {
    let (c, w) = Config::load(None, env(&[])).unwrap();
    assert!(w.is_empty());
    assert_eq!(c.ingest.batch_rows, 10_000);
    assert_eq!(
        c.mqtt_endpoint().unwrap(),
        crate::config::MqttEndpoint {
            host: "127.0.0.1".into(),
            port: 1883,
            tls: false
        }
    );
}

#[test]
fn shipped_default_toml_lists_every_key_with_the_built_in_default() {
    let text = include_str!("../../../config/default.toml");
    let file: toml::Table = text.parse().unwrap();
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    assert_eq!(
        file, defaults,
        "config/default.toml must equal Config::default()"
    );
}

#[test]
fn env_overrides_file_and_spec_names_work() {
    let (c, _) = load_str(
        "[ingest]\nbatch_rows = 5\n",
        &[
            ("FLEETD_INGEST_BATCH_ROWS", "42"),
            ("FLEETD_DATABASE_URL", "postgres://u:pw@db:5433/x"),
            ("FLEETD_MQTT_URL", "mqtt://broker:1884"),
            ("FLEETD_REDIS_URL", ""),
            ("FLEETD_HTTP_ADDR", "0.0.0.0:9000"),
            ("FLEETD_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("FLEETD_ADMIN_PASSWORD", "hunter2"),
        ],
    )
    .unwrap();
    assert_eq!(c.ingest.batch_rows, 42);
    assert_eq!(c.database.url.expose(), "postgres://u:pw@db:5433/x");
    assert_eq!(
        c.mqtt_endpoint().unwrap(),
        crate::config::MqttEndpoint {
            host: "broker".into(),
            port: 1884,
            tls: false
        }
    );
    assert!(c.redis.url.is_empty());
    assert_eq!(c.http.addr, "0.0.0.0:9000");
    assert_eq!(c.admin.password.expose(), "hunter2");
}

#[test]
fn bad_env_value_names_the_variable_and_key() {
    let e = err_text("", &[("FLEETD_INGEST_BATCH_ROWS", "lots")]);
    assert!(e.contains("FLEETD_INGEST_BATCH_ROWS"), "{e}");
    assert!(e.contains("ingest.batch_rows"), "{e}");
    let e = err_text(
        "",
        &[("FLEETD_INGEST_BATCH_ROWS", "99999999999999999999999")],
    );
    assert!(e.contains("FLEETD_INGEST_BATCH_ROWS"), "{e}");
    // The wrong sign, or too large for the key's type: the variable is named, not the file.
    for (var, value, key) in [
        ("FLEETD_INGEST_BATCH_ROWS", "-1", "ingest.batch_rows"),
        (
            "FLEETD_RENTALS_NO_SHOW_HOURS",
            "-1",
            "rentals.no_show_hours",
        ),
        ("FLEETD_MQTT_CONNECTIONS", "70000", "mqtt.connections"),
        (
            "FLEETD_RENTALS_NO_SHOW_HOURS",
            "4294967296",
            "rentals.no_show_hours",
        ),
    ] {
        let e = load_str("", &[(var, value)]).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Env { env, key: k, .. } if env == var && k == key),
            "{var}={value}: {e}"
        );
    }
    // Set in the file, the same value is the file's error.
    let e = err_text("[mqtt]\nconnections = 70000\n", &[]);
    assert!(
        e.contains("c.toml") && e.contains("mqtt.connections"),
        "{e}"
    );
    let e = err_text("", &[("FLEETD_INGEST_BATCH_ROWS", "0")]);
    assert!(e.contains("ingest.batch_rows") && e.contains("1..="), "{e}");
}

#[test]
fn unknown_env_vars_warn_but_test_vars_are_silent() {
    let (_, w) = Config::load(
        None,
        env(&[
            ("FLEETD_DATABSE_URL", "x"),
            ("FLEETD_TEST_DATABASE_URL", "y"),
            ("PATH", "/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("FLEETD_DATABSE_URL"));
}

#[test]
fn unknown_keys_and_wrong_types_in_the_file_name_the_key() {
    let e = err_text("[ingest]\nbatch_rowz = 1\n", &[]);
    assert!(e.contains("batch_rowz"), "{e}");
    let e = err_text("[nonsense]\n", &[]);
    assert!(e.contains("nonsense"), "{e}");
    let e = err_text("[ingest]\nbatch_rows = \"many\"\n", &[]);
    assert!(e.contains("batch_rows") || e.contains("integer"), "{e}");
    let e = err_text("ingest = 3\n", &[("FLEETD_INGEST_BATCH_ROWS", "3")]);
    assert!(e.contains("ingest"), "{e}");
    let e = err_text("this is not toml", &[]);
    assert!(e.contains("c.toml"), "{e}");
}

#[test]
fn secrets_never_print() {
    let (c, _) = load_str(
        "",
        &[
            ("FLEETD_DATABASE_URL", "postgres://u:topsecretpw@db/x"),
            ("FLEETD_JWT_SECRET", "jwt-secret-jwt-secret-jwt-secret-123"),
            ("FLEETD_ADMIN_PASSWORD", "adminpw-xyz"),
            ("FLEETD_MQTT_USERNAME", "fleetd"),
            ("FLEETD_MQTT_PASSWORD", "mqttpw-xyz"),
            ("FLEETD_BROKER_ADMIN_USERNAME", "fleetd-admin"),
            ("FLEETD_BROKER_ADMIN_PASSWORD", "brokerpw-xyz"),
        ],
    )
    .unwrap();
    let debug = format!("{c:?}");
    let shown = c.redacted_toml();
    for s in [
        "topsecretpw",
        "jwt-secret-jwt",
        "adminpw-xyz",
        "mqttpw-xyz",
        "brokerpw-xyz",
    ] {
        assert!(!debug.contains(s), "{s} in debug output");
        assert!(!shown.contains(s), "{s} in redacted toml");
    }
    assert!(shown.contains("***"));
    // A secret that fails validation is not echoed either.
    let e = err_text("", &[("FLEETD_JWT_SECRET", "tooshort-secret")]);
    assert!(!e.contains("tooshort-secret"), "{e}");
    let e = err_text("", &[("FLEETD_MQTT_PASSWORD", "orphan-pw-123")]);
    assert!(!e.contains("orphan-pw-123"), "{e}");
}

#[test]
fn the_admin_and_the_daemon_are_different_accounts() {
    let e = err_text(
        "",
        &[
            ("FLEETD_MQTT_USERNAME", "same"),
            ("FLEETD_MQTT_PASSWORD", "pw-1"),
            ("FLEETD_BROKER_ADMIN_USERNAME", "same"),
            ("FLEETD_BROKER_ADMIN_PASSWORD", "pw-2"),
        ],
    );
    assert!(e.contains("broker.admin_username"), "{e}");
    let (c, _) = load_str(
        "[mqtt]\nusername = \"d\"\npassword = \"p\"\n[broker]\nadmin_username = \"a\"\nadmin_password = \"q\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        (c.mqtt.username.as_str(), c.broker.admin_username.as_str()),
        ("d", "a")
    );
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let e = Config::load(Some(Path::new("/nonexistent/fleetd.toml")), env(&[])).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/fleetd.toml"));
}

#[test]
fn syntax_errors_give_the_line_but_never_echo_it() {
    let e = err_text("[jwt]\nsecret = \"abc-very-secret-value\n", &[]);
    assert!(e.contains("line 2"), "{e}");
    assert!(!e.contains("very-secret"), "{e}");
}

#[test]
fn subscription_mode_and_connections() {
    let (c, _) = load_str("", &[]).unwrap();
    assert_eq!(c.mqtt.subscription, SubscriptionMode::Plain);
    assert_eq!(c.mqtt.connections, 1);
    let (c, _) = load_str("[mqtt]\nsubscription = \"shared\"\nconnections = 4\n", &[]).unwrap();
    assert_eq!(c.mqtt.subscription, SubscriptionMode::Shared);
    assert_eq!(c.mqtt.connections, 4);
    let (c, _) = load_str(
        "",
        &[
            ("FLEETD_MQTT_SUBSCRIPTION", "shared"),
            ("FLEETD_MQTT_CONNECTIONS", "2"),
        ],
    )
    .unwrap();
    assert_eq!(c.mqtt.subscription, SubscriptionMode::Shared);

    // A plain subscription on several connections would store every reading N times over.
    let e = err_text("", &[("FLEETD_MQTT_CONNECTIONS", "2")]);
    assert!(e.contains("mqtt.connections") && e.contains("plain"), "{e}");
    assert!(e.contains("FLEETD_MQTT_CONNECTIONS"), "{e}");
    // Unknown, empty, differently cased and hostile values are refused, naming the key.
    for bad in [
        "bogus",
        "",
        "Plain",
        "SHARED",
        "plain\0",
        "$share",
        &"x".repeat(10_000),
    ] {
        let e = err_text("", &[("FLEETD_MQTT_SUBSCRIPTION", bad)]);
        assert!(e.contains("mqtt.subscription"), "{bad:?}: {e}");
        assert!(
            e.len() < 1_000,
            "{bad:?}: error echoes the value: {} bytes",
            e.len()
        );
    }
    let e = err_text("[mqtt]\nsubscription = 3\n", &[]);
    assert!(e.contains("mqtt.subscription"), "{e}");
}

#[test]
fn unknown_vehicles_is_reject_or_store() {
    assert_eq!(
        Config::default().ingest.unknown_vehicles,
        UnknownVehicles::Reject
    );
    let (c, _) = load_str("", &[("FLEETD_INGEST_UNKNOWN_VEHICLES", "store")]).unwrap();
    assert_eq!(c.ingest.unknown_vehicles, UnknownVehicles::Store);
    for bad in ["ignore", "", "Reject", "store\0", &"x".repeat(10_000)] {
        let e = err_text("", &[("FLEETD_INGEST_UNKNOWN_VEHICLES", bad)]);
        assert!(e.contains("ingest.unknown_vehicles"), "{bad:?}: {e}");
        assert!(e.len() < 1_000, "{bad:?}: error echoes the value");
    }
    let e = err_text("[ingest]\nunknown_vehicles = true\n", &[]);
    assert!(e.contains("unknown_vehicles"), "{e}");
}
