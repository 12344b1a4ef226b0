//! `fleet-sim verify`: compares a run's manifest with what PostgreSQL stored, exactly.
//!
//! One streaming pass per table over the rows of the run's vehicles (`vehicle_id` starting
//! with the manifest's id prefix) whose `ts` lies in the run's window. Each row is looked
//! up in its vehicle's expected tick set: absent → unexpected (it should have been
//! rejected, or it never was sent); present a second time → duplicated (only possible if
//! the unique `(vehicle_id, ts)` constraint is missing); otherwise seen, and its values are
//! folded into a checksum. Afterwards every expected tick not seen is lost, and for each
//! vehicle and kind with nothing lost or unexpected the checksum must equal the manifest's
//! (a mismatch means values were stored wrongly).

use std::collections::HashMap;
use std::path::PathBuf;

use futures_util::{pin_mut, TryStreamExt};
use serde::Serialize;
use tokio_postgres::types::ToSql;

use crate::manifest::{self, gps_digest, obd_digest, ManifestError, TickSet};
use crate::payload::Kind;

const GPS_ROWS: &str = "SELECT vehicle_id::text, floor(extract(epoch FROM ts) * 1000)::bigint, \
     st_y(position::geometry), st_x(position::geometry), speed_kmh::float8, heading_deg::float8, \
     alt_m::float8, accuracy_m::float8 \
     FROM gps_readings \
     WHERE starts_with(vehicle_id::text, $1) \
       AND ts >= timestamptz 'epoch' + $2::bigint * interval '1 millisecond' \
       AND ts <= timestamptz 'epoch' + $3::bigint * interval '1 millisecond'";

const OBD_ROWS: &str = "SELECT vehicle_id::text, floor(extract(epoch FROM ts) * 1000)::bigint, \
     rpm::float8, speed_kmh::float8, coolant_c::float8, fuel_pct::float8, \
     engine_load_pct::float8, odometer_km::float8, dtc::text[] \
     FROM obd_readings \
     WHERE starts_with(vehicle_id::text, $1) \
       AND ts >= timestamptz 'epoch' + $2::bigint * interval '1 millisecond' \
       AND ts <= timestamptz 'epoch' + $3::bigint * interval '1 millisecond'";

/// Why verification could not be carried out (as opposed to finding differences).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// PostgreSQL refused the connection or a query.
    #[error("postgresql: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// The database URL or the certificate files it names cannot be used.
    #[error("--database-url: {0}")]
    Url(#[from] fleetd::db::DbError),
}

pub struct VerifyConfig {
    pub manifest: PathBuf,
    pub database_url: String,
    /// How many example differences of each category to report.
    pub examples: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub gps: u64,
    pub obd: u64,
}

impl Counts {
    fn add(&mut self, kind: Kind, n: u64) {
        match kind {
            Kind::Gps => self.gps += n,
            Kind::Obd => self.obd += n,
        }
    }

    pub fn total(&self) -> u64 {
        self.gps + self.obd
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Example {
    pub vehicle_id: String,
    pub kind: &'static str,
    pub ts: String,
    pub ts_ms: i64,
}

/// The outcome; `ok` only if nothing is lost, unexpected, duplicated or wrongly stored.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub ok: bool,
    pub vehicles: u64,
    pub expected: Counts,
    pub stored: Counts,
    pub lost: Counts,
    pub unexpected: Counts,
    pub duplicated: Counts,
    /// Vehicles (per kind) whose stored values do not match the manifest's checksum.
    pub wrong_values: Counts,
    pub lost_examples: Vec<Example>,
    pub unexpected_examples: Vec<Example>,
    pub duplicated_examples: Vec<Example>,
    pub wrong_value_vehicles: Vec<String>,
}

struct Lane {
    expected: TickSet,
    seen: TickSet,
    unexpected: u64,
}

impl Lane {
    fn new(expected: Option<TickSet>) -> Option<Self> {
        let e = expected?;
        let seen = TickSet::new(e.base, e.step);
        Some(Lane {
            expected: e,
            seen,
            unexpected: 0,
        })
    }
}

struct Check {
    examples: usize,
    report: VerifyReport,
    lanes: HashMap<String, [Option<Lane>; 2]>,
}

fn example(vehicle_id: &str, kind: Kind, ts_ms: i64) -> Example {
    let ts = chrono::DateTime::from_timestamp_millis(ts_ms).map_or_else(
        || ts_ms.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    Example {
        vehicle_id: vehicle_id.to_string(),
        kind: kind.as_str(),
        ts,
        ts_ms,
    }
}

impl Check {
    fn row(&mut self, vehicle_id: &str, kind: Kind, ts_ms: i64, digest: u64) {
        self.report.stored.add(kind, 1);
        let lane = self
            .lanes
            .get_mut(vehicle_id)
            .and_then(|l| l[kind.index()].as_mut());
        match lane {
            Some(l) if l.expected.contains(ts_ms) => {
                if !l.seen.insert(ts_ms, digest) {
                    self.report.duplicated.add(kind, 1);
                    if self.report.duplicated_examples.len() < self.examples {
                        self.report
                            .duplicated_examples
                            .push(example(vehicle_id, kind, ts_ms));
                    }
                }
            }
            other => {
                if let Some(l) = other {
                    l.unexpected += 1;
                }
                self.report.unexpected.add(kind, 1);
                if self.report.unexpected_examples.len() < self.examples {
                    self.report
                        .unexpected_examples
                        .push(example(vehicle_id, kind, ts_ms));
                }
            }
        }
    }

    fn finish(mut self) -> VerifyReport {
        let mut ids: Vec<&String> = self.lanes.keys().collect();
        ids.sort();
        for id in ids {
            for kind in Kind::ALL {
                let Some(l) = &self.lanes[id][kind.index()] else {
                    continue;
                };
                let lost: Vec<i64> = l
                    .expected
                    .iter()
                    .filter(|ts| !l.seen.contains(*ts))
                    .collect();
                self.report.lost.add(kind, lost.len() as u64);
                for &ts in lost.iter().take(
                    self.examples
                        .saturating_sub(self.report.lost_examples.len()),
                ) {
                    self.report.lost_examples.push(example(id, kind, ts));
                }
                if lost.is_empty() && l.unexpected == 0 && l.seen.sum != l.expected.sum {
                    self.report.wrong_values.add(kind, 1);
                    if self.report.wrong_value_vehicles.len() < self.examples {
                        self.report
                            .wrong_value_vehicles
                            .push(format!("{id} {}", kind.as_str()));
                    }
                }
            }
        }
        let r = &mut self.report;
        r.ok = r.lost.total() == 0
            && r.unexpected.total() == 0
            && r.duplicated.total() == 0
            && r.wrong_values.total() == 0;
        self.report
    }
}

fn opt(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Reads the manifest, streams both tables and compares.
pub async fn verify(cfg: &VerifyConfig) -> Result<VerifyReport, VerifyError> {
    let m = manifest::read(&cfg.manifest)?;
    let mut check = Check {
        examples: cfg.examples,
        report: VerifyReport::default(),
        lanes: HashMap::new(),
    };
    check.report.vehicles = m.vehicles.len() as u64;
    check.report.expected = Counts {
        gps: m.header.expected.gps,
        obd: m.header.expected.obd,
    };
    for v in m.vehicles {
        check
            .lanes
            .insert(v.id, [Lane::new(v.gps), Lane::new(v.obd)]);
    }
    let (client, connection) = fleetd::db::PgTarget::new(&cfg.database_url)?
        .connect()
        .await?;
    let conn_task = tokio::spawn(connection);
    let params: [&(dyn ToSql + Sync); 3] = [
        &m.header.id_prefix,
        &m.header.window_from_ms,
        &m.header.window_to_ms,
    ];
    let rows = client.query_raw(GPS_ROWS, params.iter().copied()).await?;
    pin_mut!(rows);
    while let Some(row) = rows.try_next().await? {
        let (id, ts): (&str, i64) = (row.try_get(0)?, row.try_get(1)?);
        let (lat, lon): (Option<f64>, Option<f64>) = (row.try_get(2)?, row.try_get(3)?);
        let rest = [
            opt(row.try_get(4)?),
            opt(row.try_get(5)?),
            opt(row.try_get(6)?),
            opt(row.try_get(7)?),
        ];
        let d = gps_digest(ts, lat.unwrap_or(f64::NAN), lon.unwrap_or(f64::NAN), rest);
        check.row(id, Kind::Gps, ts, d);
    }
    let rows = client.query_raw(OBD_ROWS, params.iter().copied()).await?;
    pin_mut!(rows);
    while let Some(row) = rows.try_next().await? {
        let (id, ts): (&str, i64) = (row.try_get(0)?, row.try_get(1)?);
        let mut values = [None; 6];
        for (i, v) in values.iter_mut().enumerate() {
            *v = opt(row.try_get(2 + i)?);
        }
        let dtc: Option<Vec<String>> = row.try_get(8)?;
        let d = obd_digest(ts, values, dtc.as_deref().unwrap_or(&[]));
        check.row(id, Kind::Obd, ts, d);
    }
    drop(client);
    let _ = conn_task.await;
    Ok(check.finish())
}

impl VerifyReport {
    pub fn text(&self) -> String {
        let t = crate::report::thousands;
        let c = |x: &Counts| format!("{} (gps {}, obd {})", t(x.total()), t(x.gps), t(x.obd));
        let mut s = format!("verify: {} vehicles in the manifest\n", t(self.vehicles));
        s += &format!(
            "expected    {}\nstored      {}\n",
            c(&self.expected),
            c(&self.stored)
        );
        s += &format!(
            "lost        {}\nunexpected  {}\nduplicated  {}\n",
            c(&self.lost),
            c(&self.unexpected),
            c(&self.duplicated)
        );
        s += &format!(
            "wrong values {} vehicle-kinds\n",
            t(self.wrong_values.total())
        );
        for (name, ex) in [
            ("lost", &self.lost_examples),
            ("unexpected", &self.unexpected_examples),
            ("duplicated", &self.duplicated_examples),
        ] {
            for e in ex {
                s += &format!("  {name}: {} {} {}\n", e.vehicle_id, e.kind, e.ts);
            }
        }
        for v in &self.wrong_value_vehicles {
            s += &format!("  wrong values: {v}\n");
        }
        s += if self.ok { "OK\n" } else { "MISMATCH\n" };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> Check {
        let mut gps = TickSet::new(1_000, 1_000);
        gps.insert(1_000, 11);
        gps.insert(2_000, 22);
        gps.insert(3_000, 33);
        let mut lanes = HashMap::new();
        lanes.insert("veh-000001".to_string(), [Lane::new(Some(gps)), None]);
        Check {
            examples: 10,
            report: VerifyReport::default(),
            lanes,
        }
    }

    #[test]
    fn exact_match_is_ok() {
        let mut c = check();
        for (ts, d) in [(1_000, 11), (2_000, 22), (3_000, 33)] {
            c.row("veh-000001", Kind::Gps, ts, d);
        }
        let r = c.finish();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.stored.gps, 3);
    }

    #[test]
    fn lost_unexpected_duplicated_and_wrong_values_are_found() {
        let mut c = check();
        c.row("veh-000001", Kind::Gps, 1_000, 11);
        c.row("veh-000001", Kind::Gps, 1_000, 11);
        c.row("veh-000001", Kind::Gps, 1_500, 0);
        c.row("veh-000002", Kind::Gps, 1_000, 0);
        c.row("veh-000001", Kind::Obd, 1_000, 0);
        let r = c.finish();
        assert!(!r.ok);
        assert_eq!(
            (
                r.lost.gps,
                r.unexpected.gps,
                r.unexpected.obd,
                r.duplicated.gps
            ),
            (2, 2, 1, 1)
        );
        assert_eq!(r.lost_examples[0].ts, "1970-01-01T00:00:02.000Z");
        assert!(r.text().contains("MISMATCH"));

        let mut c = check();
        for (ts, d) in [(1_000, 11), (2_000, 23), (3_000, 33)] {
            c.row("veh-000001", Kind::Gps, ts, d);
        }
        let r = c.finish();
        assert_eq!(r.wrong_values.gps, 1);
        assert!(!r.ok);
    }
}
