//! The PostgreSQL connection pools: one for ingestion (the COPY writers and the partition
//! manager, `database.ingest_pool_size`, application name `fleetd-ingest`) and one for
//! everything else (the API, dispatch, start-up; `database.pool_size`, `fleetd`), so that a
//! flood of API requests can never take the writers' connections, nor a write backlog the
//! API's.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::DatabaseConfig;
use crate::tls::{self, pg_url, TlsError};

/// Why the pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `database.url` is not a PostgreSQL connection string.
    #[error("database.url: {0}")]
    Url(String),
    /// Its TLS settings name a file that is missing or unusable.
    #[error("database.url: {0}")]
    Tls(#[from] TlsError),
    /// `database.replica_url` is not a PostgreSQL connection string.
    #[error("database.replica_url: {0}")]
    ReplicaUrl(String),
    /// The replica's TLS settings name a file that is missing or unusable.
    #[error("database.replica_url: {0}")]
    ReplicaTls(TlsError),
    /// The pool builder refused its settings.
    #[error("building the connection pool: {0}")]
    Build(#[from] deadpool_postgres::BuildError),
}

/// Where and how to connect: `database.url` with its TLS settings (see [`pg_url`]) made
/// into a rustls connector. Cheap to clone.
#[derive(Clone)]
pub struct PgTarget {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// What [`PgTarget::connect`] gives: a client and the connection to drive.
pub type Connection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

impl PgTarget {
    /// Reads `url` and the certificate files it names.
    pub fn new(url: &str) -> Result<PgTarget, DbError> {
        let (config, settings) = pg_url::split(url).map_err(DbError::Url)?;
        let client = tls::client_config(settings.files(), settings.verify())?;
        Ok(PgTarget {
            config,
            tls: MakeRustlsConnect::new(client),
        })
    }

    /// One connection of its own (not pooled).
    pub async fn connect(
        &self,
    ) -> Result<(tokio_postgres::Client, Connection), tokio_postgres::Error> {
        self.config.connect(self.tls.clone()).await
    }
}

/// Builds the API's pool. Connections are made lazily, so this succeeds with the database
/// down.
pub fn pool(config: &DatabaseConfig) -> Result<Pool, DbError> {
    build(config, config.pool_size, "fleetd")
}

/// `database.replica_url` with its TLS settings, read as `database.url` is; `None` without a
/// replica.
pub fn replica_target(config: &DatabaseConfig) -> Result<Option<PgTarget>, DbError> {
    if config.replica_url.is_empty() {
        return Ok(None);
    }
    PgTarget::new(config.replica_url.expose())
        .map(Some)
        .map_err(|e| match e {
            DbError::Url(reason) => DbError::ReplicaUrl(reason),
            DbError::Tls(e) => DbError::ReplicaTls(e),
            other => other,
        })
}

/// Builds the replica's pool (`database.replica_pool_size`, application name
/// `fleetd-replica`), lazily like the others, so a replica that is down does not stop the
/// start.
pub fn replica_pool(config: &DatabaseConfig, target: PgTarget) -> Result<Pool, DbError> {
    build_on(config, target, config.replica_pool_size, "fleetd-replica")
}

/// Builds ingestion's own pool, likewise lazily: `database.ingest_pool_size`, or when that
/// is 0 one connection per writer and one for the partition manager.
pub fn ingest_pool(config: &DatabaseConfig, writers: usize) -> Result<Pool, DbError> {
    let size = match config.ingest_pool_size {
        0 => u32::try_from(writers + 1).unwrap_or(u32::MAX),
        n => n,
    };
    build(config, size, "fleetd-ingest")
}

fn build(config: &DatabaseConfig, size: u32, name: &str) -> Result<Pool, DbError> {
    build_on(config, PgTarget::new(config.url.expose())?, size, name)
}

fn build_on(
    config: &DatabaseConfig,
    target: PgTarget,
    size: u32,
    name: &str,
) -> Result<Pool, DbError> {
    let mut pg = target.config;
    let timeout = Duration::from_millis(config.connect_timeout_ms);
    pg.connect_timeout(timeout);
    pg.application_name(name);
    let manager = Manager::from_config(
        pg,
        target.tls,
        ManagerConfig {
            // Fast recycling skips a round trip per checkout; a broken connection shows up
            // as an error on first use, which the writers classify and retry anyway.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(size as usize)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()?)
}

/// Runs `session` (a `LISTEN` connection's life) again and again until `shutdown`, pausing
/// after each end with a growing, jittered backoff (200 ms up to 10 s); `what` names it in
/// the warning a failed session logs.
pub async fn reconnecting<F, Fut, E>(
    what: &str,
    shutdown: &tokio_util::sync::CancellationToken,
    mut session: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut attempt = 0u32;
    loop {
        let result = tokio::select! {
            r = session() => r,
            _ = shutdown.cancelled() => return,
        };
        if let Err(error) = result {
            tracing::warn!(%error, "{what} lost its connection; reconnecting");
        }
        let delay = crate::retry::backoff(
            attempt,
            Duration::from_millis(200),
            Duration::from_secs(10),
            rand::random(),
        );
        attempt = attempt.saturating_add(1).min(16);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// A connection of its own, for `LISTEN`.
pub type ListenConnection = Connection;
/// Notifications as (channel, payload).
pub type Notifications = tokio::sync::mpsc::Receiver<(String, String)>;
/// The task reading them: ends with the connection's error, if any.
pub type NotificationReader = tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>;

/// Reads `connection`'s notifications into a channel of (channel, payload), at most `queue`
/// waiting (when full, the connection is not read: PostgreSQL queues the rest). The task ends
/// when the connection does (with its error, if any) or the receiver is dropped. A `LISTEN`
/// connection must be its own: a pooled one would be recycled and its `LISTEN` lost.
pub fn forward_notifications(
    mut connection: ListenConnection,
    queue: usize,
) -> (Notifications, NotificationReader) {
    let (tx, rx) = tokio::sync::mpsc::channel(queue);
    let reader = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    let message = (n.channel().to_string(), n.payload().to_string());
                    if tx.send(message).await.is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    (rx, reader)
}

/// Keeps an in-memory cache exact with `channel`'s notifications: LISTENs over a connection
/// of its own, calls `reset(true)` once listening (start caching, from nothing),
/// `on_notify(payload)` for each notification, and `reset(false)` whenever the connection is
/// lost (cache nothing until listening again); reconnects with a backoff until `shutdown`.
pub async fn invalidate_on_notify(
    what: &str,
    channel: &str,
    pg: PgTarget,
    shutdown: tokio_util::sync::CancellationToken,
    reset: impl Fn(bool),
    on_notify: impl Fn(String),
) {
    /// Notifications read but not yet applied; when full, PostgreSQL queues the rest.
    const QUEUE: usize = 1024;
    reconnecting(what, &shutdown, || async {
        let session = async {
            let (client, connection) = pg.connect().await?;
            let (mut rx, reader) = forward_notifications(connection, QUEUE);
            client.batch_execute(&format!("LISTEN {channel}")).await?;
            reset(true);
            while let Some((_, payload)) = rx.recv().await {
                on_notify(payload);
            }
            // The reader never panics; if it did, the connection is gone all the same.
            reader.await.unwrap_or(Ok(()))
        };
        let result: Result<(), tokio_postgres::Error> = session.await;
        reset(false);
        result
    })
    .await
}

/// A status enum stored as `text` under a `CHECK (status IN (...))`, each variant written once
/// with its text: the enum (serde and JSON Schema use that text), `as_str`, `parse`, and
/// `FromSql` so that `row.get("status")` reads it (a value outside the enum is an error, which
/// the CHECK constraint rules out).
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq,
            serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        $vis enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl<'a> tokio_postgres::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                let s = <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw)?;
                $name::parse(s)
                    .ok_or_else(|| format!("{} is not a {}", s, stringify!($name)).into())
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }
    };
}

/// Whether this connection's user may run the API's transactions as `fleetd_api`, the role
/// row-level security binds (migration 11). Logs a warning when it may not and is a
/// superuser or has `BYPASSRLS`: the policies then protect nothing.
pub async fn api_role(client: &tokio_postgres::Client) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT coalesce((SELECT pg_has_role(current_user, oid, 'MEMBER')
                                FROM pg_roles WHERE rolname = 'fleetd_api'), false),
                    coalesce((SELECT rolsuper OR rolbypassrls
                                FROM pg_roles WHERE rolname = current_user), false)",
            &[],
        )
        .await?;
    let (member, bypasses): (bool, bool) = (row.get(0), row.get(1));
    if !member && bypasses {
        tracing::warn!(
            "row-level security is not in force: the database user bypasses it and role \
             fleetd_api is missing (create it, or let fleetd's migration create it)"
        );
    }
    Ok(member)
}
