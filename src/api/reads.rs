//! The read-heavy routes' access to the database: the replica while it is usable
//! ([`crate::replica`]), else the primary, never an error of the replica's making.
//!
//! A handler reads in a loop that runs at most twice:
//!
//! ```ignore
//! let rows = loop {
//!     let tx = reads.begin(As::Caller).await?;
//!     let answer = async { may_see(&tx, &caller, &id).await?; Ok(tx.query(SQL, &[&id]).await?) };
//!     if let Some(answer) = reads.settle(tx, answer.await) {
//!         break answer?;
//!     }
//! };
//! ```
//!
//! [`Reads::begin`] opens a read-only transaction in the request's unit
//! ([`super::middleware::txn`], so a timeout cancels it and the layer ends it as any other):
//! on the replica when the monitor last found it reachable and within
//! `database.replica_max_lag_ms`, else (or when the replica refuses the connection) on the
//! primary. [`Reads::settle`] gives the answer back, or `None` to read again, on the primary,
//! when the replica failed it: the connection lost (a 503), a query cancelled by a recovery
//! conflict (a 409 `concurrent_update`), or a 404 or 403, which may only mean the replica has
//! not yet replayed the vehicle just registered or the driver just seated.
//!
//! (A closure run twice would read better, but an async closure over a borrowed client makes
//! the handler's future fail axum's `Send` check, rust-lang/rust#110338.)
//!
//! The transaction is opened exactly as on the primary: in the caller's scope ([`As::Caller`],
//! `SET LOCAL ROLE fleetd_api` and the caller's settings, so row-level security gives the same
//! rows, the replica's user having passed the same role check), or as the daemon's own user
//! for routes that never had a scope ([`As::Daemon`]).

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use deadpool_postgres::Pool;
use tokio::sync::OwnedMutexGuard;

use super::error::{ApiError, ErrorCode};
use super::middleware::txn::{Slot, Unit};
use super::state::AppState;
use crate::replica::metrics::ReplicaMetrics;
use crate::replica::Replica;

/// Whose read it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    /// The caller's, under row-level security, as every `/v1` transaction.
    Caller,
    /// The daemon's own user, for the routes that read outside a scoped transaction
    /// (staff-only, over tables without policies).
    Daemon,
}

/// A handler's reads.
pub struct Reads {
    unit: Unit,
    primary: Pool,
    replica: Option<Arc<Replica>>,
    metrics: Arc<ReplicaMetrics>,
    /// The replica failed this request's read once: the next attempt reads the primary.
    replica_failed: AtomicBool,
}

impl FromRequestParts<Arc<AppState>> for Reads {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Reads, ApiError> {
        let unit = parts
            .extensions
            .get::<Unit>()
            .cloned()
            .ok_or_else(|| ApiError::internal("route is outside the transaction layer"))?;
        Ok(Reads {
            unit,
            primary: state.pool.clone(),
            replica: state.replica.clone(),
            metrics: state.metrics.replica.clone(),
            replica_failed: false.into(),
        })
    }
}

/// One attempt's read-only transaction; derefs to its client.
pub struct ReadTx {
    slot: OwnedMutexGuard<Slot>,
    on_replica: bool,
}

impl Deref for ReadTx {
    type Target = tokio_postgres::Client;

    fn deref(&self) -> &tokio_postgres::Client {
        self.slot
            .client()
            .expect("a ReadTx is only made with an open transaction")
    }
}

impl Reads {
    /// Opens the attempt's read-only transaction as `who`: on the replica when it is usable
    /// and has not failed this request yet, else on the primary.
    pub async fn begin(&self, who: As) -> Result<ReadTx, ApiError> {
        let mut slot = self.unit.lock().await;
        let begin = match who {
            As::Caller => slot.scope().begin_read_only_sql(),
            As::Daemon => "BEGIN READ ONLY".to_string(),
        };
        if let Some(replica) = self.usable_replica() {
            match slot.begin_with(&replica.pool, &begin).await {
                Ok(_) => {
                    return Ok(ReadTx {
                        slot,
                        on_replica: true,
                    })
                }
                Err(error) => {
                    tracing::warn!(
                        error = %error.message,
                        "cannot begin a read on the replica; reading the primary"
                    );
                    slot.discard();
                    replica.lost();
                    replica.retried();
                    self.replica_failed.store(true, Ordering::Relaxed);
                }
            }
        }
        slot.begin_with(&self.primary, &begin).await?;
        Ok(ReadTx {
            slot,
            on_replica: false,
        })
    }

    /// The attempt's answer, or `None` when the replica failed it and it is to be read
    /// again ([`Reads::begin`] then opens it on the primary).
    pub fn settle<T>(
        &self,
        mut tx: ReadTx,
        answer: Result<T, ApiError>,
    ) -> Option<Result<T, ApiError>> {
        let replica = match (&self.replica, tx.on_replica) {
            (Some(replica), true) => replica,
            _ => {
                crate::replica::count_read(&self.metrics, false);
                return Some(answer);
            }
        };
        match &answer {
            Err(error) if ask_the_primary(error) => {
                let lost = tx.slot.client().is_none_or(|c| c.is_closed());
                tx.slot.discard();
                if lost {
                    tracing::warn!(
                        error = %error.message,
                        "the replica lost a read's connection; reading the primary"
                    );
                    replica.lost();
                }
                if error.status.is_server_error() || error.code == ErrorCode::ConcurrentUpdate {
                    replica.retried();
                }
                self.replica_failed.store(true, Ordering::Relaxed);
                None
            }
            _ => {
                replica.served(true);
                Some(answer)
            }
        }
    }

    fn usable_replica(&self) -> Option<&Arc<Replica>> {
        if self.replica_failed.load(Ordering::Relaxed) {
            return None;
        }
        self.replica.as_ref().filter(|r| r.usable())
    }
}

/// Whether the replica's answer is to be asked of the primary again: its failures (a lost
/// or refused connection is a 503; a recovery conflict, SQLSTATE 40001, a 409
/// `concurrent_update`), and the answers its lag can explain (404, 403).
fn ask_the_primary(e: &ApiError) -> bool {
    e.status.is_server_error()
        || e.code == ErrorCode::ConcurrentUpdate
        || e.status.as_u16() == 404
        || e.status.as_u16() == 403
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_answers_the_lag_explains_go_to_the_primary() {
        assert!(ask_the_primary(&ApiError::unavailable(
            "database unavailable"
        )));
        assert!(ask_the_primary(&ApiError::new(
            ErrorCode::ConcurrentUpdate,
            "a concurrent request changed this; retry"
        )));
        assert!(ask_the_primary(&ApiError::not_found("vehicle")));
        assert!(ask_the_primary(&ApiError::forbidden("not yours")));
        assert!(!ask_the_primary(&ApiError::invalid(
            "to",
            "must be after from"
        )));
    }
}
