//! Bad replica settings stop `fleetd` before it starts, naming the key and its variable,
//! never the password; a good one is shown with the password hidden.

use crate::common::fleetd_cli;

fn fleetd(env: &[(&str, &str)]) -> (i32, String) {
    fleetd_cli(&["check-config"], env)
}

#[test]
fn bad_replica_settings_are_refused_naming_the_key_and_never_the_password() {
    let primary = (
        "FLEETD_DATABASE_URL",
        "postgres://u:primary-pw-7@db:5432/fleetd",
    );
    let cases = [
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "mysql://u:replica-pw-7@standby/fleetd",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u:replica-pw-7@standby/fleetd?sslmode=maybe",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u:replica-pw-7@standby:70000/fleetd",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u:replica-pw-7@/fleetd",
        ),
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "host=standby password=replica-pw-7",
        ),
        ("FLEETD_DATABASE_REPLICA_URL", primary.1),
        ("FLEETD_DATABASE_REPLICA_POOL_SIZE", "0"),
        ("FLEETD_DATABASE_REPLICA_POOL_SIZE", "lots"),
        ("FLEETD_DATABASE_REPLICA_MAX_LAG_MS", "10"),
        ("FLEETD_DATABASE_REPLICA_MAX_LAG_MS", "-1"),
    ];
    for (var, value) in cases {
        let (code, out) = fleetd(&[primary, (var, value)]);
        assert_eq!(code, 2, "{var}={value}: {out}");
        let key = var
            .trim_start_matches("FLEETD_DATABASE_")
            .to_ascii_lowercase();
        assert!(
            out.contains(&format!("database.{key}")) && out.contains(var),
            "{var}={value}: {out}"
        );
        for pw in ["replica-pw-7", "primary-pw-7"] {
            assert!(!out.contains(pw), "{var}: {pw} printed: {out}");
        }
    }

    let (code, out) = fleetd(&[
        primary,
        (
            "FLEETD_DATABASE_REPLICA_URL",
            "postgres://u:replica-pw-7@standby:5433/fleetd?sslmode=require",
        ),
        ("FLEETD_DATABASE_REPLICA_MAX_LAG_MS", "2000"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("replica_url = \"postgres://u:***@standby:5433/fleetd?sslmode=require\""),
        "{out}"
    );
    assert!(out.contains("replica_max_lag_ms = 2000"), "{out}");
    assert!(!out.contains("replica-pw-7"), "{out}");
}
