//! The segmenter's loop: every `trips.interval_ms`, fold the writers' marks, then claim the
//! vehicles with new readings (row locks, `SKIP LOCKED`: one owner per vehicle whatever the
//! number of daemons) and bring their trips and stops up to date, [`incremental`]'s way.
//!
//! Only readings at least `trips.settle_s` old are segmented, so readings of one vehicle
//! that commit out of order within that delay (two daemons, one broker redelivery) are
//! simply fed in order; a reading later than that re-segments from the last settled segment
//! before it.
//!
//! The same settled readings then go, in the same transaction, through the geofence engine
//! ([`crate::fencing`]), which raises `geofence.*` events for those newer than the last it
//! evaluated, and with the OBD readings through the reading-driven alert rules
//! ([`crate::alerts::stream`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deadpool_postgres::{Pool, Transaction};
use tokio_util::sync::CancellationToken;

use super::finish::{self, Done};
use super::incremental::{self, Start};
use super::machine::Machine;
use super::rollup;
use super::segments;
use super::store::{self, at, State};
use super::{Fix, Params};
use crate::alerts;
use crate::clock::Clock;
use crate::config::{RetentionConfig, TripsConfig};
use crate::fencing::{self, Track};
use crate::metrics::Metrics;

/// Marks folded per statement.
const FOLD_BATCH: i64 = 1_000;

/// One daemon's segmenter.
#[derive(Clone)]
pub struct Segmenter {
    pub pool: Pool,
    pub config: TripsConfig,
    pub retention: RetentionConfig,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// The geofences, evaluated on the same readings.
    pub fences: Arc<fencing::Engine>,
}

/// How often rollups past their retention are deleted.
const EXPIRE_EVERY: Duration = Duration::from_secs(3_600);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub marks: u64,
    pub vehicles: usize,
    pub segments: usize,
    pub redone: usize,
    /// Readings evaluated against the geofences, and the events they raised.
    pub fence_readings: usize,
    pub fence_events: usize,
    /// Alerts the reading-driven rules opened and resolved.
    pub alerts_opened: usize,
    pub alerts_resolved: usize,
}

impl Segmenter {
    /// Runs passes until `stop` fires.
    pub async fn run(self, stop: CancellationToken) {
        let every = Duration::from_millis(self.config.interval_ms);
        let mut expired_at: Option<std::time::Instant> = None;
        loop {
            if expired_at.is_none_or(|t| t.elapsed() >= EXPIRE_EVERY) {
                match self.expire().await {
                    Ok(n) => {
                        expired_at = Some(std::time::Instant::now());
                        if n > 0 {
                            tracing::info!(rows = n, "rollups past their retention deleted");
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "deleting old rollups failed")
                    }
                }
            }
            if let Err(error) = self.pass().await {
                self.metrics.trips_pass_errors.inc();
                tracing::warn!(error = format!("{error:#}"), "trip segmenter pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Deletes rollups past `[retention]`.
    pub async fn expire(&self) -> anyhow::Result<u64> {
        let client = self.pool.get().await?;
        let r = &self.retention;
        Ok(rollup::expire(&**client, self.clock.now(), r.hourly_days, r.daily_days).await?)
    }

    /// Folds every mark, then segments every vehicle with work due.
    pub async fn pass(&self) -> anyhow::Result<PassReport> {
        let mut report = PassReport::default();
        let client = self.pool.get().await?;
        loop {
            let n = store::fold(&**client, FOLD_BATCH).await?;
            report.marks += n;
            if n < FOLD_BATCH as u64 {
                break;
            }
        }
        drop(client);
        let horizon = self.clock.now_us() - self.config.settle_s as i64 * 1_000_000;
        let batch = i64::from(self.config.batch_vehicles);
        loop {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let claimed_at = Instant::now();
            let claimed = store::claim(&*tx, at(horizon), batch).await?;
            let n = claimed.len();
            if n == 0 {
                break;
            }
            let lags: Vec<f64> = claimed.iter().filter_map(|s| s.lag_s).collect();
            let before = report;
            self.process(&tx, claimed, horizon, &mut report).await?;
            tx.commit().await?;
            let took = claimed_at.elapsed().as_secs_f64();
            for lag in lags {
                self.metrics.trips_lag_seconds.observe(lag.max(0.0) + took);
            }
            self.metrics
                .trips_segments
                .inc_by((report.segments - before.segments) as u64);
            self.metrics
                .trips_redone
                .inc_by((report.redone - before.redone) as u64);
            let fenced = report.fence_readings - before.fence_readings;
            self.metrics.geofence_readings.inc_by(fenced as u64);
            let raised = report.fence_events - before.fence_events;
            self.metrics.geofence_events.inc_by(raised as u64);
            report.vehicles += n;
            if (n as i64) < batch {
                break;
            }
        }
        Ok(report)
    }

    async fn process(
        &self,
        tx: &Transaction<'_>,
        claimed: Vec<State>,
        horizon: i64,
        report: &mut PassReport,
    ) -> anyhow::Result<()> {
        let p = Params::new(&self.config);
        let obd_from: Vec<(String, DateTime<Utc>)> = claimed
            .iter()
            .filter_map(|st| Some((st.vehicle_id.clone(), st.obd_dirty_from?)))
            .filter(|(_, from)| from.timestamp_micros() <= horizon)
            .collect();
        let mut done = Vec::with_capacity(claimed.len());
        let mut tracks: Vec<Track> = Vec::new();
        let mut continuing: Vec<(State, Machine)> = Vec::new();
        for st in claimed {
            let mut dirty = st.dirty_from.map(|d| d.timestamp_micros());
            if p.use_ignition {
                let obd = st.obd_dirty_from.map(|d| d.timestamp_micros());
                dirty = dirty.into_iter().chain(obd).min();
            }
            let saved: Option<Machine> = st
                .machine
                .clone()
                .and_then(|v| serde_json::from_value(v).ok());
            match (dirty, saved) {
                // Only OBD readings: the trips' fuel and odometer figures.
                (None, saved) => done.push(Done {
                    st,
                    machine: saved.unwrap_or_default(),
                    new: Vec::new(),
                    next: None,
                }),
                (Some(d), saved) => match incremental::start(saved, d) {
                    Start::Continue(m) => continuing.push((st, *m)),
                    Start::Redo { decided_from } => {
                        report.redone += 1;
                        let (d, fixes) = self.redo(tx, st, decided_from, horizon).await?;
                        tracks.push(track(&d.st.vehicle_id, due(&fixes, horizon)));
                        done.push(d);
                    }
                },
            }
        }
        if !continuing.is_empty() {
            let vehicles: Vec<&str> = continuing
                .iter()
                .map(|(s, _)| s.vehicle_id.as_str())
                .collect();
            let after: Vec<DateTime<Utc>> = continuing
                .iter()
                .map(|(_, m)| at(m.watermark().unwrap_or(0)))
                .collect();
            let rows = store::readings_after(&**tx, &vehicles, &after).await?;
            let mut rows = rows.into_iter().peekable();
            for (st, mut m) in continuing {
                let mut fixes = Vec::new();
                while let Some((_, f)) = rows.next_if(|(v, _)| *v == st.vehicle_id) {
                    fixes.push(f);
                }
                if p.use_ignition {
                    self.attach_ignition(tx, &st.vehicle_id, &mut fixes, &p)
                        .await?;
                }
                let new = incremental::run(&p, &mut m, due(&fixes, horizon), horizon);
                tracks.push(track(&st.vehicle_id, due(&fixes, horizon)));
                done.push(Done {
                    next: after_horizon(&fixes, horizon),
                    st,
                    machine: m,
                    new,
                });
            }
        }
        report.segments += finish::finish(tx, &self.config, done, horizon).await?;
        let rules = alerts::stream::rules(&**tx).await?;
        let watched = alerts::stream::watched(&rules);
        let fenced = self.fences.evaluate(&**tx, &tracks, &watched).await?;
        report.fence_readings += fenced.report.readings;
        report.fence_events += fenced.report.events;
        let (from, until) = (&obd_from, at(horizon));
        let alerted =
            alerts::stream::evaluate(&**tx, &rules, &tracks, &fenced, from, until).await?;
        report.alerts_opened += alerted.opened;
        report.alerts_resolved += alerted.resolved;
        Ok(())
    }

    /// Re-segments a vehicle from the last segment settled before `from`; also returns the
    /// readings it read from there on.
    async fn redo(
        &self,
        tx: &Transaction<'_>,
        st: State,
        from: i64,
        horizon: i64,
    ) -> anyhow::Result<(Done, Vec<Fix>)> {
        let p = Params::new(&self.config);
        let anchor = segments::anchor(&**tx, &st.vehicle_id, at(from)).await?;
        let (mut m, mut fixes) = match anchor {
            Some(a) => {
                let a = a.timestamp_micros();
                let all = store::readings_from(&**tx, &st.vehicle_id, at(a - p.max_gap_us)).await?;
                let split = all.partition_point(|f| f.ts_us < a);
                (Machine::resume(&p, &all[..split]), all[split..].to_vec())
            }
            None => {
                let origin = st.origin.map_or(from, |o| o.timestamp_micros()).min(from);
                let all = store::readings_from(&**tx, &st.vehicle_id, at(origin)).await?;
                (Machine::new(), all)
            }
        };
        if p.use_ignition {
            self.attach_ignition(tx, &st.vehicle_id, &mut fixes, &p)
                .await?;
        }
        let new = incremental::run(&p, &mut m, due(&fixes, horizon), horizon);
        let keep: Vec<DateTime<Utc>> = new.iter().map(|s| at(s.start.ts_us)).collect();
        segments::drop_from(&**tx, &st.vehicle_id, at(from), &keep).await?;
        let done = Done {
            next: after_horizon(&fixes, horizon),
            st,
            machine: m,
            new,
        };
        Ok((done, fixes))
    }

    /// Sets each reading's ignition from the latest OBD `rpm` at or before it (within
    /// `max_gap`).
    async fn attach_ignition(
        &self,
        tx: &Transaction<'_>,
        vehicle: &str,
        fixes: &mut [Fix],
        p: &Params,
    ) -> anyhow::Result<()> {
        let Some(first) = fixes.first() else {
            return Ok(());
        };
        let rpm = store::ignition_from(&**tx, vehicle, at(first.ts_us - p.max_gap_us)).await?;
        attach(fixes, &rpm, p.max_gap_us);
        Ok(())
    }
}

/// The first reading after the horizon: it waits for a later pass.
fn after_horizon(fixes: &[Fix], horizon: i64) -> Option<DateTime<Utc>> {
    fixes
        .iter()
        .find(|f| f.ts_us > horizon)
        .map(|f| at(f.ts_us))
}

/// A vehicle's readings for the geofence engine.
fn track(vehicle: &str, fixes: &[Fix]) -> Track {
    let readings = fixes
        .iter()
        .map(|f| fencing::Reading {
            ts_us: f.ts_us,
            lat: f.lat,
            lon: f.lon,
            speed_kmh: f.speed_kmh,
        })
        .collect();
    Track {
        vehicle_id: vehicle.to_string(),
        readings,
    }
}

/// The readings at or before the horizon.
fn due(fixes: &[Fix], horizon: i64) -> &[Fix] {
    &fixes[..fixes.partition_point(|f| f.ts_us <= horizon)]
}

/// Sets each fix's ignition from the latest `(ts, on)` at or before it, not older than
/// `max_age_us`; both sorted by time.
pub fn attach(fixes: &mut [Fix], rpm: &[(i64, bool)], max_age_us: i64) {
    let mut i = 0;
    let mut latest: Option<(i64, bool)> = None;
    for f in fixes {
        while i < rpm.len() && rpm[i].0 <= f.ts_us {
            latest = Some(rpm[i]);
            i += 1;
        }
        f.ignition = latest
            .filter(|(ts, _)| f.ts_us - ts < max_age_us)
            .map(|(_, on)| on);
    }
}
