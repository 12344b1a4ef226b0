//! Fuel: a level below a threshold, and a drop while parked (siphoning).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Verdict, MICROS};

/// Most fuel levels a parked vehicle's window keeps; beyond it the oldest go first (the
/// window then covers less than `within_s`).
pub const MAX_WINDOW: usize = 1_024;

/// Below `below_pct`: raise; at or above: clear; no level: quiet.
pub fn low(fuel_pct: Option<f64>, below_pct: f64) -> Verdict {
    match fuel_pct {
        Some(f) if f < below_pct => Verdict::Raise(json!({"fuel_pct": f, "below_pct": below_pct})),
        Some(_) => Verdict::Clear,
        None => Verdict::Quiet,
    }
}

/// Parked: the engine off (`rpm` 0), or, without `rpm`, standing (`speed_kmh` 0). `None`
/// when the reading says neither.
pub fn is_parked(rpm: Option<f64>, speed_kmh: Option<f64>) -> Option<bool> {
    match (rpm, speed_kmh) {
        (Some(r), _) => Some(r <= 0.0),
        (None, Some(s)) => Some(s <= 0.0),
        (None, None) => None,
    }
}

/// The levels seen since the vehicle parked, within the window: `(ts, fuel)`, a max-queue
/// (each level is below every earlier one kept), so its front is the highest level in the
/// window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    pub levels: VecDeque<(i64, f64)>,
}

impl Parked {
    pub fn step(
        &mut self,
        ts: i64,
        parked: Option<bool>,
        fuel_pct: Option<f64>,
        drop_pct: f64,
        within_s: u32,
    ) -> Verdict {
        match parked {
            Some(false) => {
                self.levels.clear();
                return Verdict::Clear;
            }
            None => return Verdict::Quiet,
            Some(true) => {}
        }
        let Some(fuel) = fuel_pct else {
            return Verdict::Quiet;
        };
        let oldest = ts - i64::from(within_s) * MICROS;
        while self.levels.front().is_some_and(|&(t, _)| t < oldest) {
            self.levels.pop_front();
        }
        let verdict = match self.levels.front() {
            Some(&(from_ts, from)) if from - fuel >= drop_pct => Verdict::Raise(json!({
                "from_pct": from,
                "to_pct": fuel,
                "from_ts": super::rfc3339(from_ts),
                "drop_pct": drop_pct,
            })),
            _ => Verdict::Clear,
        };
        while self.levels.back().is_some_and(|&(_, f)| f <= fuel) {
            self.levels.pop_back();
        }
        if self.levels.len() == MAX_WINDOW {
            self.levels.pop_front();
        }
        self.levels.push_back((ts, fuel));
        verdict
    }
}
