//! `fleetd broker sessions`: the persistent sessions of the daemon's topic prefix that the
//! broker may hold, and, with `--drop-orphans`, draining and dropping those no running daemon
//! owns (docs/delivery.md, "Sessions nobody owns").
//!
//! Mosquitto cannot list its sessions (the dynamic-security plugin lists accounts; `$SYS`
//! gives totals), so the candidates are the client ids daemons recorded in `broker_sessions`
//! ([`registry`]) plus those named on the command line. Each is owned by this configuration
//! (`{mqtt.client_id}-{n}`, n < `mqtt.connections`), by a running daemon (it refreshed its
//! record less than three minutes ago), or by nobody: an orphan. Only orphans are connected
//! to ([`probe`]): connecting with an id takes its session over, which would disconnect a
//! daemon. An orphan is dropped only after it has been drained into PostgreSQL through the
//! daemon's own decode → COPY path (`ingest::mqtt::drain`), so no reading is lost.

pub mod probe;
pub mod registry;
pub mod render;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, UnknownVehicles};
use crate::ingest::decoders::now_us;
use crate::ingest::mqtt::drain::{self, Drain, DrainError};
use crate::ingest::partitions::Partitions;
use crate::ingest::registry::KnownVehicles;
use crate::ingest::{mqtt, Pipeline};
use crate::metrics::Metrics;
use probe::{Probe, ProbeError, Totals};
use registry::Recorded;

/// What the command was asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Drain, then drop, every orphan's session.
    pub drop_orphans: bool,
    /// More client ids to consider (ids no daemon recorded, from before `broker_sessions`).
    pub client_ids: Vec<String>,
}

/// Why the command failed before it could report.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// A `--client-id` that cannot be a daemon's.
    #[error("--client-id {0:?}: 1-64 characters of [A-Za-z0-9_-], not starting with \"tracker-\"")]
    BadClientId(String),
    /// PostgreSQL refused or is unreachable.
    #[error("database: {0}")]
    Database(String),
    /// The broker is unreachable or refused the daemon's account.
    #[error(transparent)]
    Broker(#[from] ProbeError),
    /// `mqtt.tls_*` names files that are missing or unusable.
    #[error("mqtt TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Who owns a client id's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Named by the configuration the command runs with.
    ThisConfig,
    /// Refreshed by a running daemon within the last three minutes.
    RunningDaemon,
    /// Nobody: its session only collects messages.
    Orphan,
}

/// What was done with a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Listed only.
    None,
    /// Drained (this many messages stored or recorded as rejects), then dropped.
    Dropped { drained: u64 },
    /// The drain or the drop failed; the session keeps whatever was not stored.
    Failed(String),
}

/// One candidate client id.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub client_id: String,
    pub owner: Owner,
    pub recorded: Option<Recorded>,
    /// Whether the broker held a session (`None`: not asked, the id being owned).
    pub session_present: Option<bool>,
    pub action: Action,
}

/// The command's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rows: Vec<Row>,
    pub before: Totals,
    /// After dropping (`None` when nothing was dropped).
    pub after: Option<Totals>,
}

impl Report {
    /// Whether some drain or drop failed.
    pub fn failed(&self) -> bool {
        self.rows
            .iter()
            .any(|r| matches!(r.action, Action::Failed(_)))
    }
}

/// A client id `--client-id` may name: a daemon's (never a tracker's).
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !id.starts_with(crate::config::TRACKER_PREFIX)
}

/// Who owns `id`, given the ids the configuration names and its record.
pub fn owner(id: &str, configured: &[String], recorded: Option<&Recorded>) -> Owner {
    if configured.iter().any(|c| c == id) {
        Owner::ThisConfig
    } else if recorded.is_some_and(|r| r.live) {
        Owner::RunningDaemon
    } else {
        Owner::Orphan
    }
}

/// Every filter a fleetd session of `id` may hold with `prefix` and `groups`: telemetry and
/// canary, plain and shared. Unsubscribing one it does not hold is harmless.
pub fn filters(id: &str, prefix: &str, groups: &[&str]) -> Vec<String> {
    let (telemetry, canary) = (format!("{prefix}/#"), format!("{prefix}-canary/{id}"));
    let mut out = vec![telemetry.clone(), canary.clone()];
    for g in groups {
        for f in [&telemetry, &canary] {
            let shared = format!("$share/{g}/{f}");
            if !out.contains(&shared) {
                out.push(shared);
            }
        }
    }
    out
}

/// Runs the command: lists, and with `drop_orphans` drains and drops.
pub async fn run(config: &Config, options: &Options) -> Result<Report, SessionsError> {
    if let Some(bad) = options.client_ids.iter().find(|i| !valid_client_id(i)) {
        return Err(SessionsError::BadClientId(bad.chars().take(80).collect()));
    }
    let database = |e: &dyn std::fmt::Display| SessionsError::Database(e.to_string());
    let pool = crate::db::pool(&config.database).map_err(|e| database(&e))?;
    let recorded = {
        let mut client = pool.get().await.map_err(|e| database(&e))?;
        crate::migrate::migrate(&mut client)
            .await
            .map_err(|e| database(&e))?;
        registry::list(&**client, &config.mqtt.topic_prefix)
            .await
            .map_err(|e| database(&e))?
    };
    let configured: Vec<String> = (0..config.mqtt.connections as usize)
        .map(|i| mqtt::client_id(&config.mqtt, i))
        .collect();
    let mut ids: Vec<String> = configured.clone();
    ids.extend(recorded.iter().map(|r| r.client_id.clone()));
    ids.extend(options.client_ids.iter().cloned());
    ids.sort();
    ids.dedup();

    let probe = Probe::new(config)?;
    let before = probe.totals().await?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let record = recorded.iter().find(|r| r.client_id == id).cloned();
        let owner = owner(&id, &configured, record.as_ref());
        let mut row = Row {
            client_id: id,
            owner,
            recorded: record,
            session_present: None,
            action: Action::None,
        };
        if owner == Owner::Orphan {
            if options.drop_orphans {
                drop_orphan(config, &probe, &pool, &mut row).await;
            } else {
                row.session_present = Some(probe.session_present(&row.client_id).await?);
            }
        }
        rows.push(row);
    }
    let after = match options.drop_orphans {
        true => Some(probe.totals().await?),
        false => None,
    };
    Ok(Report {
        rows,
        before,
        after,
    })
}

/// Drains `row`'s session into PostgreSQL, then drops it; records the outcome in `row`.
async fn drop_orphan(
    config: &Config,
    probe: &Probe,
    pool: &deadpool_postgres::Pool,
    row: &mut Row,
) {
    let id = row.client_id.clone();
    let (prefix, group) = match &row.recorded {
        Some(r) => (r.topic_prefix.as_str(), r.share_group.as_str()),
        None => (config.mqtt.topic_prefix.as_str(), ""),
    };
    let groups: Vec<&str> = [group, config.mqtt.share_group.as_str()]
        .into_iter()
        .filter(|g| !g.is_empty())
        .collect();
    let drained = match drain_into_database(config, probe, &id, filters(&id, prefix, &groups)).await
    {
        Ok(d) => d,
        Err(error) => {
            row.action = Action::Failed(error);
            return;
        }
    };
    row.session_present = Some(drained.session_present);
    if let Err(error) = probe.drop_session(&id).await {
        row.action = Action::Failed(format!("drained, but not dropped: {error}"));
        return;
    }
    row.action = Action::Dropped {
        drained: drained.messages,
    };
    let marked = match pool.get().await {
        Ok(client) => registry::mark_dropped(&**client, &id)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = marked {
        tracing::warn!(%error, client_id = id, "session dropped, but not recorded as dropped");
    }
}

/// One detached pipeline per session: it is shut down (everything stored) when the drain's
/// marker is in, as the daemon's pipeline is at shutdown.
async fn drain_into_database(
    config: &Config,
    probe: &Probe,
    client_id: &str,
    filters: Vec<String>,
) -> Result<drain::Drained, String> {
    let ingest_pool = crate::db::ingest_pool(&config.database, config.ingest.writers)
        .map_err(|e| format!("database: {e}"))?;
    let partitions = Arc::new(Partitions::new(
        ingest_pool.clone(),
        config.ingest.retention_days,
        config.partitions.days_behind,
        config.partitions.days_ahead,
    ));
    partitions
        .run_pass(now_us())
        .await
        .map_err(|e| format!("database: {e}"))?;
    let stop = CancellationToken::new();
    let known = (config.ingest.unknown_vehicles == UnknownVehicles::Reject).then(|| {
        let known = KnownVehicles::new();
        if let Ok(pg) = crate::db::PgTarget::new(config.database.url.expose()) {
            tokio::spawn(crate::ingest::registry::listen(
                known.clone(),
                pg,
                stop.clone(),
            ));
        }
        known
    });
    let pipeline = Pipeline::start_detached(config, ingest_pool, partitions, Metrics::new(), known)
        .map_err(|e| format!("cannot start decoder threads: {e}"))?;
    let (host, port) = probe.host();
    let result = drain::run(
        Drain {
            host: host.to_string(),
            port,
            transport: probe.transport(),
            mqtt: &config.mqtt,
            client_id: client_id.to_string(),
            filters,
            connect_timeout: probe.timeout(),
            store_deadline: Duration::from_secs(config.shutdown.timeout_s),
        },
        pipeline,
    )
    .await;
    stop.cancel();
    result.map_err(|e: DrainError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(id: &str, live: bool) -> Recorded {
        Recorded {
            client_id: id.into(),
            topic_prefix: "fleet".into(),
            share_group: "g".into(),
            subscription: "shared".into(),
            first_seen: chrono::Utc::now(),
            last_seen: chrono::Utc::now(),
            live,
            dropped_at: None,
        }
    }

    #[test]
    fn the_configuration_and_running_daemons_own_their_ids() {
        let configured = ["fleetd-0".to_string(), "fleetd-1".to_string()];
        // Configured wins even over a stale record: this config's daemon will come back.
        let stale = recorded("fleetd-1", false);
        assert_eq!(
            owner("fleetd-1", &configured, Some(&stale)),
            Owner::ThisConfig
        );
        let live = recorded("other-0", true);
        assert_eq!(
            owner("other-0", &configured, Some(&live)),
            Owner::RunningDaemon
        );
        let gone = recorded("old-3", false);
        assert_eq!(owner("old-3", &configured, Some(&gone)), Owner::Orphan);
        assert_eq!(owner("named-0", &configured, None), Owner::Orphan);
    }

    #[test]
    fn filters_cover_both_modes_and_every_group_once() {
        let f = filters("old-0", "fleet", &["g", "h", "g"]);
        assert_eq!(
            f,
            [
                "fleet/#",
                "fleet-canary/old-0",
                "$share/g/fleet/#",
                "$share/g/fleet-canary/old-0",
                "$share/h/fleet/#",
                "$share/h/fleet-canary/old-0",
            ]
        );
    }

    #[test]
    fn named_client_ids_are_a_daemons_never_a_trackers() {
        assert!(valid_client_id("fleetd-3"));
        assert!(valid_client_id("old_daemon-0"));
        for bad in [
            "",
            "tracker-veh-1",
            "has space",
            "a/b",
            "#",
            &"x".repeat(65),
        ] {
            assert!(!valid_client_id(bad), "{bad:?}");
        }
    }
}
