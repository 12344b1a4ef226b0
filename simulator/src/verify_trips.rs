//! `fleet-sim verify --trips`: reads the truth file (`truth.rs`) and the trips and stops
//! fleetd stored (tables `trips` and `stops`, rows of the truth's vehicles that start inside
//! the run), compares them (`trips_compare.rs`) and reports (`trips_report.rs`).

use std::collections::HashMap;
use std::path::PathBuf;

use tokio_postgres::types::ToSql;

use crate::trips_compare::{compare, Options, Stored, StoredStop, StoredTrip};
use crate::trips_expect::Rules;
use crate::trips_report::TripsReport;
use crate::truth::{self, Truth, TruthError};

const TABLES: &str =
    "SELECT to_regclass('trips') IS NOT NULL AND to_regclass('stops') IS NOT NULL \
     AND to_regclass('segment_marks') IS NOT NULL AND to_regclass('segment_state') IS NOT NULL";
const WINDOW: &str = "starts_with(vehicle_id::text, $1) \
     AND start_ts >= timestamptz 'epoch' + $2::bigint * interval '1 millisecond' \
     AND start_ts <= timestamptz 'epoch' + $3::bigint * interval '1 millisecond'";
const MS: &str = "floor(extract(epoch FROM start_ts) * 1000)::bigint, \
     floor(extract(epoch FROM end_ts) * 1000)::bigint";
const PENDING: &str = "SELECT (SELECT count(*) FROM segment_marks) + (SELECT count(*) FROM \
     segment_state WHERE dirty_from IS NOT NULL OR obd_dirty_from IS NOT NULL)";

/// Why the check could not be carried out (as opposed to finding differences).
#[derive(Debug, thiserror::Error)]
pub enum VerifyTripsError {
    #[error(transparent)]
    Truth(#[from] TruthError),
    #[error("postgresql: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("--database-url: {0}")]
    Url(#[from] fleetd::db::DbError),
    #[error("the database has no trips, stops, segment_marks or segment_state table: is it fleetd's, migrated to 0013_trips or later?")]
    NoTables,
}

/// `verify --trips`'s flags: the files, fleetd's `[trips]` rules and the leeway.
pub struct TripsVerifyConfig {
    pub truth: PathBuf,
    pub database_url: String,
    pub examples: usize,
    pub min_speed_kmh: f64,
    pub min_stop_s: u64,
    pub min_trip_m: f64,
    pub min_trip_s: u64,
    pub jitter_m: f64,
    /// Default: two GPS intervals.
    pub margin_ms: Option<i64>,
    /// Default: one GPS interval.
    pub tolerance_ms: Option<i64>,
    pub distance_pct: f64,
}

impl TripsVerifyConfig {
    pub fn options(&self, truth: &Truth) -> Options {
        let interval_ms = i64::from(truth.header.gps_period_ms.unwrap_or(1000));
        let (ramp_ms, ramp_m) = Rules::ramp(self.min_speed_kmh, truth.header.accel_ms2);
        Options {
            rules: Rules {
                min_stop_ms: self.min_stop_s as i64 * 1000,
                min_trip_m: self.min_trip_m,
                min_trip_ms: self.min_trip_s as i64 * 1000,
                jitter_m: self.jitter_m,
                interval_ms,
                margin_ms: self.margin_ms.unwrap_or(2 * interval_ms),
                ramp_ms,
                ramp_m,
            },
            tolerance_ms: self.tolerance_ms.unwrap_or(interval_ms),
            distance_pct: self.distance_pct,
            examples: self.examples,
        }
    }
}

/// Reads the truth and both tables, and compares.
pub async fn verify_trips(cfg: &TripsVerifyConfig) -> Result<TripsReport, VerifyTripsError> {
    let truth = truth::read(&cfg.truth)?;
    let o = cfg.options(&truth);
    let (client, connection) = fleetd::db::PgTarget::new(&cfg.database_url)?
        .connect()
        .await?;
    let conn_task = tokio::spawn(connection);
    if !client.query_one(TABLES, &[]).await?.get::<_, bool>(0) {
        return Err(VerifyTripsError::NoTables);
    }
    let h = &truth.header;
    let (from, to) = (h.t0_ms - o.rules.interval_ms, h.end_ms + 1);
    let params: [&(dyn ToSql + Sync); 3] = [&h.id_prefix, &from, &to];
    let mut stored: HashMap<String, Stored> = HashMap::new();
    let q = format!(
        "SELECT vehicle_id::text, {MS}, distance_m FROM trips WHERE {WINDOW} ORDER BY 1, 2"
    );
    for row in client.query(&q, &params).await? {
        stored
            .entry(row.try_get(0)?)
            .or_default()
            .trips
            .push(StoredTrip {
                start: row.try_get(1)?,
                end: row.try_get(2)?,
                distance_m: row.try_get(3)?,
            });
    }
    let q = format!(
        "SELECT vehicle_id::text, {MS}, st_y(position::geometry), st_x(position::geometry) \
         FROM stops WHERE {WINDOW} ORDER BY 1, 2"
    );
    for row in client.query(&q, &params).await? {
        stored
            .entry(row.try_get(0)?)
            .or_default()
            .stops
            .push(StoredStop {
                start: row.try_get(1)?,
                end: row.try_get(2)?,
                lat: row.try_get(3)?,
                lon: row.try_get(4)?,
            });
    }
    let pending: i64 = client.query_one(PENDING, &[]).await?.try_get(0)?;
    drop(client);
    let _ = conn_task.await;
    let mut report = compare(&truth, &stored, &o);
    report.pending_segmentation = pending as u64;
    Ok(report)
}
