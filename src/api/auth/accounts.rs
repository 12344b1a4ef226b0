//! Whether a token's user may still act: the user exists, is active, has the token's role and
//! is still at the token's `token_version`. A correct signature is not enough, so a deleted,
//! disabled or demoted user, a changed password or a logout ends every older token at once.
//!
//! Each daemon caches users' states in memory ([`Accounts`]), so the check costs a hash
//! lookup. The cache is exact, not a TTL: the `users` table notifies `fleetd_users` with the
//! user's id on every update and delete, [`listen`] forgets that user, and the next request
//! reads the row again. While the notification connection is down nothing is cached (every
//! check reads PostgreSQL), and each (re)connection starts from an empty cache, so no
//! notification can be missed. A read that raced with a notification is not cached either
//! (see [`Accounts::lookup`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::roles::Role;
use super::token::Claims;
use crate::api::error::{ApiError, ErrorCode};

/// The channel `users` changes are notified on (payload: the user's id).
pub const CHANNEL: &str = "fleetd_users";
/// Cached users at most; beyond it the cache starts over (bounds memory, costs reads).
const MAX_CACHED: usize = 100_000;
const ACCOUNT: &str = "SELECT role, active, token_version FROM users WHERE id = $1";

/// What a token is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub role: Role,
    pub active: bool,
    pub version: i32,
}

/// A cache lookup: the cached state (`None` inside: no such user), or the epoch to store a
/// fresh read under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit(Option<Account>),
    Miss(u64),
}

/// Users' states, cached while [`listen`] is connected.
#[derive(Debug)]
pub struct Accounts {
    /// A std lock: held for one map operation, never across an `.await`.
    cache: Mutex<HashMap<Uuid, Option<Account>>>,
    /// Bumped by every invalidation: a read that started before one is not cached.
    epoch: AtomicU64,
    /// Whether notifications are being received (otherwise nothing is cached).
    listening: AtomicBool,
    /// Counts invalidations, for long-lived answers (event streams) to check their token
    /// again when some user changed.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::new()
    }
}

impl Accounts {
    pub fn new() -> Accounts {
        Accounts {
            cache: Mutex::default(),
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Wakes whenever some user's state may have changed (or the cache was reset).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The cached state of `id`, or the epoch a read of it must be stored under.
    pub fn lookup(&self, id: Uuid) -> Lookup {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(&id) {
            Some(account) => Lookup::Hit(*account),
            // Read under the lock: an invalidation after this bumps it past `epoch`.
            None => Lookup::Miss(self.epoch.load(Ordering::SeqCst)),
        }
    }

    /// Caches a read of `id` that started at `epoch`, unless an invalidation came between
    /// or notifications are not being received.
    pub fn store(&self, id: Uuid, epoch: u64, account: Option<Account>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if !self.listening.load(Ordering::SeqCst) || self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(id, account);
    }

    /// Forgets `id` (its row changed).
    pub fn forget(&self, id: Uuid) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        cache.remove(&id);
        drop(cache);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Forgets everyone and sets whether notifications are being received.
    pub fn reset(&self, listening: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.listening.store(listening, Ordering::SeqCst);
        cache.clear();
        drop(cache);
        self.changes.send_modify(|n| *n += 1);
    }

    /// The state of `id`, from the cache or PostgreSQL.
    pub async fn get(&self, pool: &Pool, id: Uuid) -> Result<Option<Account>, ApiError> {
        let epoch = match self.lookup(id) {
            Lookup::Hit(account) => return Ok(account),
            Lookup::Miss(epoch) => epoch,
        };
        let client = pool.get().await?;
        let row = client.query_opt(ACCOUNT, &[&id]).await?;
        let account = match row {
            None => None,
            Some(r) => Some(Account {
                role: Role::parse(r.get(0))
                    .ok_or_else(|| ApiError::internal("unknown role in users"))?,
                active: r.get(1),
                version: r.get(2),
            }),
        };
        self.store(id, epoch, account);
        Ok(account)
    }

    /// 401 `token_revoked` unless the token's user is active, in the token's role, at the
    /// token's version.
    pub async fn check(&self, pool: &Pool, claims: &Claims) -> Result<(), ApiError> {
        match self.get(pool, claims.sub).await? {
            Some(a) if a.active && a.role == claims.role && a.version == claims.ver => Ok(()),
            _ => Err(ApiError::new(
                ErrorCode::TokenRevoked,
                "the token was revoked; log in again",
            )),
        }
    }
}

/// Receives `users` notifications into `accounts` until `shutdown`, reconnecting with a
/// growing pause. The connection is its own: a pooled one would be recycled and its
/// `LISTEN` lost.
pub async fn listen(accounts: Arc<Accounts>, pg: crate::db::PgTarget, shutdown: CancellationToken) {
    crate::db::invalidate_on_notify(
        "users listener",
        CHANNEL,
        pg,
        shutdown,
        |listening| accounts.reset(listening),
        |payload| match payload.parse::<Uuid>() {
            Ok(id) => accounts.forget(id),
            Err(_) => {
                tracing::warn!(payload, "unreadable users notification");
                accounts.reset(true);
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(version: i32) -> Option<Account> {
        Some(Account {
            role: Role::Dispatcher,
            active: true,
            version,
        })
    }

    #[test]
    fn nothing_is_cached_until_notifications_flow() {
        let a = Accounts::new();
        let id = Uuid::new_v4();
        let Lookup::Miss(e) = a.lookup(id) else {
            panic!("empty cache")
        };
        a.store(id, e, account(0));
        assert!(matches!(a.lookup(id), Lookup::Miss(_)), "not listening");
        a.reset(true);
        let Lookup::Miss(e) = a.lookup(id) else {
            panic!("reset empties")
        };
        a.store(id, e, account(0));
        assert_eq!(a.lookup(id), Lookup::Hit(account(0)));
        a.store(Uuid::nil(), e, None);
        assert_eq!(
            a.lookup(Uuid::nil()),
            Lookup::Hit(None),
            "absence is cached"
        );
        a.reset(false);
        assert!(
            matches!(a.lookup(id), Lookup::Miss(_)),
            "a lost connection forgets"
        );
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_cached() {
        let a = Accounts::new();
        a.reset(true);
        let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
        let Lookup::Miss(e) = a.lookup(id) else {
            panic!()
        };
        // The row changes (and is notified) while the old version is being read.
        a.forget(other);
        a.store(id, e, account(0));
        assert!(matches!(a.lookup(id), Lookup::Miss(_)));
        // A change forgets the cached state.
        let Lookup::Miss(e) = a.lookup(id) else {
            panic!()
        };
        a.store(id, e, account(1));
        assert_eq!(a.lookup(id), Lookup::Hit(account(1)));
        a.forget(id);
        assert!(matches!(a.lookup(id), Lookup::Miss(_)));
    }
}
