//! Every out-of-range or malformed value names its key and its environment variable.

use super::super::*;
use super::err_text;

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
        (
            "FLEETD_MQTT_EVENTS_PREFIX",
            "events/+",
            "mqtt.events_prefix",
        ),
        ("FLEETD_MQTT_EVENTS_PREFIX", "", "mqtt.events_prefix"),
        (
            "FLEETD_MQTT_EVENTS_PREFIX",
            "$SYS/events",
            "mqtt.events_prefix",
        ),
        ("FLEETD_MQTT_EVENTS_PREFIX", "events/", "mqtt.events_prefix"),
        ("FLEETD_MQTT_EVENTS_PREFIX", "ev\u{0}", "mqtt.events_prefix"),
        // Under the readings (fleetd would read its own events), or holding them.
        ("FLEETD_MQTT_EVENTS_PREFIX", "fleet", "mqtt.events_prefix"),
        (
            "FLEETD_MQTT_EVENTS_PREFIX",
            "fleet/events",
            "mqtt.events_prefix",
        ),
        (
            "FLEETD_MQTT_EVENTS_PREFIX",
            "fleet-canary/e",
            "mqtt.events_prefix",
        ),
        (
            "FLEETD_MQTT_TOPIC_PREFIX",
            "fleetd/events/in",
            "mqtt.events_prefix",
        ),
        ("FLEETD_MQTT_PUBLISH_EVENTS", "maybe", "mqtt.publish_events"),
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
        ("FLEETD_ALERTS_INTERVAL_S", "4", "alerts.interval_s"),
        ("FLEETD_ALERTS_INTERVAL_S", "3601", "alerts.interval_s"),
        ("FLEETD_ALERTS_INTERVAL_S", "-1", "alerts.interval_s"),
        ("FLEETD_CONSOLE_ENABLED", "yes", "console.enabled"),
        ("FLEETD_CONSOLE_TILE_MAX_ZOOM", "0", "console.tile_max_zoom"),
        (
            "FLEETD_CONSOLE_TILE_MAX_ZOOM",
            "23",
            "console.tile_max_zoom",
        ),
        (
            "FLEETD_CONSOLE_TILE_URL",
            "tiles/{z}/{x}/{y}.png",
            "console.tile_url",
        ),
        (
            "FLEETD_CONSOLE_TILE_URL",
            "https://t.example/{z}/{x}.png",
            "console.tile_url",
        ),
        (
            "FLEETD_CONSOLE_TILE_URL",
            "ftp://t.example/{z}/{x}/{y}",
            "console.tile_url",
        ),
        (
            "FLEETD_CONSOLE_TILE_URL",
            "https://t.example/{z}/{x}/{y}; script-src *",
            "console.tile_url",
        ),
        (
            "FLEETD_CONSOLE_TILE_URL",
            "https://t.example/{z}/{x}/{y}.png'",
            "console.tile_url",
        ),
        (
            "FLEETD_CONSOLE_TILE_URL",
            "https://u:p@t.example/{z}/{x}/{y}",
            "console.tile_url",
        ),
        (
            "FLEETD_CONSOLE_TILE_ATTRIBUTION",
            "a\nb",
            "console.tile_attribution",
        ),
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
fn seller_values_are_checked_and_an_address_keeps_its_lines() {
    let long = "x".repeat(1_001);
    let cases: &[(&str, &str)] = &[
        ("seller_name = \"\"", "invoices.seller_name"),
        ("seller_name = \"   \"", "invoices.seller_name"),
        ("seller_name = \"a\\u0000b\"", "invoices.seller_name"),
        ("seller_name = \"a\\nb\"", "invoices.seller_name"),
        (
            &format!("seller_address = \"{long}\""),
            "invoices.seller_address",
        ),
        ("seller_address = \"a\\tb\"", "invoices.seller_address"),
        ("seller_address = \"a\\u001bb\"", "invoices.seller_address"),
        ("seller_tax_id = \"DE\\n1\"", "invoices.seller_tax_id"),
        (
            &format!("seller_tax_id = \"{}\"", "9".repeat(65)),
            "invoices.seller_tax_id",
        ),
        ("seller = \"x\"", "seller"),
    ];
    for (line, key) in cases {
        let e = err_text(&format!("[invoices]\n{line}\n"), &[]);
        assert!(e.contains(key), "{line}: {e}");
        assert!(e.len() < 1_000, "the error must not echo a huge value: {e}");
    }
    let (c, _) = super::load_str(
        "[invoices]\nseller_name = \"Acme Fleet GmbH\"\nseller_address = \"\"\"\nMain St 1\n10115 Berlin\n\"\"\"\nseller_tax_id = \"DE123456789\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.invoices.seller_name, "Acme Fleet GmbH");
    assert_eq!(c.invoices.seller_address, "Main St 1\n10115 Berlin\n");
    assert_eq!(c.invoices.seller_tax_id, "DE123456789");
}
