//! Validated run parameters, independent of how they were given (see `cli.rs`).

use std::path::PathBuf;
use std::time::Duration;

use crate::payload::Format;
use crate::vehicle::Region;

/// Percentages of readings to break, each in `0..=100`. The first five are exclusive per
/// reading (their sum is at most 100); `offline` is the share of readings produced while a
/// vehicle is offline, and those readings get no other fault.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    pub malformed: f64,
    pub out_of_range: f64,
    pub duplicate: f64,
    pub out_of_order: f64,
    pub future_skew: f64,
    pub offline: f64,
}

/// The kinds of fault, in the order of counters and of `manifest::FAULT_NAMES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Malformed,
    OutOfRange,
    Duplicate,
    OutOfOrder,
    FutureSkew,
    Offline,
}

impl Fault {
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Faults {
    pub fn any(&self) -> bool {
        self.per_reading_sum() > 0.0 || self.offline > 0.0
    }

    pub fn per_reading_sum(&self) -> f64 {
        self.malformed + self.out_of_range + self.duplicate + self.out_of_order + self.future_skew
    }

    /// The per-reading fault for a uniform draw `u` in `[0, 100)`.
    pub fn pick(&self, u: f64) -> Option<Fault> {
        let mut edge = 0.0;
        for (p, f) in [
            (self.malformed, Fault::Malformed),
            (self.out_of_range, Fault::OutOfRange),
            (self.duplicate, Fault::Duplicate),
            (self.out_of_order, Fault::OutOfOrder),
            (self.future_skew, Fault::FutureSkew),
        ] {
            edge += p;
            if u < edge {
                return Some(f);
            }
        }
        None
    }
}

/// What to generate: everything that decides the readings themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub vehicles: u32,
    pub region: Region,
    pub seed: u64,
    /// `None` when that kind is switched off (`--gps-hz 0`).
    pub gps_period_ms: Option<u32>,
    pub obd_period_ms: Option<u32>,
    pub format: Format,
    /// Readings per JSON array or binary payload (1..=1000); unused for `json`.
    pub batch: usize,
    /// Flush a vehicle's partial batch once its first reading waited this long (wall
    /// clock); 0 flushes only when full.
    pub batch_linger_ms: i64,
    pub faults: Faults,
    pub prefix: String,
    pub id_prefix: String,
}

impl SimConfig {
    /// Readings per second one vehicle produces in simulated time.
    pub fn readings_per_vehicle_s(&self) -> f64 {
        let per = |p: Option<u32>| p.map_or(0.0, |ms| 1000.0 / f64::from(ms));
        per(self.gps_period_ms) + per(self.obd_period_ms)
    }

    /// Readings per second of the whole fleet in real time.
    pub fn natural_rate(&self) -> f64 {
        f64::from(self.vehicles) * self.readings_per_vehicle_s()
    }

    pub fn max_period_ms(&self) -> i64 {
        i64::from(
            self.gps_period_ms
                .unwrap_or(0)
                .max(self.obd_period_ms.unwrap_or(0)),
        )
    }
}

/// How publishing is paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateMode {
    /// Each reading is published when the wall clock reaches its `ts` (the default).
    RealTime,
    /// `--rate R`: R readings per second in total.
    Fixed(f64),
    /// `--max-rate`: as fast as the broker acknowledges.
    Max,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTarget {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: MQTT over TLS (see `tls.rs` for the certificate files).
    pub tls: bool,
}

impl MqttTarget {
    /// The URL scheme, for messages.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "mqtts"
        } else {
            "mqtt"
        }
    }
}

/// Everything `fleet-sim run` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    pub sim: SimConfig,
    pub mqtt: MqttTarget,
    /// Certificate files for an `mqtts://` broker.
    pub mqtt_tls: crate::tls::MqttTlsArgs,
    pub qos: u8,
    pub connections: u32,
    pub inflight: u16,
    pub rate: RateMode,
    pub duration: Option<Duration>,
    pub readings: Option<u64>,
    /// Overrides the planned start of the simulated clock (see `pacing.rs`).
    pub backlog: Option<Duration>,
    pub manifest: Option<PathBuf>,
    /// Where to write the ground truth (`truth.rs`).
    pub truth: Option<PathBuf>,
    pub json: bool,
    pub quiet: bool,
    /// One connection per vehicle with the accounts in this file (`fleet-sim provision`).
    pub credentials: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_follows_the_cumulative_percentages() {
        let f = Faults {
            malformed: 10.0,
            out_of_range: 5.0,
            future_skew: 1.0,
            ..Faults::default()
        };
        assert_eq!(f.pick(0.0), Some(Fault::Malformed));
        assert_eq!(f.pick(9.99), Some(Fault::Malformed));
        assert_eq!(f.pick(10.0), Some(Fault::OutOfRange));
        assert_eq!(f.pick(15.5), Some(Fault::FutureSkew));
        assert_eq!(f.pick(16.0), None);
        assert_eq!(Faults::default().pick(0.0), None);
    }
}
