//! The reading-driven alert conditions, pure: each (rule, vehicle) has a [`State`] that a
//! [`Condition`] steps through the vehicle's readings in timestamp order, each step saying
//! whether the condition holds at that reading ([`Verdict::Raise`], with what the alert
//! shows), is absent ([`Verdict::Clear`]) or cannot be judged from it ([`Verdict::Quiet`]).
//!
//! What a verdict does to an alert (open one, or update the open one; resolve it once the
//! condition has stayed clear for the rule's clear time) is [`super::stream`]'s work over
//! [`super::store`]. The states are plain data (serde) so that they are persisted with the
//! readings they were computed up to, and a restart carries on where the last committed pass
//! stopped.
//!
//! - [`sustained`]: a value beyond a threshold for at least a duration (speeding, overheat).
//! - [`fuel`]: a low level, and a drop while parked (theft).
//! - [`dtc`]: diagnostic trouble codes present, the new ones named.

pub mod dtc;
pub mod fuel;
pub mod sustained;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::params::{DtcFamily, Params};

/// Microseconds per second: timestamps are microseconds since the Unix epoch.
pub const MICROS: i64 = 1_000_000;

/// A timestamp (µs) as the alerts show it: RFC 3339, UTC, microseconds.
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// One reading as the conditions see it. A field the tracker did not send is `None`.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    Gps {
        ts: i64,
        speed_kmh: Option<f64>,
        /// The limit that applies where the vehicle is (the rule's own, or the lowest
        /// `speed_limit_kmh` of the rule's fences it is inside); `None`: no limit there, so
        /// not speeding.
        limit_kmh: Option<f64>,
    },
    Obd {
        ts: i64,
        rpm: Option<f64>,
        speed_kmh: Option<f64>,
        coolant_c: Option<f64>,
        fuel_pct: Option<f64>,
        dtc: Option<Vec<String>>,
    },
}

impl Sample {
    pub fn ts(&self) -> i64 {
        match self {
            Sample::Gps { ts, .. } | Sample::Obd { ts, .. } => *ts,
        }
    }
}

/// What a reading says about a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It holds: the alert's details at this reading.
    Raise(Value),
    /// It does not.
    Clear,
    /// The reading does not tell (the field is missing, or it is the other stream).
    Quiet,
}

/// A reading-driven rule kind with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// GPS speed above the limit for at least `min_duration_s`.
    Speeding { min_duration_s: u32 },
    /// Coolant at or above `coolant_c` for at least `min_duration_s`.
    Overheat { coolant_c: f64, min_duration_s: u32 },
    /// Fuel below `below_pct`.
    LowFuel { below_pct: f64 },
    /// Fuel fallen by `drop_pct` or more within `within_s` while parked.
    FuelDrop { drop_pct: f64, within_s: u32 },
    /// Trouble codes present (of these families and codes; empty: any).
    Dtc(dtc::Filter),
}

/// A condition's memory between readings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The `ts` of the last reading stepped; an older or equal one changes nothing.
    pub last_ts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sustained: Option<sustained::Run>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked: Option<fuel::Parked>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<dtc::Seen>,
}

impl Condition {
    /// Steps `state` through `sample`. A sample at or before the last one stepped is
    /// [`Verdict::Quiet`] and changes nothing.
    pub fn step(&self, state: &mut State, sample: &Sample) -> Verdict {
        let ts = sample.ts();
        if state.last_ts.is_some_and(|last| ts <= last) {
            return Verdict::Quiet;
        }
        let verdict = match (self, sample) {
            (
                Condition::Speeding { min_duration_s },
                Sample::Gps {
                    speed_kmh,
                    limit_kmh,
                    ..
                },
            ) => {
                let over = speed_kmh.map(|v| match limit_kmh {
                    Some(l) => (v, v > *l, *l),
                    None => (v, false, 0.0),
                });
                let run = state.sustained.get_or_insert_with(Default::default);
                run.step(ts, over, *min_duration_s, "speed_kmh", "limit_kmh")
            }
            (
                Condition::Overheat {
                    coolant_c,
                    min_duration_s,
                },
                Sample::Obd { coolant_c: c, .. },
            ) => {
                let over = c.map(|v| (v, v >= *coolant_c, *coolant_c));
                let run = state.sustained.get_or_insert_with(Default::default);
                run.step(ts, over, *min_duration_s, "coolant_c", "threshold_c")
            }
            (Condition::LowFuel { below_pct }, Sample::Obd { fuel_pct, .. }) => {
                fuel::low(*fuel_pct, *below_pct)
            }
            (
                Condition::FuelDrop { drop_pct, within_s },
                Sample::Obd {
                    rpm,
                    speed_kmh,
                    fuel_pct,
                    ..
                },
            ) => {
                let parked = state.parked.get_or_insert_with(Default::default);
                parked.step(
                    ts,
                    fuel::is_parked(*rpm, *speed_kmh),
                    *fuel_pct,
                    *drop_pct,
                    *within_s,
                )
            }
            (Condition::Dtc(filter), Sample::Obd { dtc, .. }) => match dtc {
                Some(codes) => state
                    .codes
                    .get_or_insert_with(Default::default)
                    .step(filter, codes),
                None => Verdict::Quiet,
            },
            _ => return Verdict::Quiet,
        };
        state.last_ts = Some(ts);
        verdict
    }

    /// Whether this condition reads the GPS stream (else OBD).
    pub fn reads_gps(&self) -> bool {
        matches!(self, Condition::Speeding { .. })
    }

    /// The condition of a reading-driven rule; `None` for the other kinds (and `geofence`,
    /// which follows the fence engine's transitions rather than a reading's values).
    pub fn of(params: &Params) -> Option<Condition> {
        let secs = |s: i32| u32::try_from(s).unwrap_or(0);
        Some(match params {
            Params::Speeding(p) => Condition::Speeding {
                min_duration_s: secs(p.min_duration_s),
            },
            Params::Overheat(p) => Condition::Overheat {
                coolant_c: p.coolant_c,
                min_duration_s: secs(p.min_duration_s),
            },
            Params::LowFuel(p) => Condition::LowFuel {
                below_pct: p.below_pct,
            },
            Params::FuelDrop(p) => Condition::FuelDrop {
                drop_pct: p.drop_pct,
                within_s: secs(p.within_s),
            },
            Params::Dtc(p) => Condition::Dtc(dtc::Filter {
                families: p
                    .families
                    .iter()
                    .flatten()
                    .map(|f| match f {
                        DtcFamily::P => 'P',
                        DtcFamily::C => 'C',
                        DtcFamily::B => 'B',
                        DtcFamily::U => 'U',
                    })
                    .collect(),
                codes: p.codes.iter().flatten().cloned().collect(),
            }),
            _ => return None,
        })
    }
}

impl State {
    /// Forgets the run, the window and the codes (the vehicle left the rule's scope), keeping
    /// the last `ts` stepped.
    pub fn reset(&mut self) {
        *self = State {
            last_ts: self.last_ts,
            ..State::default()
        };
    }
}
