//! One connection's share of the fleet: the vehicles, the order in which they report, fault
//! injection and batching. Pure and deterministic: it never reads a clock; the caller
//! passes the wall time, which only decides future-skew stamps and when partial batches
//! are flushed.
//!
//! Time model. Each vehicle reports on a grid of simulated time: GPS reading `k` of vehicle
//! `v` is stamped `t0 + phase(v) + k·period`, with a phase fixed by the seed that spreads
//! the fleet evenly over a period. The shard emits readings in `ts` order, and the motion
//! model advances by exactly the grid spacing, so the same seed gives the same readings
//! however fast they are published. Distinct ticks give distinct `ts`, so no two readings of
//! a vehicle share the identity `(vehicle_id, ts)` even when many are published per wall
//! second. The caller chooses `t0` and publishes a reading only once the wall clock has
//! reached its `ts` (see `pacing.rs`), so no good reading is ever stamped in the future.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::config::SimConfig;
use crate::manifest::{TickSet, VehicleExpect};
use crate::payload::{self, Kind};
use crate::rng::{mix64, SimRng};
pub use crate::route::Message;
use crate::route::{Ctx, Lane, Slot};
use crate::stats::GenCounters;
use crate::truth::{Recorder, VehicleTruth};
use crate::vehicle::Vehicle;

/// Mean length of an outage in readings; lengths are uniform in 10..=110.
const OUTAGE_MEAN_READINGS: f64 = 60.0;

/// Walks one kind's grid: round `r`, then the shard's vehicles by phase.
#[derive(Debug)]
struct Cursor {
    period: i64,
    /// `(phase_ms, slot)`, sorted.
    entries: Vec<(u32, u32)>,
    round: i64,
    pos: usize,
}

impl Cursor {
    fn ts(&self, t0: i64) -> i64 {
        t0 + self.round * self.period + i64::from(self.entries[self.pos].0)
    }

    fn advance(&mut self) {
        self.pos += 1;
        if self.pos == self.entries.len() {
            self.pos = 0;
            self.round += 1;
        }
    }
}

/// The phase of a vehicle's grid for one kind, fixed by the seed.
pub fn phase_ms(seed: u64, index: u32, kind: Kind, period_ms: u32) -> u32 {
    (mix64(seed ^ mix64(u64::from(index) << 1 | kind.index() as u64)) % u64::from(period_ms)) as u32
}

pub struct Shard {
    cfg: SimConfig,
    t0_ms: i64,
    slots: Vec<Slot>,
    gps: Option<Cursor>,
    obd: Option<Cursor>,
    q_offline: f64,
    dups: VecDeque<(u64, Message)>,
    emitted: u64,
    counters: Arc<GenCounters>,
    manifest: Option<Vec<VehicleExpect>>,
    /// The ground truth of each slot's vehicle (`fleet-sim run --truth`).
    truth: Option<Vec<Recorder>>,
}

impl Shard {
    /// A shard of the vehicles `indices` (ascending), with its grid starting at `t0_ms`.
    pub fn new(
        cfg: &SimConfig,
        indices: impl IntoIterator<Item = u32>,
        t0_ms: i64,
        counters: Arc<GenCounters>,
        manifest: bool,
    ) -> Self {
        let slots: Vec<Slot> = indices
            .into_iter()
            .map(|index| Slot {
                index,
                model: Vehicle::new(&cfg.region, SimRng::new(cfg.seed, u64::from(index))),
                model_ts: None,
                gps: Lane {
                    buf: Vec::new(),
                    first_ms: 0,
                },
                obd: Lane {
                    buf: Vec::new(),
                    first_ms: 0,
                },
                offline_left: 0,
                rare: None,
            })
            .collect();
        let cursor = |kind: Kind, period: Option<u32>| {
            let period = period.filter(|_| !slots.is_empty())?;
            let mut entries: Vec<(u32, u32)> = slots
                .iter()
                .enumerate()
                .map(|(i, s)| (phase_ms(cfg.seed, s.index, kind, period), i as u32))
                .collect();
            entries.sort_unstable();
            Some(Cursor {
                period: i64::from(period),
                entries,
                round: 0,
                pos: 0,
            })
        };
        let (gps, obd) = (
            cursor(Kind::Gps, cfg.gps_period_ms),
            cursor(Kind::Obd, cfg.obd_period_ms),
        );
        let width = payload::id_width(cfg.vehicles);
        let manifest = manifest.then(|| {
            slots
                .iter()
                .map(|s| {
                    let set = |kind, p: Option<u32>| {
                        p.map(|p| {
                            TickSet::new(
                                t0_ms + i64::from(phase_ms(cfg.seed, s.index, kind, p)),
                                i64::from(p),
                            )
                        })
                    };
                    VehicleExpect {
                        id: payload::vehicle_id(&cfg.id_prefix, width, s.index),
                        gps: set(Kind::Gps, cfg.gps_period_ms),
                        obd: set(Kind::Obd, cfg.obd_period_ms),
                        faults: [0; 6],
                    }
                })
                .collect()
        });
        let p = cfg.faults.offline / 100.0;
        let q_offline = if p >= 1.0 {
            1.0
        } else {
            p / (1.0 - p) / OUTAGE_MEAN_READINGS
        };
        Shard {
            cfg: cfg.clone(),
            t0_ms,
            slots,
            gps,
            obd,
            q_offline,
            dups: VecDeque::new(),
            emitted: 0,
            counters,
            manifest,
            truth: None,
        }
    }

    /// Also records what every vehicle really does (`truth.rs`), for `take_truth`.
    pub fn with_truth(mut self) -> Self {
        self.truth = Some(vec![Recorder::default(); self.slots.len()]);
        self
    }

    /// The `ts` of the next reading, `None` if this shard has nothing to generate.
    pub fn peek_ts(&self) -> Option<i64> {
        self.peek().map(|(_, ts)| ts)
    }

    fn peek(&self) -> Option<(Kind, i64)> {
        let g = self.gps.as_ref().map(|c| c.ts(self.t0_ms));
        let o = self.obd.as_ref().map(|c| c.ts(self.t0_ms));
        match (g, o) {
            (Some(g), Some(o)) if o < g => Some((Kind::Obd, o)),
            (Some(g), _) => Some((Kind::Gps, g)),
            (None, Some(o)) => Some((Kind::Obd, o)),
            (None, None) => None,
        }
    }

    /// Generates the next reading and appends the payloads that are due to `out`.
    pub fn step(&mut self, now_ms: i64, out: &mut Vec<Message>) {
        let Some((kind, ts)) = self.peek() else {
            return;
        };
        let cursor = match kind {
            Kind::Gps => self.gps.as_mut(),
            Kind::Obd => self.obd.as_mut(),
        };
        let Some(cursor) = cursor else { return };
        let si = cursor.entries[cursor.pos].1 as usize;
        cursor.advance();
        let slot = &mut self.slots[si];
        if let Some(prev) = slot.model_ts {
            slot.model
                .advance((ts - prev) as f64 / 1000.0, &self.cfg.region);
        }
        slot.model_ts = Some(ts);
        if let Some(truth) = &mut self.truth {
            truth[si].observe(ts, kind == Kind::Gps, &slot.model);
        }
        let mut cx = Ctx {
            cfg: &self.cfg,
            counters: &self.counters,
            expect: self.manifest.as_mut().map(|m| &mut m[si]),
            out,
            dups: &mut self.dups,
            emitted: &mut self.emitted,
            q_offline: self.q_offline,
            now_ms,
        };
        match kind {
            Kind::Gps => {
                let r = slot.model.gps(ts, &self.cfg.region);
                cx.route(slot, r);
            }
            Kind::Obd => {
                let r = slot.model.obd(ts);
                cx.route(slot, r);
            }
        }
        cx.linger(slot);
        cx.release_duplicates(false);
    }

    /// Flushes everything still buffered, held back or waiting to be duplicated.
    pub fn finish(&mut self, now_ms: i64, out: &mut Vec<Message>) {
        for (si, slot) in self.slots.iter_mut().enumerate() {
            let mut cx = Ctx {
                cfg: &self.cfg,
                counters: &self.counters,
                expect: self.manifest.as_mut().map(|m| &mut m[si]),
                out,
                dups: &mut self.dups,
                emitted: &mut self.emitted,
                q_offline: self.q_offline,
                now_ms,
            };
            cx.finish_slot(slot);
        }
        let mut cx = Ctx {
            cfg: &self.cfg,
            counters: &self.counters,
            expect: None,
            out,
            dups: &mut self.dups,
            emitted: &mut self.emitted,
            q_offline: 0.0,
            now_ms,
        };
        cx.release_duplicates(true);
    }

    /// Takes the readings of a payload that was never published back out of the manifest
    /// and the expected counts (the rare path of a run that gave up on the broker).
    pub fn forget(&mut self, m: &Message, now_ms: i64) {
        let Ok(readings) = crate::spec::check_payload(m.kind, &m.payload) else {
            return;
        };
        let slot = self
            .slots
            .binary_search_by_key(&m.vehicle, |s| s.index)
            .ok();
        let mut expect = slot.and_then(|i| self.manifest.as_mut().map(|v| &mut v[i]));
        for r in readings.into_iter().flatten() {
            // Good readings in the window were expected; future-skewed ones were not.
            if r.ts_ms() > now_ms + crate::spec::MAX_FUTURE_MS {
                continue;
            }
            self.counters.unexpect(m.kind, 1);
            let set = expect.as_deref_mut().and_then(|e| match m.kind {
                Kind::Gps => e.gps.as_mut(),
                Kind::Obd => e.obd.as_mut(),
            });
            if let Some(set) = set {
                set.remove(r.ts_ms(), r.digest());
            }
        }
    }

    /// What each vehicle really did, for those that reported GPS (only `with_truth`).
    pub fn take_truth(&mut self) -> Vec<VehicleTruth> {
        let width = payload::id_width(self.cfg.vehicles);
        let ids = self.slots.iter().map(|s| s.index);
        self.truth
            .take()
            .unwrap_or_default()
            .into_iter()
            .zip(ids)
            .filter_map(|(r, i)| r.finish(payload::vehicle_id(&self.cfg.id_prefix, width, i)))
            .collect()
    }

    /// What this shard published, one entry per vehicle (only with `manifest: true`).
    pub fn take_manifest(&mut self) -> Vec<VehicleExpect> {
        self.manifest.take().unwrap_or_default()
    }
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
