//! The PostgreSQL connection pool shared by the writers, the partition manager and the API.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::config::DatabaseConfig;

/// Why the pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `database.url` is not a PostgreSQL connection string.
    #[error("database.url: {0}")]
    Url(#[from] tokio_postgres::Error),
    /// The pool builder refused its settings.
    #[error("building the connection pool: {0}")]
    Build(#[from] deadpool_postgres::BuildError),
}

/// Builds the pool. Connections are made lazily, so this succeeds with the database down.
pub fn pool(config: &DatabaseConfig) -> Result<Pool, DbError> {
    let mut pg: tokio_postgres::Config = config.url.expose().parse()?;
    let timeout = Duration::from_millis(config.connect_timeout_ms);
    pg.connect_timeout(timeout);
    pg.application_name("fleetd");
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            // Fast recycling skips a round trip per checkout; a broken connection shows up
            // as an error on first use, which the writers classify and retry anyway.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(config.pool_size as usize)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()?)
}
