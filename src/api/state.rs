//! What every handler shares: the pool, metrics, the pipeline's status, the live index, the
//! dispatcher and the API's own settings.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use deadpool_postgres::Pool;

use super::auth::accounts::Accounts;
use super::auth::token::Keys;
use super::error::ApiError;
use super::middleware::slots::Slots;
use crate::config::Config;
use crate::ingest::PipelineStatus;
use crate::limiter::Limiter;
use crate::metrics::Metrics;

/// What handlers share.
pub struct AppState {
    pub pool: Pool,
    /// `database.url` with its TLS settings, for connections of their own (cancelling a
    /// timed-out request's statement).
    pub pg: crate::db::PgTarget,
    pub metrics: Arc<Metrics>,
    pub pipeline: PipelineStatus,
    /// Set once shutdown starts: readiness fails so load balancers stop sending traffic.
    pub stopping: AtomicBool,
    /// The `/v1` API's keys, limits and settings.
    pub api: ApiState,
    /// Latest durable position per vehicle, for position and dispatch queries.
    pub live: crate::live::SharedLiveIndex,
    /// Latest OBD values per vehicle, for the position route.
    pub obd: Arc<crate::live::obd::LatestObd>,
    /// Drivers, job matching and the push streams.
    pub dispatch: Arc<crate::dispatch::Dispatch>,
    /// The daemon's tail of the outbox, for streams of events.
    pub events: Arc<crate::events::feed::Feed>,
    /// The time every rule reads (the dispatcher's too), passed to SQL instead of `now()`.
    pub clock: crate::clock::Clock,
    /// `/readyz`'s last PostgreSQL check.
    pub readiness: super::readiness::Readiness,
    /// The read replica of `database.replica_url`, if any ([`super::reads`]).
    pub replica: Option<Arc<crate::replica::Replica>>,
}

/// What the API needs besides the database pool.
pub struct ApiState {
    /// Token signing key; `None` when `jwt.secret` is empty (the `/v1` API answers 503).
    pub jwt: Option<Keys>,
    /// Token lifetime.
    pub ttl_s: u64,
    /// Whether API transactions run as the `fleetd_api` role (row-level security binds it
    /// even when fleetd connects as a superuser); set at start ([`crate::db::api_role`]).
    pub as_api_role: std::sync::atomic::AtomicBool,
    /// Refresh token lifetime; 0: none issued.
    pub refresh_ttl_s: u64,
    /// The longest lifetime a token may claim.
    pub max_ttl_s: i64,
    /// Users' states, checked on every request.
    pub accounts: Arc<Accounts>,
    /// Login attempts per username.
    pub login_limiter: Limiter,
    /// Password hashes computed at once.
    pub login_slots: tokio::sync::Semaphore,
    /// Event streams open per user.
    pub streams: Slots<uuid::Uuid>,
    /// Per-client request budget.
    pub limiter: Limiter,
    /// Largest request body (the idempotency layer buffers bodies itself).
    pub max_body_bytes: usize,
    /// Longest a `/v1` request may take (the event stream excepted).
    pub request_timeout: std::time::Duration,
    /// The broker's account administration; `None` without `broker.admin_username`.
    pub broker: Option<crate::broker::Admin>,
    /// Telemetry topic prefix, for the trackers' topic rights.
    pub topic_prefix: String,
    /// The report routes' cache and settings.
    pub reports: crate::api::reports::cache::Reports,
    /// `webhooks.allow_private`: whether subscriptions may name non-public hosts.
    pub webhooks_allow_private: bool,
    /// `[invoices]`: the seller an invoice's document names.
    pub seller: crate::config::InvoicesConfig,
}

impl ApiState {
    /// One of the `http.login_concurrency` slots for an argon2 hash or verification.
    pub async fn hashing_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.login_slots
            .acquire()
            .await
            .map_err(|_| ApiError::internal("hashing slots closed"))
    }

    /// Must run inside a Tokio runtime (the broker administrator connects in a task).
    pub fn from_config(config: &Config) -> Result<ApiState, crate::tls::TlsError> {
        let secret = config.jwt.secret.expose();
        Ok(ApiState {
            jwt: (!secret.is_empty()).then(|| Keys::new(secret.as_bytes())),
            ttl_s: config.jwt.ttl_s,
            refresh_ttl_s: config.jwt.refresh_ttl_s,
            as_api_role: false.into(),
            max_ttl_s: config.jwt.max_ttl_s as i64,
            accounts: Arc::new(Accounts::new()),
            login_limiter: Limiter::new(config.http.login_per_minute, config.http.login_burst),
            login_slots: tokio::sync::Semaphore::new(config.http.login_concurrency as usize),
            streams: Slots::new(config.http.max_streams_per_user),
            limiter: Limiter::new(
                config.http.rate_limit_per_minute,
                config.http.rate_limit_burst,
            ),
            max_body_bytes: config.http.max_body_bytes,
            request_timeout: std::time::Duration::from_millis(config.http.request_timeout_ms),
            broker: crate::broker::Admin::start(config)?,
            topic_prefix: config.mqtt.topic_prefix.clone(),
            reports: crate::api::reports::cache::Reports::new(config),
            webhooks_allow_private: config.webhooks.allow_private,
            seller: config.invoices.clone(),
        })
    }
}
