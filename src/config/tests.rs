use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_str(text: &str, vars: &[(&str, &str)]) -> Result<(Config, Vec<String>), ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(Some(&path), env(vars))
}

fn err_text(text: &str, vars: &[(&str, &str)]) -> String {
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
    let text = include_str!("../../config/default.toml");
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
fn invalid_values_name_key_and_env() {
    let cases: &[(&str, &str, &str)] = &[
        ("FLEETD_DATABASE_URL", "mysql://x/y", "database.url"),
        ("FLEETD_DATABASE_URL", "not a url", "database.url"),
        ("FLEETD_MQTT_URL", "http://broker", "mqtt.url"),
        ("FLEETD_MQTT_URL", "mqtt://", "mqtt.url"),
        ("FLEETD_MQTT_TOPIC_PREFIX", "fleet/#", "mqtt.topic_prefix"),
        ("FLEETD_MQTT_TOPIC_PREFIX", "", "mqtt.topic_prefix"),
        ("FLEETD_MQTT_TOPIC_PREFIX", "/fleet", "mqtt.topic_prefix"),
        ("FLEETD_MQTT_CLIENT_ID", "has space", "mqtt.client_id"),
        ("FLEETD_MQTT_CONNECTIONS", "0", "mqtt.connections"),
        (
            "FLEETD_MQTT_MAX_PACKET_BYTES",
            "1000",
            "mqtt.max_packet_bytes",
        ),
        ("FLEETD_HTTP_ADDR", "localhost", "http.addr"),
        ("FLEETD_RENTALS_NO_SHOW_HOURS", "0", "rentals.no_show_hours"),
        (
            "FLEETD_RENTALS_NO_SHOW_HOURS",
            "8761",
            "rentals.no_show_hours",
        ),
        ("FLEETD_RULES_INTERVAL_S", "0", "rules.interval_s"),
        ("FLEETD_RULES_INTERVAL_S", "3601", "rules.interval_s"),
        ("FLEETD_TRIPS_MIN_SPEED_KMH", "0", "trips.min_speed_kmh"),
        ("FLEETD_TRIPS_MIN_SPEED_KMH", "NaN", "trips.min_speed_kmh"),
        ("FLEETD_TRIPS_MIN_SPEED_KMH", "inf", "trips.min_speed_kmh"),
        ("FLEETD_TRIPS_JITTER_M", "-1", "trips.jitter_m"),
        ("FLEETD_TRIPS_MIN_TRIP_M", "0", "trips.min_trip_m"),
        ("FLEETD_TRIPS_MIN_TRIP_S", "0", "trips.min_trip_s"),
        ("FLEETD_TRIPS_MIN_STOP_S", "0", "trips.min_stop_s"),
        ("FLEETD_TRIPS_MAX_GAP_S", "59", "trips.max_gap_s"),
        ("FLEETD_TRIPS_MAX_GAP_S", "604801", "trips.max_gap_s"),
        ("FLEETD_TRIPS_MOTION_WINDOW_S", "0", "trips.motion_window_s"),
        (
            "FLEETD_TRIPS_MOTION_WINDOW_S",
            "601",
            "trips.motion_window_s",
        ),
        ("FLEETD_TRIPS_STOP_RADIUS_M", "1e9", "trips.stop_radius_m"),
        (
            "FLEETD_TRIPS_PATH_TOLERANCE_M",
            "-0.5",
            "trips.path_tolerance_m",
        ),
        ("FLEETD_TRIPS_SETTLE_S", "3601", "trips.settle_s"),
        ("FLEETD_TRIPS_INTERVAL_MS", "9", "trips.interval_ms"),
        ("FLEETD_TRIPS_BATCH_VEHICLES", "0", "trips.batch_vehicles"),
        ("FLEETD_TRIPS_USE_IGNITION", "maybe", "trips.use_ignition"),
        (
            "FLEETD_RETENTION_HOURLY_DAYS",
            "29",
            "retention.hourly_days",
        ),
        (
            "FLEETD_RETENTION_HOURLY_DAYS",
            "36501",
            "retention.hourly_days",
        ),
        (
            "FLEETD_RETENTION_HOURLY_DAYS",
            "-1",
            "retention.hourly_days",
        ),
        ("FLEETD_RETENTION_DAILY_DAYS", "7", "retention.daily_days"),
        (
            "FLEETD_REPORTS_DASHBOARD_CACHE_S",
            "0",
            "reports.dashboard_cache_s",
        ),
        (
            "FLEETD_REPORTS_STATS_REFRESH_S",
            "9",
            "reports.stats_refresh_s",
        ),
        (
            "FLEETD_REPORTS_STATS_REFRESH_S",
            "86401",
            "reports.stats_refresh_s",
        ),
        ("FLEETD_EVENTS_RETENTION_DAYS", "0", "events.retention_days"),
        (
            "FLEETD_EVENTS_RETENTION_DAYS",
            "3651",
            "events.retention_days",
        ),
        (
            "FLEETD_EVENTS_RETENTION_DAYS",
            "-3",
            "events.retention_days",
        ),
        (
            "FLEETD_EVENTS_RETENTION_DAYS",
            "ten",
            "events.retention_days",
        ),
        (
            "FLEETD_WEBHOOKS_MAX_RETRY_HOURS",
            "0",
            "webhooks.max_retry_hours",
        ),
        (
            "FLEETD_WEBHOOKS_MAX_RETRY_HOURS",
            "721",
            "webhooks.max_retry_hours",
        ),
        (
            "FLEETD_WEBHOOKS_ALLOW_PRIVATE",
            "yes",
            "webhooks.allow_private",
        ),
        ("FLEETD_WEBHOOKS_TIMEOUT_MS", "99", "webhooks.timeout_ms"),
        (
            "FLEETD_WEBHOOKS_TIMEOUT_MS",
            "120001",
            "webhooks.timeout_ms",
        ),
        ("FLEETD_WEBHOOKS_RETRY_MIN_MS", "9", "webhooks.retry_min_ms"),
        (
            "FLEETD_WEBHOOKS_RETRY_MAX_MS",
            "4999",
            "webhooks.retry_max_ms",
        ),
        (
            "FLEETD_WEBHOOKS_RETRY_MAX_MS",
            "86400001",
            "webhooks.retry_max_ms",
        ),
        ("FLEETD_WEBHOOKS_CONCURRENCY", "0", "webhooks.concurrency"),
        ("FLEETD_WEBHOOKS_CONCURRENCY", "257", "webhooks.concurrency"),
        (
            "FLEETD_WEBHOOKS_TLS_CA_FILE",
            "a\nb",
            "webhooks.tls_ca_file",
        ),
        ("FLEETD_HTTP_INTERNAL_ADDR", "nowhere", "http.internal_addr"),
        (
            "FLEETD_HTTP_INTERNAL_ADDR",
            "127.0.0.1:8080",
            "http.internal_addr",
        ),
        (
            "FLEETD_HTTP_REQUEST_TIMEOUT_MS",
            "99",
            "http.request_timeout_ms",
        ),
        (
            "FLEETD_HTTP_REQUEST_TIMEOUT_MS",
            "600001",
            "http.request_timeout_ms",
        ),
        ("FLEETD_HTTP_ADDR", "127.0.0.1:99999", "http.addr"),
        ("FLEETD_REDIS_URL", "http://x", "redis.url"),
        ("FLEETD_JWT_SECRET", "short", "jwt.secret"),
        ("FLEETD_JWT_TTL_S", "0", "jwt.ttl_s"),
        ("FLEETD_JWT_TTL_S", "86401", "jwt.ttl_s"),
        ("FLEETD_JWT_MAX_TTL_S", "59", "jwt.max_ttl_s"),
        ("FLEETD_JWT_REFRESH_TTL_S", "59", "jwt.refresh_ttl_s"),
        ("FLEETD_JWT_REFRESH_TTL_S", "31622401", "jwt.refresh_ttl_s"),
        ("FLEETD_JWT_MAX_TTL_S", "99999999999", "jwt.max_ttl_s"),
        ("FLEETD_HTTP_LOGIN_BURST", "0", "http.login_burst"),
        (
            "FLEETD_HTTP_MAX_STREAMS_PER_USER",
            "0",
            "http.max_streams_per_user",
        ),
        ("FLEETD_HTTP_MAX_CONNECTIONS", "0", "http.max_connections"),
        (
            "FLEETD_HTTP_MAX_CONNECTIONS_PER_IP",
            "5000",
            "http.max_connections_per_ip",
        ),
        (
            "FLEETD_HTTP_HEADER_READ_TIMEOUT_MS",
            "99",
            "http.header_read_timeout_ms",
        ),
        (
            "FLEETD_HTTP_LOGIN_PER_MINUTE",
            "6001",
            "http.login_per_minute",
        ),
        (
            "FLEETD_HTTP_LOGIN_CONCURRENCY",
            "0",
            "http.login_concurrency",
        ),
        ("FLEETD_INGEST_WRITERS", "1000", "ingest.writers"),
        ("FLEETD_MQTT_USERNAME", "has space", "mqtt.username"),
        ("FLEETD_MQTT_USERNAME", "tracker-veh-1", "mqtt.username"),
        ("FLEETD_MQTT_USERNAME", &"u".repeat(65), "mqtt.username"),
        ("FLEETD_MQTT_USERNAME", "fleetd", "mqtt.password"),
        ("FLEETD_MQTT_PASSWORD", "orphan", "mqtt.password"),
        (
            "FLEETD_BROKER_ADMIN_USERNAME",
            "tr\u{7}x",
            "broker.admin_username",
        ),
        (
            "FLEETD_BROKER_ADMIN_USERNAME",
            "tracker-",
            "broker.admin_username",
        ),
        (
            "FLEETD_BROKER_ADMIN_USERNAME",
            "admin",
            "broker.admin_password",
        ),
        (
            "FLEETD_BROKER_ADMIN_PASSWORD",
            "orphan",
            "broker.admin_password",
        ),
        ("FLEETD_BROKER_TIMEOUT_MS", "99", "broker.timeout_ms"),
        ("FLEETD_BROKER_TIMEOUT_MS", "60001", "broker.timeout_ms"),
        ("FLEETD_INGEST_RETENTION_DAYS", "0", "ingest.retention_days"),
        ("FLEETD_DATABASE_POOL_SIZE", "0", "database.pool_size"),
        (
            "FLEETD_DATABASE_INGEST_POOL_SIZE",
            "2",
            "database.ingest_pool_size",
        ),
        ("FLEETD_HTTP_RATE_LIMIT_BURST", "0", "http.rate_limit_burst"),
        (
            "FLEETD_HTTP_RATE_LIMIT_PER_MINUTE",
            "99999999",
            "http.rate_limit_per_minute",
        ),
        ("FLEETD_DISPATCH_MAX_RADIUS_M", "0", "dispatch.max_radius_m"),
        (
            "FLEETD_DISPATCH_MAX_RADIUS_M",
            "3e7",
            "dispatch.max_radius_m",
        ),
        // Below the default search radius (10 km).
        (
            "FLEETD_DISPATCH_MAX_RADIUS_M",
            "5000",
            "dispatch.search_radius_m",
        ),
        (
            "FLEETD_DISPATCH_MAX_CANDIDATES_EXAMINED",
            "999",
            "dispatch.max_candidates_examined",
        ),
        // Below the staleness limit (60 s).
        (
            "FLEETD_DISPATCH_LIVE_HORIZON_S",
            "59",
            "dispatch.live_horizon_s",
        ),
    ];
    for (var, value, key) in cases {
        let e = err_text("", &[(var, value)]);
        assert!(e.contains(key), "{var}={value}: {e}");
        assert!(e.contains(&env_name(key)), "{var}={value}: {e}");
    }
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
