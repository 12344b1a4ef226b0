//! Is a reading moving? Reported speed when the tracker sends one, else displacement over a
//! window: a pure function of the reading and the readings before it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Fix, Params};
use crate::live::geo::haversine_m;

/// The readings a judgement may look back at: those inside the motion window, plus the
/// latest one before it, none older than `max_gap`. What it holds depends only on which
/// readings came before and the current time, so a machine restarted with the earlier
/// readings as context judges exactly as one that saw them all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Motion {
    history: VecDeque<Fix>,
}

impl Motion {
    /// Judges `f` against the readings remembered so far, then remembers it.
    pub fn classify(&mut self, p: &Params, f: &Fix) -> bool {
        let moving = self.judge(p, f);
        self.remember(p, *f);
        moving
    }

    /// Judges `f` without remembering it.
    pub fn judge(&self, p: &Params, f: &Fix) -> bool {
        if p.use_ignition && f.ignition == Some(false) {
            return false;
        }
        if let Some(v) = f.speed_kmh {
            return f64::from(v) >= p.min_speed_kmh;
        }
        let Some(r) = self.reference(p, f.ts_us) else {
            return false;
        };
        let d = haversine_m(r.lat, r.lon, f.lat, f.lon);
        let dt_s = (f.ts_us - r.ts_us) as f64 / 1e6;
        dt_s > 0.0 && d > p.jitter_m && d / dt_s * 3.6 >= p.min_speed_kmh
    }

    /// The reading to measure displacement from: the latest one at least a window before
    /// `ts_us`, else the oldest remembered; never one a gap or more before.
    fn reference(&self, p: &Params, ts_us: i64) -> Option<&Fix> {
        let recent = |f: &&Fix| ts_us - f.ts_us < p.max_gap_us && f.ts_us < ts_us;
        self.history
            .iter()
            .rev()
            .filter(recent)
            .find(|f| f.ts_us <= ts_us - p.window_us)
            .or_else(|| self.history.iter().find(recent))
    }

    /// Adds a reading (in timestamp order) and forgets what no later judgement can use.
    pub fn remember(&mut self, p: &Params, f: Fix) {
        self.history.push_back(f);
        let now = f.ts_us;
        while self
            .history
            .front()
            .is_some_and(|o| now - o.ts_us >= p.max_gap_us)
        {
            self.history.pop_front();
        }
        // Keep only the latest reading at least a window old: later judgements look no
        // further back than that one.
        while self.history.len() >= 2 && self.history[1].ts_us <= now - p.window_us {
            self.history.pop_front();
        }
    }
}
