//! The replica's monitor: once a second it reads the primary's WAL position, then, over a
//! connection of its own, the replica's recovery state, whether it has replayed that far,
//! and the age of its newest replayed commit; [`super::health`] turns that into the lag
//! bound. Requests never measure anything: they read what the last check found.
//!
//! Logs only changes (the replica taken into use, or given up and why), so an outage of the
//! replica is one warning, not one a second.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::time::{timeout, Instant, MissedTickBehavior};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::health::{Sample, State};
use super::Replica;

/// How often the replica is checked.
pub const PERIOD: Duration = Duration::from_secs(1);
/// How long the primary's or the replica's query may take; longer counts as failed.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The primary's WAL position: what a caught-up replica has replayed.
const PRIMARY_LSN: &str = "SELECT pg_current_wal_lsn()::text";

/// On the replica, with `$1` the primary's position (NULL when the primary did not answer:
/// then everything received counts). The age is clamped at 0 against clock skew.
const SAMPLE: &str = "
    SELECT pg_is_in_recovery(),
           CASE WHEN $1::text IS NOT NULL
                THEN pg_last_wal_replay_lsn() >= $1::text::pg_lsn
                ELSE pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() END,
           greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::float8";

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
enum CheckError {
    /// The replica refused, dropped or never answered the connection or the query.
    #[error("{0}")]
    Db(#[from] tokio_postgres::Error),
    /// No answer within the time allowed.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// What a check found.
enum Found {
    Sample(Sample),
    /// Its user may not act as `fleetd_api` while the primary's may.
    RoleMismatch,
}

/// The monitor of one replica.
pub struct Monitor {
    pub replica: Arc<Replica>,
    /// The primary's pool (the API's), for its WAL position.
    pub primary: Pool,
    /// Whether the API's transactions take role `fleetd_api` on the primary
    /// ([`crate::db::api_role`]): then the replica's user must be able to as well.
    pub api_role: bool,
    /// `database.connect_timeout_ms`.
    pub connect_timeout: Duration,
}

/// The monitor's connection to the replica, and whether its user passed the role check.
struct Session {
    client: Client,
    role_ok: bool,
}

impl Monitor {
    /// Checks every [`PERIOD`] until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut session: Option<Session> = None;
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut was = (State::Starting.name(), false);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let found = tokio::select! {
                found = self.check(&mut session) => found,
                _ = stop.cancelled() => return,
            };
            let now = Instant::now();
            let (health, error) = match found {
                Ok(Found::Sample(sample)) => {
                    (self.replica.update(|h| h.observe(sample, now)), None)
                }
                Ok(Found::RoleMismatch) => (
                    self.replica.update(|h| h.set(State::RoleMismatch, now)),
                    None,
                ),
                Err(error) => {
                    session = None;
                    (
                        self.replica.update(|h| h.set(State::Unreachable, now)),
                        Some(error),
                    )
                }
            };
            let usable = health.usable(self.replica.max_lag, now);
            let is = (health.state.name(), usable);
            if is != was {
                let lag_ms = health.lag_at(now).map(|l| l.as_millis() as u64);
                match (usable, error) {
                    (true, _) => tracing::info!(?lag_ms, "reading the replica"),
                    (false, Some(error)) => tracing::warn!(
                        %error,
                        "replica unreachable; its routes read the primary"
                    ),
                    (false, None) => tracing::warn!(
                        state = health.state.name(),
                        ?lag_ms,
                        max_lag_ms = self.replica.max_lag.as_millis() as u64,
                        "replica not read (behind, not a standby, or its user cannot take role \
                         fleetd_api); its routes read the primary"
                    ),
                }
                was = is;
            }
        }
    }

    /// One check: the primary's position, then the replica's sample over `session`
    /// (connected first if need be).
    async fn check(&self, session: &mut Option<Session>) -> Result<Found, CheckError> {
        let primary_lsn = self.primary_lsn().await;
        if session.as_ref().is_none_or(|s| s.client.is_closed()) {
            *session = Some(self.connect().await?);
        }
        let s = session.as_ref().expect("connected above");
        if !s.role_ok {
            return Ok(Found::RoleMismatch);
        }
        let row = timeout(QUERY_TIMEOUT, s.client.query_one(SAMPLE, &[&primary_lsn]))
            .await
            .map_err(|_| CheckError::Timeout(QUERY_TIMEOUT))??;
        Ok(Found::Sample(Sample {
            in_recovery: row.get(0),
            caught_up: row.get::<_, Option<bool>>(1).unwrap_or(false),
            replay_age: row
                .get::<_, Option<f64>>(2)
                .filter(|s| s.is_finite())
                .map(Duration::from_secs_f64),
        }))
    }

    /// The primary's WAL position, or `None` if it does not answer in time (the replica is
    /// then judged on what it has received).
    async fn primary_lsn(&self) -> Option<String> {
        let query = async {
            let client = self.primary.get().await.ok()?;
            let row = client.query_one(PRIMARY_LSN, &[]).await.ok()?;
            row.get::<_, Option<String>>(0)
        };
        timeout(QUERY_TIMEOUT, query).await.ok().flatten()
    }

    async fn connect(&self) -> Result<Session, CheckError> {
        let mut target = self.replica.target.clone();
        target.config.application_name("fleetd-replica-monitor");
        target.config.connect_timeout(self.connect_timeout);
        let (client, connection) = timeout(self.connect_timeout, target.connect())
            .await
            .map_err(|_| CheckError::Timeout(self.connect_timeout))??;
        tokio::spawn(async move {
            // Its end (or error) shows as a closed client at the next check.
            let _ = connection.await;
        });
        let role_ok = !self.api_role
            || timeout(QUERY_TIMEOUT, crate::db::api_role(&client))
                .await
                .map_err(|_| CheckError::Timeout(QUERY_TIMEOUT))??;
        Ok(Session { client, role_ok })
    }
}
