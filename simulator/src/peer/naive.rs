//! `fleet-sim peer naive`: the naive baseline most fleet backends are (scripts/bench/e2e.sh's
//! "naive" row): one consumer that parses each message with fleetd's own decoder, so that
//! only the write path differs, and INSERTs its GPS readings one row at a time, autocommit,
//! into the same tables fleetd writes.

use anyhow::Context;
use tokio_postgres::{Client, Statement};

use fleetd::ingest::decoders::now_us;
use fleetd::ingest::reading::GpsReading;

use super::args::NaiveArgs;
use super::subscribe::consume;

const INSERT_GPS: &str = "INSERT INTO gps_readings VALUES ($1, to_timestamp($2::float8 / 1e6),
                 ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, $6, $7, $8, now())
                 ON CONFLICT DO NOTHING";

/// One connection and its prepared INSERT.
pub struct RowWriter {
    client: Client,
    insert: Statement,
}

impl RowWriter {
    async fn connect(database_url: &str) -> anyhow::Result<RowWriter> {
        // The same day partitions fleetd would create, made up front (the simulator's
        // max-rate readings reach back up to a day).
        let pool = fleetd::db::pool(&fleetd::config::DatabaseConfig {
            url: fleetd::config::Secret::new(database_url.to_string()),
            ..Default::default()
        })
        .context("database pool")?;
        fleetd::ingest::partitions::Partitions::new(pool, 30, 3, 1)
            .run_pass(now_us())
            .await
            .context("create the day partitions")?;
        let client = super::pg_connect(database_url).await?;
        let insert = client
            .prepare(INSERT_GPS)
            .await
            .context("prepare the INSERT")?;
        Ok(RowWriter { client, insert })
    }

    /// One INSERT per reading, each its own transaction.
    pub async fn insert_gps(&self, vehicle: &str, gps: &[GpsReading]) -> anyhow::Result<()> {
        for r in gps {
            self.client
                .execute(
                    &self.insert,
                    &[
                        &vehicle,
                        &(r.ts as f64),
                        &r.lon,
                        &r.lat,
                        &r.speed_kmh,
                        &r.heading_deg,
                        &r.alt_m,
                        &r.accuracy_m,
                    ],
                )
                .await
                .context("INSERT a GPS reading")?;
        }
        Ok(())
    }
}

pub async fn run(args: NaiveArgs) -> anyhow::Result<()> {
    let writer = RowWriter::connect(&args.database_url).await?;
    consume("naive", &args.subscribe, Some(&writer)).await
}
