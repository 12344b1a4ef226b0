//! Schema migrations: numbered plain SQL files in `migrations/`, each applied once in its
//! own transaction and recorded in `fleetd_migrations`. A session advisory lock makes two
//! daemons starting at once apply them one after the other.

use tokio_postgres::Client;

/// Every migration, in order. Never edit one that has shipped: add a new file.
///
/// There is no version 3: the number was skipped when the dispatch schema was written, and
/// versions are never renumbered, because a database records the versions it has applied
/// (renumbering 4 to 3 would make an existing database apply the dispatch schema again).
/// The next migration is 17.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "telemetry",
        sql: include_str!("../migrations/0001_telemetry.sql"),
    },
    Migration {
        version: 2,
        name: "fleet_api",
        sql: include_str!("../migrations/0002_fleet_api.sql"),
    },
    Migration {
        version: 4,
        name: "dispatch",
        sql: include_str!("../migrations/0004_dispatch.sql"),
    },
    Migration {
        version: 5,
        name: "accounts",
        sql: include_str!("../migrations/0005_accounts.sql"),
    },
    Migration {
        version: 6,
        name: "tracker_credentials",
        sql: include_str!("../migrations/0006_tracker_credentials.sql"),
    },
    Migration {
        version: 7,
        name: "vehicle_removals",
        sql: include_str!("../migrations/0007_vehicle_removals.sql"),
    },
    Migration {
        version: 8,
        name: "time_rules",
        sql: include_str!("../migrations/0008_time_rules.sql"),
    },
    Migration {
        version: 9,
        name: "refresh_tokens",
        sql: include_str!("../migrations/0009_refresh_tokens.sql"),
    },
    Migration {
        version: 10,
        name: "audit_log",
        sql: include_str!("../migrations/0010_audit_log.sql"),
    },
    Migration {
        version: 11,
        name: "row_security",
        sql: include_str!("../migrations/0011_row_security.sql"),
    },
    Migration {
        version: 12,
        name: "broker_sessions",
        sql: include_str!("../migrations/0012_broker_sessions.sql"),
    },
    Migration {
        version: 13,
        name: "trips",
        sql: include_str!("../migrations/0013_trips.sql"),
    },
    Migration {
        version: 14,
        name: "rollups",
        sql: include_str!("../migrations/0014_rollups.sql"),
    },
    Migration {
        version: 15,
        name: "reports",
        sql: include_str!("../migrations/0015_reports.sql"),
    },
    Migration {
        version: 16,
        name: "segment_lag",
        sql: include_str!("../migrations/0016_segment_lag.sql"),
    },
    Migration {
        version: 17,
        name: "events",
        sql: include_str!("../migrations/0017_events.sql"),
    },
    Migration {
        version: 18,
        name: "webhooks",
        sql: include_str!("../migrations/0018_webhooks.sql"),
    },
    Migration {
        version: 19,
        name: "trip_events",
        sql: include_str!("../migrations/0019_trip_events.sql"),
    },
    Migration {
        version: 20,
        name: "event_publishers",
        sql: include_str!("../migrations/0020_event_publishers.sql"),
    },
    Migration {
        version: 21,
        name: "geofences",
        sql: include_str!("../migrations/0021_geofences.sql"),
    },
    Migration {
        version: 22,
        name: "geofence_members",
        sql: include_str!("../migrations/0022_geofence_members.sql"),
    },
    Migration {
        version: 23,
        name: "maintenance_schedules",
        sql: include_str!("../migrations/0023_maintenance_schedules.sql"),
    },
    Migration {
        version: 24,
        name: "alerts",
        sql: include_str!("../migrations/0024_alerts.sql"),
    },
    Migration {
        version: 25,
        name: "alert_states",
        sql: include_str!("../migrations/0025_alert_states.sql"),
    },
    Migration {
        version: 26,
        name: "ledger",
        sql: include_str!("../migrations/0026_ledger.sql"),
    },
    Migration {
        version: 28,
        name: "locations",
        sql: include_str!("../migrations/0028_locations.sql"),
    },
    Migration {
        version: 29,
        name: "invoices",
        sql: include_str!("../migrations/0029_invoices.sql"),
    },
    Migration {
        version: 30,
        name: "ledger_periods",
        sql: include_str!("../migrations/0030_ledger_periods.sql"),
    },
];

/// Advisory lock key held while migrating ("fleetd" + "mig" in ASCII, arbitrary but fixed).
const LOCK_KEY: i64 = 0x666c_6565_7464_6d67;

/// One numbered SQL file.
#[derive(Debug)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database refused a statement or the connection broke.
    #[error("migration {version} ({name}): {source}")]
    Apply {
        version: i32,
        name: &'static str,
        source: tokio_postgres::Error,
    },
    /// Bookkeeping around the migrations failed.
    #[error("migration bookkeeping: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// A migration recorded as applied differs from the file now shipped.
    #[error("migration {version} ({name}) was changed after it was applied (checksum {recorded} in the database, {shipped} now)")]
    Changed {
        version: i32,
        name: &'static str,
        recorded: String,
        shipped: String,
    },
    /// The database has a migration this build does not know: it was migrated by a newer fleetd.
    #[error("database is at migration {0}, newer than this build knows")]
    TooNew(i32),
}

/// Applies every pending migration and returns the versions applied now.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply_pending(client).await;
    // Released even when applying failed, so another daemon can try.
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    let applied = result?;
    unlock?;
    Ok(applied)
}

async fn apply_pending(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    // In a transaction so that the quieter notice level ends with it: an existing table is
    // answered with a NOTICE, which the driver would log at INFO on every start.
    let tx = client.transaction().await?;
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning;
         CREATE TABLE IF NOT EXISTS fleetd_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    tx.commit().await?;
    let rows = client
        .query("SELECT version, checksum FROM fleetd_migrations", &[])
        .await?;
    let recorded: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    if let Some(max) = recorded.iter().map(|(v, _)| *v).max() {
        if !MIGRATIONS.iter().any(|m| m.version == max) {
            return Err(MigrateError::TooNew(max));
        }
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let shipped = checksum(m.sql);
        if let Some((_, sum)) = recorded.iter().find(|(v, _)| *v == m.version) {
            if *sum != shipped {
                return Err(MigrateError::Changed {
                    version: m.version,
                    name: m.name,
                    recorded: sum.clone(),
                    shipped,
                });
            }
            continue;
        }
        let apply_err = |source| MigrateError::Apply {
            version: m.version,
            name: m.name,
            source,
        };
        let tx = client.transaction().await?;
        tx.batch_execute(m.sql).await.map_err(apply_err)?;
        tx.execute(
            "INSERT INTO fleetd_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &shipped],
        )
        .await?;
        tx.commit().await.map_err(apply_err)?;
        applied.push(m.version);
    }
    Ok(applied)
}

/// FNV-1a 64 of the file: enough to notice an edited migration, no crypto needed.
fn checksum(sql: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing_and_files_numbered_alike() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last);
            last = m.version;
        }
        let mut files: Vec<_> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".sql"))
                .collect();
        files.sort();
        assert_eq!(
            files.len(),
            MIGRATIONS.len(),
            "every migration file is listed"
        );
        for (f, m) in files.iter().zip(MIGRATIONS) {
            assert_eq!(*f, format!("{:04}_{}.sql", m.version, m.name));
        }
    }

    #[test]
    fn checksum_changes_with_content() {
        assert_ne!(checksum("a"), checksum("b"));
        assert_eq!(checksum("a"), checksum("a"));
    }
}
