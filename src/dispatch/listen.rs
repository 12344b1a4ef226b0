//! One PostgreSQL connection that `LISTEN`s: roster changes update [`Roster`], job events go
//! to the push streams ([`super::Dispatch::events`]) and wake the matcher.
//!
//! The connection is its own (not from the pool: a pooled connection would be recycled and
//! its `LISTEN` lost). On every (re)connect the roster is reloaded whole after `LISTEN` is in
//! place, so no change falls between the two. Notifications that arrive together are
//! coalesced into one query; a flood (a bulk import of drivers) becomes one full reload.
//!
//! Job transitions committed while the connection was down are never notified. So that no
//! stream silently misses one, every reconnect after the first session sends
//! [`JobFeed::Gap`]: the streams tell their clients to re-read the jobs they follow.

use std::collections::HashSet;
use std::sync::Arc;

use deadpool_postgres::{Pool, PoolError};
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use super::jobs::{JobEvent, JobState};
use super::roster::{Change, Roster};

pub const ROSTER_CHANNEL: &str = "fleetd_roster";
pub const JOBS_CHANNEL: &str = "fleetd_jobs";
/// More changes than this at once are cheaper as one full reload.
const RELOAD_ABOVE: usize = 512;
/// Notifications read off the connection but not yet handled. When full, the connection is
/// not read: PostgreSQL queues the rest (its notification queue is far larger), so a burst
/// costs latency, never memory here.
const NOTIFICATION_QUEUE: usize = 8192;

/// What the job streams receive, in commit order.
#[derive(Debug, Clone)]
pub enum JobFeed {
    /// A committed job transition.
    Event(Arc<JobEvent>),
    /// The notification connection was re-established: transitions committed while it was
    /// down were not seen here.
    Gap,
}

/// Why a listening session ended.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The notification connection or a query on it failed.
    #[error("postgresql: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No pooled connection for a roster query.
    #[error("connection pool: {0}")]
    Pool(#[from] PoolError),
    /// The task reading notifications panicked or was cancelled.
    #[error("notification reader: {0}")]
    Reader(#[from] tokio::task::JoinError),
    /// The server closed the notification connection.
    #[error("the notification connection closed")]
    Closed,
}

/// What the listener feeds.
pub struct Listener {
    pub pg: crate::db::PgTarget,
    pub pool: Pool,
    pub roster: Arc<Roster>,
    pub events: broadcast::Sender<JobFeed>,
    pub wake: Arc<Notify>,
}

impl Listener {
    /// Listens until `shutdown`, reconnecting with a growing pause.
    pub async fn run(self, shutdown: CancellationToken) {
        // Set once a session has listened: from then on a reconnect may have missed events.
        let listened = std::sync::atomic::AtomicBool::new(false);
        crate::db::reconnecting("dispatch listener", &shutdown, || self.session(&listened)).await
    }

    async fn session(&self, listened: &std::sync::atomic::AtomicBool) -> Result<(), ListenError> {
        let (client, connection) = self.pg.connect().await?;
        let (mut rx, driver) = crate::db::forward_notifications(connection, NOTIFICATION_QUEUE);
        client
            .batch_execute(&format!("LISTEN {ROSTER_CHANNEL}; LISTEN {JOBS_CHANNEL}"))
            .await?;
        if listened.swap(true, std::sync::atomic::Ordering::Relaxed) {
            // No receivers is normal: nobody is streaming.
            let _ = self.events.send(JobFeed::Gap);
        }
        self.reload().await?;
        while let Some(first) = rx.recv().await {
            let mut changes = HashSet::new();
            let mut pending = Some(first);
            while let Some((channel, payload)) = pending.take().or_else(|| rx.try_recv().ok()) {
                if channel == ROSTER_CHANNEL {
                    match Change::parse(&payload) {
                        Some(c) => {
                            changes.insert(c);
                        }
                        None => tracing::warn!(payload, "unreadable roster notification"),
                    }
                } else {
                    self.job_event(&payload);
                }
                if changes.len() > RELOAD_ABOVE * 4 {
                    break;
                }
            }
            if changes.len() > RELOAD_ABOVE {
                self.reload().await?;
            } else if !changes.is_empty() {
                let changes: Vec<Change> = changes.into_iter().collect();
                let client = self.pool.get().await?;
                self.roster.refresh(&**client, &changes).await?;
            }
        }
        driver.await??;
        Err(ListenError::Closed)
    }

    async fn reload(&self) -> Result<(), ListenError> {
        let client = self.pool.get().await?;
        let n = self.roster.reload(&**client).await?;
        tracing::debug!(seats = n, "roster loaded");
        Ok(())
    }

    fn job_event(&self, payload: &str) {
        match serde_json::from_str::<JobEvent>(payload) {
            Ok(event) => {
                // A job back to pending (created, declined, expired elsewhere) may be
                // matchable now.
                if event.state == JobState::Pending {
                    self.wake.notify_one();
                }
                // No receivers is normal: nobody is streaming.
                let _ = self.events.send(JobFeed::Event(Arc::new(event)));
            }
            Err(error) => tracing::warn!(%error, payload, "unreadable job notification"),
        }
    }
}
