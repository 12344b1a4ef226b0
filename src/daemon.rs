//! Start-up and shutdown of `fleetd serve`: pool, migrations, partitions, pipeline, HTTP.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alerts::AlertTimer;
use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::{Config, IngestSource, UnknownVehicles};
use crate::dispatch::listen::Listener;
use crate::dispatch::matcher::Matcher;
use crate::dispatch::Dispatch;
use crate::ingest::decoders::now_us;
use crate::ingest::partitions::Partitions;
use crate::ingest::registry::KnownVehicles;
use crate::ingest::Pipeline;
use crate::live::{feed, SharedLiveIndex};
use crate::metrics::Metrics;
use crate::timed::TimeRules;
use crate::{db, migrate, retry};

/// A running daemon.
pub struct Daemon {
    /// Where the HTTP server listens (useful with port 0).
    pub http_addr: SocketAddr,
    /// Where `/readyz` and `/metrics` are served, with `http.internal_addr`.
    pub internal_addr: Option<SocketAddr>,
    /// The live position index, fed by the writers after each commit.
    pub live: SharedLiveIndex,
    /// Drivers, job matching and the event streams.
    pub dispatch: Arc<Dispatch>,
    /// The rules that fire with time (also run every `rules.interval_s`).
    pub time_rules: Arc<TimeRules>,
    /// The time-based alert rules (also run every `alerts.interval_s`).
    pub alerts: Arc<AlertTimer>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    /// Waits until the daemon has stopped after `shutdown` was cancelled.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("daemon task panicked")?
    }
}

/// Starts everything; returns once HTTP listens and ingestion runs. Waits (retrying) for
/// PostgreSQL to migrate and partition; gives up only if `shutdown` fires first.
pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Daemon> {
    start_on(config, Clock::new(), shutdown).await
}

/// [`start`] with the API and the dispatcher on `clock` (tests move time with a manual one).
pub async fn start_on(
    config: Config,
    clock: Clock,
    shutdown: CancellationToken,
) -> anyhow::Result<Daemon> {
    // Unusable certificate files stop the start here, each error naming its setting.
    let pg = db::PgTarget::new(config.database.url.expose())?;
    let broker = config.mqtt_endpoint()?;
    crate::tls::mqtt::transport(broker.tls, config.mqtt_tls_files()).context("mqtt TLS")?;
    if config.ingest.source == IngestSource::Jetstream {
        crate::ingest::jetstream::auth::Credentials::load(&config.jetstream)?;
    }
    let pool = db::pool(&config.database)?;
    let ingest_pool = db::ingest_pool(&config.database, config.ingest.writers)?;
    with_retries("migrate", &shutdown, || async {
        let mut client = pool.get().await?;
        let applied = migrate::migrate(&mut client).await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "migrations applied");
        }
        anyhow::Ok(())
    })
    .await?;

    let api_role = with_retries("check the API's database role", &shutdown, || async {
        let client = pool.get().await?;
        anyhow::Ok(db::api_role(&client).await?)
    })
    .await?;

    if !config.admin.password.is_empty() {
        with_retries("bootstrap admin", &shutdown, || async {
            let client = pool.get().await?;
            if crate::api::auth::login::bootstrap_admin(&client, config.admin.password.expose())
                .await
                .map_err(anyhow::Error::from)?
            {
                tracing::info!("created user admin from admin.password");
            }
            anyhow::Ok(())
        })
        .await?;
    }

    let partitions = Arc::new(Partitions::new(
        ingest_pool.clone(),
        config.ingest.retention_days,
        config.partitions.days_behind,
        config.partitions.days_ahead,
    ));
    let metrics = Metrics::new();
    with_retries("create partitions", &shutdown, || async {
        let report = partitions.run_pass(now_us()).await?;
        metrics
            .partitions_dropped
            .inc_by(report.dropped.len() as u64);
        anyhow::Ok(())
    })
    .await?;

    // Positions older than the partitions created at start are not worth a scan at start-up.
    let live_days = config.partitions.days_behind as i32 + 1;
    let live = with_retries("load live positions", &shutdown, || async {
        Ok(feed::load(&pool, live_days, &clock).await?)
    })
    .await?;
    tracing::info!(vehicles = live.len(), "live positions loaded");

    let dispatch = Arc::new(Dispatch::new(
        live.clone(),
        config.dispatch.clone(),
        clock.clone(),
    ));
    let seats = with_retries("load the driver roster", &shutdown, || async {
        let client = pool.get().await?;
        Ok(dispatch.roster.reload(&**client).await?)
    })
    .await?;
    tracing::info!(seats, "driver roster loaded");
    let background = dispatch.stop.clone();
    let redis = if config.redis.url.is_empty() {
        None
    } else {
        let roster = dispatch.roster.clone();
        Some(crate::live::redis::spawn(
            crate::live::redis::client(&config.redis.url, config.redis_tls_files())
                .context("redis")?,
            config.redis.ttl_s,
            config.redis.queue,
            Arc::new(move |vehicle: &str| roster.driver_of(vehicle)),
            metrics.clone(),
            background.clone(),
        ))
    };
    let obd = crate::live::obd::LatestObd::new();
    let fanout = feed::Fanout {
        redis,
        stream: Some(dispatch.positions.clone()),
        obd: Some(obd.clone()),
    };

    // Several nodes: each shares its committed positions so every live index sees the fleet.
    let share = (config.ingest.source == IngestSource::Jetstream).then(|| {
        crate::live::cluster::Sharing {
            config: config.jetstream.clone(),
            index: live.clone(),
            fanout: feed::Fanout {
                redis: None,
                ..fanout.clone()
            },
            clock: clock.clone(),
            metrics: metrics.clone(),
        }
        .spawn(background.clone())
    });
    let known = (config.ingest.unknown_vehicles == UnknownVehicles::Reject).then(|| {
        let known = KnownVehicles::new();
        tokio::spawn(crate::ingest::registry::listen(
            known.clone(),
            pg.clone(),
            background.clone(),
        ));
        known
    });
    let pipeline = Pipeline::start(
        &config,
        ingest_pool,
        partitions.clone(),
        metrics.clone(),
        Some(match share {
            None => feed::on_commit(live.clone(), fanout, clock.clone()),
            Some(share) => {
                let local = feed::on_commit(live.clone(), fanout, clock.clone());
                Arc::new(move |group: &[crate::ingest::decoders::Encoded]| {
                    local(group);
                    share.offer(group);
                })
            }
        }),
        known,
    )
    .context("starting the ingestion pipeline")?;
    let heartbeat_stop = CancellationToken::new();
    let heartbeat = tokio::spawn(crate::broker::sessions::registry::heartbeat(
        pool.clone(),
        config.mqtt.clone(),
        pipeline
            .status()
            .mqtt_sessions()
            .into_iter()
            .map(|s| s.client_id)
            .collect(),
        heartbeat_stop.clone(),
    ));
    tokio::spawn(
        Listener {
            pg: pg.clone(),
            pool: pool.clone(),
            roster: dispatch.roster.clone(),
            events: dispatch.events.clone(),
            wake: dispatch.wake.clone(),
        }
        .run(background.clone()),
    );
    tokio::spawn(
        Matcher {
            pool: pool.clone(),
            live: live.clone(),
            roster: dispatch.roster.clone(),
            clock: clock.clone(),
            config: config.dispatch.clone(),
            wake: dispatch.wake.clone(),
            metrics: metrics.clone(),
        }
        .run(background.clone()),
    );
    tokio::spawn(feed::evict_silent(
        live.clone(),
        Some(obd.clone()),
        Duration::from_secs(config.dispatch.live_horizon_s),
        clock.clone(),
        background.clone(),
    ));
    tokio::spawn(feed::unlist_stale(
        live.clone(),
        Duration::from_secs(config.dispatch.staleness_s),
        clock.clone(),
        background.clone(),
    ));
    let maintenance = tokio::spawn(partition_timer(
        partitions,
        metrics.clone(),
        Duration::from_secs(config.partitions.interval_s),
    ));

    if config.trips.enabled {
        tokio::spawn(
            crate::trips::worker::Segmenter {
                pool: pool.clone(),
                config: config.trips.clone(),
                retention: config.retention.clone(),
                clock: clock.clone(),
                metrics: metrics.clone(),
                fences: Arc::new(crate::fencing::Engine::new()),
            }
            .run(background.clone()),
        );
    }

    tokio::spawn(api::reports::refresh_stats(
        pool.clone(),
        Duration::from_secs(config.reports.stats_refresh_s),
        background.clone(),
    ));

    let time_rules = Arc::new(TimeRules::new(
        pool.clone(),
        clock.clone(),
        config.rentals.no_show_hours,
        config.events.retention_days,
        metrics.clone(),
    ));
    tokio::spawn(time_rules.clone().run(
        Duration::from_secs(config.rules.interval_s),
        background.clone(),
    ));
    let alerts = Arc::new(AlertTimer::new(
        pool.clone(),
        clock.clone(),
        Duration::from_secs(config.alerts.interval_s),
    ));
    tokio::spawn(alerts.clone().run(background.clone()));
    tokio::spawn(crate::alerts::gauges::run(
        pool.clone(),
        metrics.clone(),
        background.clone(),
    ));
    tokio::spawn(crate::events::sequencer::Sequencer::new(pool.clone()).run(background.clone()));
    let deliverer = crate::webhooks::deliver::Deliverer {
        pool: pool.clone(),
        client: crate::webhooks::deliver::client(&config.webhooks)?,
        clock: clock.clone(),
        config: config.webhooks.clone(),
        metrics: metrics.clone(),
    };
    tokio::spawn(crate::webhooks::relay::Relay::new(deliverer).run(background.clone()));
    if config.mqtt.publish_events {
        let publisher = crate::events::mqtt::Publisher {
            pg: pg.clone(),
            broker: crate::events::mqtt::connection::Broker::new(&config).context("mqtt TLS")?,
            metrics: metrics.clone(),
            reconnect_min: Duration::from_millis(config.mqtt.reconnect_min_ms),
            reconnect_max: Duration::from_millis(config.mqtt.reconnect_max_ms),
        };
        tokio::spawn(publisher.run(background.clone()));
    }

    let events = crate::events::feed::Feed::new(pool.clone());
    tokio::spawn(events.clone().run(background.clone()));
    let replica = crate::replica::Replica::new(&config.database, metrics.replica.clone())?;
    if let Some(replica) = &replica {
        tokio::spawn(
            crate::replica::monitor::Monitor {
                replica: replica.clone(),
                primary: pool.clone(),
                api_role,
                connect_timeout: Duration::from_millis(config.database.connect_timeout_ms),
            }
            .run(background.clone()),
        );
    }
    let state = Arc::new(AppState {
        pool,
        pg: pg.clone(),
        metrics,
        pipeline: pipeline.status(),
        stopping: false.into(),
        api: api::ApiState::from_config(&config).context("mqtt TLS")?,
        clock,
        live: live.clone(),
        obd: obd.clone(),
        dispatch: dispatch.clone(),
        events,
        readiness: Default::default(),
        replica,
    });
    state.api.as_api_role.store(api_role, Ordering::Relaxed);
    tokio::spawn(api::auth::accounts::listen(
        state.api.accounts.clone(),
        pg.clone(),
        background.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(&config.http.addr)
        .await
        .with_context(|| format!("http.addr: cannot listen on {}", config.http.addr))?;
    let http_addr = listener.local_addr()?;
    tracing::info!(%http_addr, "http listening");
    let separate = !config.http.internal_addr.is_empty();
    let site = crate::web::router(&config, api::file_not_found);
    let app = api::router(state.clone(), config.http.max_body_bytes, !separate, site);
    let http_stop = CancellationToken::new();
    let limits = api::serve::Limits {
        max_connections: config.http.max_connections as usize,
        max_connections_per_ip: config.http.max_connections_per_ip,
        header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms),
    };
    let internal_addr = if separate {
        let listener = tokio::net::TcpListener::bind(&config.http.internal_addr)
            .await
            .with_context(|| {
                format!(
                    "http.internal_addr: cannot listen on {}",
                    config.http.internal_addr
                )
            })?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "probes (/readyz, /metrics) listening");
        tokio::spawn(api::serve::serve(
            listener,
            api::internal_router(state.clone()),
            limits,
            http_stop.clone(),
        ));
        Some(addr)
    } else {
        None
    };
    let server = tokio::spawn(api::serve::serve(listener, app, limits, http_stop.clone()));

    let deadline = Duration::from_secs(config.shutdown.timeout_s);
    let task = tokio::spawn(async move {
        shutdown.cancelled().await;
        tracing::info!("stopping: no new messages, draining the pipeline");
        state.stopping.store(true, Ordering::Relaxed);
        maintenance.abort();
        background.cancel();
        let unacked = pipeline.shutdown(deadline).await;
        // Disconnected: the client ids are no longer a running daemon's.
        heartbeat_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(3), heartbeat).await;
        tracing::info!(unacked, "pipeline stopped; draining http");
        http_stop.cancel();
        match tokio::time::timeout(Duration::from_secs(3), server).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "http server task failed"),
            Err(_) => tracing::warn!("http connections still open at exit"),
        }
        tracing::info!("stopped");
        Ok(())
    });
    Ok(Daemon {
        http_addr,
        internal_addr,
        live,
        dispatch,
        time_rules,
        alerts,
        task,
    })
}

/// Runs `f` until it succeeds, backing off between attempts; fails only on shutdown.
async fn with_retries<T, F, Fut>(
    what: &str,
    shutdown: &CancellationToken,
    mut f: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(value) => return Ok(value),
            Err(error) => {
                let delay = retry::backoff(
                    attempt,
                    Duration::from_millis(250),
                    Duration::from_secs(10),
                    rand::random(),
                );
                attempt += 1;
                tracing::warn!(
                    error = format!("{error:#}"),
                    attempt,
                    ?delay,
                    "{what} failed, retrying"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => {
                        return Err(error.context(format!("stopped before {what} succeeded")));
                    }
                }
            }
        }
    }
}

async fn partition_timer(partitions: Arc<Partitions>, metrics: Arc<Metrics>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first pass ran at start
    loop {
        tick.tick().await;
        match partitions.run_pass(now_us()).await {
            Ok(report) => {
                metrics
                    .partitions_dropped
                    .inc_by(report.dropped.len() as u64);
                if !report.dropped.is_empty() || report.rejects_deleted > 0 {
                    tracing::info!(dropped = ?report.dropped, rejects_deleted = report.rejects_deleted, "retention applied");
                }
            }
            Err(error) => tracing::warn!(%error, "partition maintenance failed; next pass retries"),
        }
    }
}
