//! A value beyond a threshold for at least a duration: speeding, overheating.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Verdict, MICROS};

/// The current run of readings beyond the threshold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The `ts` of the run's first reading; `None` when the last reading was within.
    pub since: Option<i64>,
    /// The run's most extreme value.
    pub peak: f64,
}

impl Run {
    /// `over`: the reading's value, whether it is beyond, and the threshold; `None` when the
    /// reading does not carry the value (the run goes on).
    pub fn step(
        &mut self,
        ts: i64,
        over: Option<(f64, bool, f64)>,
        min_duration_s: u32,
        value_name: &str,
        threshold_name: &str,
    ) -> Verdict {
        let Some((value, beyond, threshold)) = over else {
            return Verdict::Quiet;
        };
        if !beyond {
            self.since = None;
            return Verdict::Clear;
        }
        let since = match self.since {
            Some(since) => {
                self.peak = self.peak.max(value);
                since
            }
            None => {
                self.since = Some(ts);
                self.peak = value;
                ts
            }
        };
        if ts - since < i64::from(min_duration_s) * MICROS {
            return Verdict::Quiet;
        }
        Verdict::Raise(json!({
            value_name: value,
            threshold_name: threshold,
            "since": super::rfc3339(since),
            "peak": self.peak,
        }))
    }
}
