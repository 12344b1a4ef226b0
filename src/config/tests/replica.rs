//! `database.replica_*`: accepted values, refused ones (each naming its key and variable,
//! never echoing a password), and the password's redaction.

use super::*;

const PRIMARY: &str = "postgres://u:primarypw@db:5432/fleetd";

#[test]
fn no_replica_by_default_and_a_standby_is_accepted() {
    let (c, _) = load_str("", &[]).unwrap();
    assert!(c.database.replica_url.is_empty());
    assert_eq!(c.database.replica_pool_size, 4);
    assert_eq!(c.database.replica_max_lag_ms, 10_000);
    let (c, _) = load_str(
        "[database]\nreplica_pool_size = 2\n",
        &[
            ("FLEETD_DATABASE_URL", PRIMARY),
            (
                "FLEETD_DATABASE_REPLICA_URL",
                "postgresql://u:replicapw@standby:5433/fleetd?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            ),
            ("FLEETD_DATABASE_REPLICA_MAX_LAG_MS", "2500"),
        ],
    )
    .unwrap();
    assert_eq!(c.database.replica_pool_size, 2);
    assert_eq!(c.database.replica_max_lag_ms, 2_500);
    assert!(c.database.replica_url.expose().contains("standby:5433"));
}

#[test]
fn bad_replica_values_name_the_key_and_variable() {
    let long = format!("postgres://u@h/{}", "x".repeat(5_000));
    let cases: &[(&str, &str, &str)] = &[
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "mysql://h/db",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "not a url",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "host=standby dbname=x",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres:///fleetd",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u@h/x\nsslmode=disable",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u@h/x\0",
            "database.replica_url",
        ),
        ("FLEETD_DATABASE_REPLICA_URL", &long, "database.replica_url"),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u@h/x?sslmode=allow",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u@h/x?sslmode=bogus",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u@h/x?sslcert=/c.pem",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u@h/x?sslrootcert=system",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u@h/x?nonsense=1",
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u@h:99999/x",
            "database.replica_url",
        ),
        // The primary itself is no replica.
        (
            "FLEETD_DATABASE_REPLICA_URL",
            PRIMARY,
            "database.replica_url",
        ),
        (
            "FLEETD_DATABASE_REPLICA_POOL_SIZE",
            "0",
            "database.replica_pool_size",
        ),
        (
            "FLEETD_DATABASE_REPLICA_POOL_SIZE",
            "1025",
            "database.replica_pool_size",
        ),
        (
            "FLEETD_DATABASE_REPLICA_POOL_SIZE",
            "-1",
            "database.replica_pool_size",
        ),
        (
            "FLEETD_DATABASE_REPLICA_POOL_SIZE",
            "four",
            "database.replica_pool_size",
        ),
        (
            "FLEETD_DATABASE_REPLICA_POOL_SIZE",
            "4294967296",
            "database.replica_pool_size",
        ),
        (
            "FLEETD_DATABASE_REPLICA_MAX_LAG_MS",
            "0",
            "database.replica_max_lag_ms",
        ),
        (
            "FLEETD_DATABASE_REPLICA_MAX_LAG_MS",
            "999",
            "database.replica_max_lag_ms",
        ),
        (
            "FLEETD_DATABASE_REPLICA_MAX_LAG_MS",
            "86400001",
            "database.replica_max_lag_ms",
        ),
        (
            "FLEETD_DATABASE_REPLICA_MAX_LAG_MS",
            "1e4",
            "database.replica_max_lag_ms",
        ),
        (
            "FLEETD_DATABASE_REPLICA_MAX_LAG_MS",
            "",
            "database.replica_max_lag_ms",
        ),
    ];
    for (var, value, key) in cases {
        let e = err_text("", &[("FLEETD_DATABASE_URL", PRIMARY), (var, value)]);
        assert!(e.contains(key) && e.contains(var), "{var}={value:?}: {e}");
        assert!(e.len() < 400, "{var}: the error echoes the value: {e}");
    }
    // In the file, a wrong type names the key.
    let e = err_text("[database]\nreplica_url = 5\n", &[]);
    assert!(e.contains("replica_url"), "{e}");
    let e = err_text("[database]\nreplica_max_lag_ms = -5\n", &[]);
    assert!(e.contains("replica_max_lag_ms"), "{e}");
}

#[test]
fn the_replica_password_never_prints() {
    for url in [
        "postgres://u:replica-secret-1@h/x?sslmode=bogus",
        "postgres://u:replica-secret-1@h:99999/x",
        "postgres://u:replica-secret-1@h/x?nonsense=1",
        "mysql://u:replica-secret-1@h/x",
    ] {
        let e = err_text("", &[("FLEETD_DATABASE_REPLICA_URL", url)]);
        assert!(!e.contains("replica-secret-1"), "{url}: {e}");
    }
    let (c, _) = load_str(
        "",
        &[(
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u:replica-secret-1@standby/x",
        )],
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("replica-secret-1"));
    let shown = c.redacted_toml();
    assert!(!shown.contains("replica-secret-1"), "{shown}");
    assert!(shown.contains("postgres://u:***@standby/x"), "{shown}");
}
