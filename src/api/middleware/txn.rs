//! One database transaction per API request, committed after the handler answered, so that
//! what a request changes and the answer stored for its `Idempotency-Key`
//! ([`super::idempotency`], which runs first in [`super::transaction`]) are committed
//! together or not at all.
//!
//! A handler takes [`Db`] and calls [`Db::tx`] once it needs the database (after validating
//! its input, so a 422 costs no round trip). The transaction is begun there, on a pooled
//! connection, and [`super::transaction`] finishes it from the response: a success (below
//! 400) commits, an error rolls back. A handler never commits and cannot: [`Tx`] only lends `&Client`, and
//! `Client::transaction` needs `&mut`. A request with an `Idempotency-Key` begins its
//! transaction in the layer, before the handler, by claiming the key; a client error (4xx)
//! then rolls back to a savepoint taken after the claim and stores the answer, a server error
//! rolls everything back, so a retry really retries.
//!
//! If the request is cancelled (the client went away) while its transaction is open, the
//! connection is closed rather than returned to the pool: PostgreSQL rolls it back.
//!
//! Every transaction says whose it is ([`Scope`]), so PostgreSQL's row-level security keeps
//! a customer or a driver to their own rows even where a handler forgot to.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use deadpool_postgres::{Object, Pool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::api::auth::Role;
use crate::api::error::ApiError;
use crate::api::state::AppState;

/// The open transaction of one request, shared by the layer and the handler.
#[derive(Clone, Default)]
pub struct Unit(Arc<Mutex<Slot>>);

/// Whose transaction it is, for row-level security (migration 11): every transaction
/// begins with `SET LOCAL fleetd.user_id` and `fleetd.role` (`anonymous` without a token)
/// and, with `as_api_role`, `SET LOCAL ROLE fleetd_api` so that the policies bind even when
/// fleetd connects as a superuser.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope {
    pub caller: Option<(uuid::Uuid, Role)>,
    pub as_api_role: bool,
}

impl Scope {
    /// The statements that open a transaction in this scope. Only a UUID and a role name
    /// are formatted in, never client text.
    pub fn begin_sql(&self) -> String {
        self.begin_as("BEGIN")
    }

    /// [`Scope::begin_sql`] for a read-only transaction (the replica's routes).
    pub fn begin_read_only_sql(&self) -> String {
        self.begin_as("BEGIN READ ONLY")
    }

    fn begin_as(&self, begin: &str) -> String {
        let (user, role) = match self.caller {
            Some((user, role)) => (user.to_string(), role.as_str()),
            None => (String::new(), "anonymous"),
        };
        let set_role = if self.as_api_role {
            "SET LOCAL ROLE fleetd_api; "
        } else {
            ""
        };
        format!(
            "{begin}; {set_role}SET LOCAL fleetd.user_id = '{user}'; SET LOCAL fleetd.role = '{role}'"
        )
    }
}

/// `Some` while a transaction is open on the connection.
#[derive(Default)]
pub struct Slot {
    conn: Option<Object>,
    scope: Scope,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Still open: the request was dropped mid-way. Closing the connection is the
            // only rollback a synchronous drop can do.
            drop(Object::take(conn));
        }
    }
}

impl Slot {
    /// The open transaction's connection, begun on first use.
    pub async fn begin(&mut self, pool: &Pool) -> Result<&tokio_postgres::Client, ApiError> {
        let sql = self.scope.begin_sql();
        self.begin_with(pool, &sql).await
    }

    /// The open transaction's connection, begun on first use with `sql` on `pool` (the
    /// replica's routes: read-only, on the replica or the primary).
    pub async fn begin_with(
        &mut self,
        pool: &Pool,
        sql: &str,
    ) -> Result<&tokio_postgres::Client, ApiError> {
        if self.conn.is_none() {
            let conn = pool.get().await?;
            if let Err(e) = conn.batch_execute(sql).await {
                // Half begun: never back into the pool.
                drop(Object::take(conn));
                return Err(e.into());
            }
            self.conn = Some(conn);
        }
        Ok(self.client().expect("just begun"))
    }

    /// Whose transaction this is.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Closes the connection without ending its transaction (PostgreSQL rolls it back): the
    /// replica failed a read that is run again on the primary.
    pub fn discard(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }

    pub fn client(&self) -> Option<&tokio_postgres::Client> {
        self.conn.as_deref().map(|c| &**c)
    }

    /// Gives the transaction up without waiting for it: cancels the statement running on
    /// its connection (a handler that timed out may have left one waiting on a lock), then
    /// closes the connection, which rolls the transaction back.
    pub async fn abandon(&mut self, pg: &crate::db::PgTarget) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.cancel_token().cancel_query(pg.tls.clone()).await;
            drop(Object::take(conn));
        }
    }

    /// Ends the transaction with `sql` (`COMMIT`, `ROLLBACK`); the connection goes back to
    /// the pool, or is closed if ending failed.
    pub async fn end(&mut self, sql: &str) -> Result<(), tokio_postgres::Error> {
        let Some(conn) = self.conn.as_ref() else {
            return Ok(());
        };
        let result = conn.batch_execute(sql).await;
        let conn = self.conn.take().expect("checked above");
        if result.is_err() {
            drop(Object::take(conn));
        }
        result
    }
}

impl Unit {
    /// A request's unit, whose transaction will run in `scope`.
    pub fn scoped(scope: Scope) -> Unit {
        Unit(Arc::new(Mutex::new(Slot { conn: None, scope })))
    }

    /// Locks the request's transaction slot.
    pub async fn lock(&self) -> OwnedMutexGuard<Slot> {
        self.0.clone().lock_owned().await
    }
}

/// A handler's access to its request's transaction.
pub struct Db {
    unit: Unit,
    pool: Pool,
}

impl Db {
    /// The request's transaction, begun now if it is not yet. Call it once per handler:
    /// a second call waits for the first [`Tx`] to be dropped.
    pub async fn tx(&self) -> Result<Tx, ApiError> {
        let mut slot = self.unit.lock().await;
        slot.begin(&self.pool).await?;
        Ok(Tx(slot))
    }
}

impl FromRequestParts<Arc<AppState>> for Db {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Db, ApiError> {
        let unit = parts
            .extensions
            .get::<Unit>()
            .cloned()
            .ok_or_else(|| ApiError::internal("route is outside the transaction layer"))?;
        Ok(Db {
            unit,
            pool: state.pool.clone(),
        })
    }
}

/// The open transaction; the layer commits or rolls it back after the handler.
pub struct Tx(OwnedMutexGuard<Slot>);

impl Deref for Tx {
    type Target = tokio_postgres::Client;

    fn deref(&self) -> &tokio_postgres::Client {
        self.0
            .client()
            .expect("a Tx is only made with an open transaction")
    }
}
