//! `fleetd serve | migrate | check-config | broker setup | broker sessions | healthcheck`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use fleetd::config::Config;

/// mimalloc rather than glibc's malloc: the HTTP and decode paths allocate small, short-lived
/// buffers per request and per message, where glibc spent about a tenth of the daemon's CPU
/// (scripts/bench/nearest.sh under perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "Telemetry ingestion and dispatch for vehicle fleets")]
struct Cli {
    /// Configuration file (TOML); built-in defaults when absent. FLEETD_* env vars override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then ingest and serve HTTP until SIGTERM/SIGINT (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Validate the configuration and print the effective values (secrets hidden).
    CheckConfig,
    /// Administer the MQTT broker: accounts (needs broker.admin_username) and sessions.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// GET a daemon's /healthz over plain HTTP/1.1 (a container's HEALTHCHECK, without
    /// curl): exit 0 on 200, 1 otherwise with the reason. Reads no configuration.
    Healthcheck {
        /// The URL to GET (http:// only).
        #[arg(long, default_value = fleetd::api::healthcheck::DEFAULT_URL)]
        url: String,
        /// Give up after this many milliseconds (connecting, sending, reading the status).
        #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
        timeout_ms: u64,
    },
}

#[derive(Subcommand)]
enum BrokerCommand {
    /// Deny by default what no role allows, and (re)create the daemon's account
    /// mqtt.username with mqtt.password and its subscribe rights. Idempotent.
    Setup,
    /// List the persistent sessions of mqtt.topic_prefix the broker may hold (the ids daemons
    /// recorded in PostgreSQL) and who owns each; as the daemon's account (mqtt.username).
    Sessions {
        /// Drain every orphan (a session no running daemon and not this configuration owns)
        /// into PostgreSQL through the ingestion path, then drop it from the broker.
        #[arg(long)]
        drop_orphans: bool,
        /// Also consider this client id (one no daemon recorded, e.g. from an older fleetd).
        /// Repeatable.
        #[arg(long = "client-id", value_name = "ID")]
        client_ids: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the configuration: a probe must not fail on the daemon's settings, nor log.
    if let Some(Command::Healthcheck { url, timeout_ms }) = &cli.command {
        return healthcheck(url, *timeout_ms);
    }
    init_logging(cli.log_format);
    let (config, warnings) = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("fleetd: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    for w in warnings {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fleetd")
        .build()
    {
        Ok(r) => r,
        Err(error) => {
            eprintln!("fleetd: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            print!("{}", config.redacted_toml());
            Ok(())
        }
        Command::Healthcheck { .. } => unreachable!("answered before the configuration"),
        Command::Migrate => runtime.block_on(migrate(config)),
        Command::Serve => runtime.block_on(serve(config)),
        Command::Broker(BrokerCommand::Setup) => runtime.block_on(broker_setup(config)),
        Command::Broker(BrokerCommand::Sessions {
            drop_orphans,
            client_ids,
        }) => {
            let options = fleetd::broker::sessions::Options {
                drop_orphans,
                client_ids,
            };
            runtime.block_on(broker_sessions(config, options))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "fleetd failed");
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(url: &str, timeout_ms: u64) -> ExitCode {
    match fleetd::api::healthcheck::check(url, std::time::Duration::from_millis(timeout_ms)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fleetd healthcheck: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only on a terminal: a log file or journal gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let pool = fleetd::db::pool(&config.database)?;
    let mut client = pool.get().await?;
    let applied = fleetd::migrate::migrate(&mut client).await?;
    tracing::info!(?applied, "database is up to date");
    Ok(())
}

async fn broker_setup(config: Config) -> anyhow::Result<()> {
    let admin = fleetd::broker::Admin::start(&config)?.ok_or_else(|| {
        anyhow::anyhow!("broker.admin_username is empty: nothing to administer with")
    })?;
    fleetd::broker::setup(&admin, &config).await?;
    tracing::info!(
        username = config.mqtt.username,
        "broker set up: the daemon's account and deny-by-default access"
    );
    Ok(())
}

async fn broker_sessions(
    config: Config,
    options: fleetd::broker::sessions::Options,
) -> anyhow::Result<()> {
    use fleetd::broker::sessions;
    let report = sessions::run(&config, &options).await?;
    print!("{}", sessions::render::render(&report));
    if report.failed() {
        anyhow::bail!("some orphaned sessions were not dropped (see FAILED above); rerun to retry");
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(stop_on_signal(shutdown.clone()));
    let daemon = fleetd::daemon::start(config, shutdown.clone()).await?;
    let result = daemon.wait().await;
    signals.abort();
    result
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
    shutdown.cancel();
}
