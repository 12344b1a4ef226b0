//! `fleet-sim peer`: the load tools the benchmark scripts drive (scripts/bench/e2e.sh and
//! scripts/bench/nearest.sh). Each prints one JSON line of results on stdout, the line the
//! scripts read (and BENCHMARKS.md's figures come from).
//!
//! - `count`, `naive` (`subscribe`, `count`, `naive`): MQTT subscribers of the end-to-end
//!   benchmark: the broker's pass-through rate, and the row-by-row INSERT baseline;
//! - `nearest setup|agree|load` (`nearest/`): the nearest-vehicle comparison of fleetd,
//!   PostGIS KNN and Redis GEOSEARCH;
//! - `trips load|fleet|report` (`trips/`): the trips report from stored trips vs a replay of
//!   every reading (Traccar's way).
//!
//! Flags: `args`.

pub mod args;
mod count;
mod http;
mod naive;
mod nearest;
mod subscribe;
mod trips;

use anyhow::Context;

pub use args::{PeerArgs, PeerCommand};

/// Runs one peer command to the end.
pub fn run(args: PeerArgs) -> anyhow::Result<()> {
    match args.command {
        // The tokio default: one worker per core, as the end-to-end peer always had.
        PeerCommand::Count(a) => runtime(None)?.block_on(count::run(a)),
        PeerCommand::Naive(a) => runtime(None)?.block_on(naive::run(a)),
        // One worker unless told otherwise: the tool must not be what limits the servers.
        PeerCommand::Nearest(a) => runtime(Some(a.common().threads))?.block_on(nearest::run(a)),
        // Two workers: the tool's replay must not wait for its own HTTP client.
        PeerCommand::Trips(a) => runtime(Some(2))?.block_on(trips::run(a)),
    }
}

fn runtime(workers: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

/// A PostgreSQL connection as fleetd makes one (`database.url`, TLS included).
async fn pg_connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = fleetd::db::PgTarget::new(url)
        .context("--database-url")?
        .connect()
        .await
        .context("connect to --database-url")?;
    tokio::spawn(conn);
    Ok(client)
}
