//! Writes what a pass settled, for every claimed vehicle at once: the new trips and stops,
//! the hourly and daily rollups, the trips' OBD figures, the odometers and the saved
//! machines. A batch of vehicles costs a fixed number of statements whatever its size, plus
//! one per new segment and one per vehicle with a reading behind its rollups (late).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use deadpool_postgres::Transaction;

use super::machine::{Machine, Segment};
use super::rollup::{self, Hours, Spans};
use super::segments;
use super::store::{self, at, Saved, State};
use super::Params;
use crate::config::TripsConfig;

/// A vehicle after its machine ran: what to write and save.
pub struct Done {
    pub st: State,
    pub machine: Machine,
    /// Segments settled by this pass.
    pub new: Vec<Segment>,
    /// The first GPS reading after the horizon, left for a later pass.
    pub next: Option<DateTime<Utc>>,
}

/// Returns the segments written.
pub async fn finish(
    tx: &Transaction<'_>,
    config: &TripsConfig,
    done: Vec<Done>,
    horizon: i64,
) -> anyhow::Result<usize> {
    let c = &**tx;
    let mut written = 0;
    for d in &done {
        for s in &d.new {
            segments::write(c, &d.st.vehicle_id, s, config.path_tolerance_m).await?;
        }
        written += d.new.len();
    }
    let horizon_at = at(horizon);
    let p = Params::new(config);
    let mut spans = Spans::new();

    // GPS rollups: added after where they stand, or, behind that (a late reading), cleared
    // from the reading's hour and added again from there.
    let mut gps_from = Vec::new();
    for d in &done {
        let (v, Some(dirty)) = (d.st.vehicle_id.as_str(), d.st.dirty_from) else {
            continue;
        };
        match d.st.rollup_gps_at {
            Some(w) if dirty > w => gps_from.push((v, Some(w))),
            _ => {
                merge(&mut spans, v, rollup::reset_gps(c, v, dirty).await?);
                gps_from.push((v, Some(before_hour(dirty))));
            }
        }
    }
    if !gps_from.is_empty() {
        let added = rollup::add_gps(c, rollup::HOURLY, &gps_from, horizon_at, &p).await?;
        merge_all(&mut spans, added);
    }

    // OBD: the trips' fuel and odometer figures, the odometers, the rollups.
    let (mut obd_from, mut refresh) = (Vec::new(), Vec::new());
    for d in &done {
        let (v, Some(dirty)) = (d.st.vehicle_id.as_str(), d.st.obd_dirty_from) else {
            continue;
        };
        refresh.push((v, dirty));
        match d.st.rollup_obd_at {
            Some(w) if dirty > w => obd_from.push((v, Some(w))),
            _ => {
                merge(&mut spans, v, rollup::reset_obd(c, v, dirty).await?);
                obd_from.push((v, Some(before_hour(dirty))));
            }
        }
    }
    let mut obd_next = HashMap::new();
    if !obd_from.is_empty() {
        segments::refresh_obd(c, &refresh).await?;
        rollup::advance_odometer(c, &obd_from, horizon_at).await?;
        let added = rollup::add_obd(c, rollup::HOURLY, &obd_from, horizon_at).await?;
        merge_all(&mut spans, added);
        let vehicles: Vec<&str> = obd_from.iter().map(|(v, _)| *v).collect();
        obd_next = store::next_obd(c, &vehicles, horizon_at).await?;
    }
    rollup::rebuild_days(c, &spans).await?;

    let mut saved = Vec::with_capacity(done.len());
    for d in done {
        let obd_dirty_from = match d.st.obd_dirty_from {
            Some(_) => obd_next.get(&d.st.vehicle_id).copied(),
            None => None,
        };
        saved.push(Saved {
            machine: serde_json::to_value(&d.machine)?,
            watermark: d.machine.watermark().map(at),
            dirty_from: d.next,
            obd_dirty_from,
            rollup_gps_at: d.st.dirty_from.map(|_| horizon_at),
            rollup_obd_at: d.st.obd_dirty_from.map(|_| horizon_at),
            vehicle_id: d.st.vehicle_id,
        });
    }
    store::save(c, &saved).await?;
    Ok(written)
}

/// Just before the hour of `ts`: adding "after" it starts with that hour.
fn before_hour(ts: DateTime<Utc>) -> DateTime<Utc> {
    rollup::hour_of(ts) - TimeDelta::microseconds(1)
}

fn merge(spans: &mut Spans, vehicle: &str, hours: Hours) {
    let Some(h) = hours else {
        return;
    };
    let merged = rollup::union(spans.get(vehicle).copied(), Some(h));
    if let Some(m) = merged {
        spans.insert(vehicle.to_string(), m);
    }
}

fn merge_all(spans: &mut Spans, added: Spans) {
    for (v, h) in added {
        merge(spans, &v, Some(h));
    }
}
