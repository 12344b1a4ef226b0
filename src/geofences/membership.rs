//! [`Membership`]: one vehicle's fence state, and the pure step from a reading to the
//! [`Transition`]s it causes.
//!
//! Readings must be evaluated in the vehicle's timestamp order; the state remembers the last
//! evaluated `ts`, and a reading at or before it changes nothing and produces nothing (a replay
//! or an out-of-order older reading never raises an event). The state is plain data (serde), so
//! that it can be persisted with the position it was computed up to and a restart carries on
//! without re-raising or losing a transition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::index::FenceIndex;
use super::point::Point;
use super::selector::Subject;

/// Microseconds per second: timestamps are microseconds since the Unix epoch.
const MICROS: i64 = 1_000_000;

/// One vehicle's fence state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The `ts` (µs) of the last evaluated reading; `None` before the first.
    pub last_ts: Option<i64>,
    /// The fences the vehicle is inside, with the visit.
    pub visits: BTreeMap<Uuid, Visit>,
}

/// A vehicle's current stay inside one fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// The `ts` (µs) of the reading that entered.
    pub entered_at: i64,
    /// Whether this visit has raised its `Dwell`.
    pub dwelled: bool,
}

/// A change of a vehicle's membership, at the `ts` (µs) of the reading that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Transition {
    Exited {
        fence: Uuid,
        ts: i64,
    },
    Entered {
        fence: Uuid,
        ts: i64,
    },
    /// Inside for at least the fence's `dwell_s`, once per visit.
    Dwell {
        fence: Uuid,
        ts: i64,
    },
}

/// The result of [`Membership::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub state: Membership,
    /// Exits, then entries, then dwells, each by fence id.
    pub transitions: Vec<Transition>,
}

impl Membership {
    /// The fences the vehicle is inside.
    pub fn inside(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.visits.keys().copied()
    }

    /// The state after a reading at `ts` (µs) and `p`, and the transitions it caused.
    pub fn next(&self, fences: &FenceIndex, ts: i64, p: Point) -> Step {
        let mut state = self.clone();
        let transitions = state.apply(fences, ts, p);
        Step { state, transitions }
    }

    /// [`next`](Self::next) in place: applies the reading and returns its transitions.
    ///
    /// A fence deleted from the index while the vehicle was inside ends the visit without an
    /// `Exited` (the deletion is the event); a fence whose shape changed is evaluated as it is
    /// now, its visit kept (hysteresis applies). Selectors are not consulted: see
    /// [`apply_for`](Self::apply_for).
    pub fn apply(&mut self, fences: &FenceIndex, ts: i64, p: Point) -> Vec<Transition> {
        self.step(fences, ts, |before| fences.evaluate(p, before), |_| true)
    }

    /// [`apply`](Self::apply) for one vehicle: only the fences whose selector applies to it.
    /// A fence whose selector stops applying ends the visit without an `Exited`, as a
    /// deleted one does.
    pub fn apply_for(
        &mut self,
        fences: &FenceIndex,
        ts: i64,
        p: Point,
        subject: Subject<'_>,
    ) -> Vec<Transition> {
        self.step(
            fences,
            ts,
            |before| fences.evaluate_for(p, before, subject),
            |id| fences.get(id).is_some_and(|f| f.selector.applies(subject)),
        )
    }

    fn step(
        &mut self,
        fences: &FenceIndex,
        ts: i64,
        evaluate: impl FnOnce(&[Uuid]) -> Vec<Uuid>,
        watched: impl Fn(Uuid) -> bool,
    ) -> Vec<Transition> {
        if self.last_ts.is_some_and(|last| ts <= last) {
            return Vec::new();
        }
        self.last_ts = Some(ts);
        let before: Vec<Uuid> = self.visits.keys().copied().collect();
        let after = evaluate(&before);
        let mut out = Vec::new();
        for id in &before {
            if after.binary_search(id).is_err() {
                self.visits.remove(id);
                if fences.get(*id).is_some() && watched(*id) {
                    out.push(Transition::Exited { fence: *id, ts });
                }
            }
        }
        for id in &after {
            if before.binary_search(id).is_err() {
                self.visits.insert(
                    *id,
                    Visit {
                        entered_at: ts,
                        dwelled: false,
                    },
                );
                out.push(Transition::Entered { fence: *id, ts });
            }
        }
        for (id, visit) in self.visits.iter_mut() {
            let dwell = fences.get(*id).and_then(|f| f.dwell_s);
            if let Some(dwell_s) = dwell {
                if !visit.dwelled && ts - visit.entered_at >= i64::from(dwell_s) * MICROS {
                    visit.dwelled = true;
                    out.push(Transition::Dwell { fence: *id, ts });
                }
            }
        }
        out
    }
}
