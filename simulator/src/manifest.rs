//! The manifest: what a run published, so `verify` can compare it with PostgreSQL exactly.
//!
//! File format (JSON lines, written at the end of a run):
//!
//! ```text
//! {"fleet_sim_manifest":1,"seed":1,...,"window_from_ms":..,"window_to_ms":..,"expected":{"gps":..,"obd":..},...}
//! {"v":"veh-000001","gps":{"base":1718000000123,"step":1000,"runs":[0,57,1,40],"n":97,"sum":"9f3a..."},"obd":{...},"faults":{"malformed":1}}
//! ```
//!
//! The first line is the header (run parameters, totals, deliberately bad readings by fault
//! type, duplicate copies sent). Every later line is one vehicle that published something.
//! Each vehicle's readings of one kind are stamped on a grid `base + k·step` (see
//! `shard.rs`), so the set of `ts` that should be stored is a set of tick numbers `k`,
//! written as run lengths alternating skip and take from `k = 0`: `[0,57,1,40]` means ticks
//! 0–56 and 58–97. A million readings take a few megabytes. `n` is the set's size and `sum`
//! a checksum of the stored values (the wrapping sum of one 64-bit hash per reading over
//! its `ts` and values rounded as the simulator rounds them), which `verify` recomputes from
//! the rows.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::rng::mix64;

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be opened or read.
    #[error("cannot read manifest {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A line is not what this version writes.
    #[error("manifest {path} line {line}: {message}")]
    Format {
        path: String,
        line: usize,
        message: String,
    },
}

fn q(x: f64, scale: f64) -> i64 {
    (x * scale).round() as i64
}

fn fold(h: u64, x: Option<i64>) -> u64 {
    // Absent values hash differently from every present one.
    mix64(h ^ x.map_or(0x5bd1_e995_u64, |v| mix64(v as u64)))
}

/// Checksum of one GPS reading: `ts`, lat/lon at 1e-7°, then speed, heading, altitude and
/// accuracy at 0.1. Rounding first makes values read back from `real` columns match.
pub fn gps_digest(ts_ms: i64, lat: f64, lon: f64, rest: [Option<f64>; 4]) -> u64 {
    let mut h = fold(mix64(ts_ms as u64), Some(q(lat, 1e7)));
    h = fold(h, Some(q(lon, 1e7)));
    for v in rest {
        h = fold(h, v.map(|x| q(x, 10.0)));
    }
    h
}

/// Checksum of one OBD reading: `ts`, rpm whole, the other values at 0.1, then the trouble
/// codes (absent and empty hash alike).
pub fn obd_digest<S: AsRef<str>>(ts_ms: i64, values: [Option<f64>; 6], dtc: &[S]) -> u64 {
    let mut h = mix64(ts_ms as u64 ^ 0x0bd0);
    for (i, v) in values.into_iter().enumerate() {
        let scale = if i == 0 { 1.0 } else { 10.0 };
        h = fold(h, v.map(|x| q(x, scale)));
    }
    for code in dtc {
        let b = code.as_ref().as_bytes();
        let mut word = [0u8; 8];
        let n = b.len().min(8);
        word[..n].copy_from_slice(&b[..n]);
        h = fold(h, Some(i64::from_le_bytes(word)));
    }
    h
}

/// The set of `ts` of one vehicle and kind, as tick numbers on its grid, with the
/// checksum of their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickSet {
    pub base: i64,
    pub step: i64,
    bits: Vec<u64>,
    len: u64,
    pub sum: u64,
}

impl TickSet {
    pub fn new(base: i64, step: i64) -> Self {
        TickSet {
            base,
            step,
            bits: Vec::new(),
            len: 0,
            sum: 0,
        }
    }

    pub fn tick(&self, ts_ms: i64) -> Option<usize> {
        let off = ts_ms.checked_sub(self.base)?;
        (off >= 0 && off % self.step == 0).then(|| (off / self.step) as usize)
    }

    /// Adds `ts` with its value digest; false (and nothing changes) if it is off the grid
    /// or already present.
    pub fn insert(&mut self, ts_ms: i64, digest: u64) -> bool {
        let Some(k) = self.tick(ts_ms) else {
            return false;
        };
        if k / 64 >= self.bits.len() {
            self.bits.resize(k / 64 + 1, 0);
        }
        let (w, b) = (k / 64, 1u64 << (k % 64));
        if self.bits[w] & b != 0 {
            return false;
        }
        self.bits[w] |= b;
        self.len += 1;
        self.sum = self.sum.wrapping_add(digest);
        true
    }

    /// Removes `ts` and its digest; false if it was not present.
    pub fn remove(&mut self, ts_ms: i64, digest: u64) -> bool {
        if !self.contains(ts_ms) {
            return false;
        }
        let Some(k) = self.tick(ts_ms) else {
            return false;
        };
        self.bits[k / 64] &= !(1u64 << (k % 64));
        // Equal sets compare equal: no trailing empty words.
        while self.bits.last() == Some(&0) {
            self.bits.pop();
        }
        self.len -= 1;
        self.sum = self.sum.wrapping_sub(digest);
        true
    }

    pub fn contains(&self, ts_ms: i64) -> bool {
        self.tick(ts_ms)
            .and_then(|k| self.bits.get(k / 64).map(|w| w & (1u64 << (k % 64)) != 0))
            .unwrap_or(false)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `ts` values, ascending.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.bits.iter().enumerate().flat_map(move |(w, &word)| {
            (0..64)
                .filter(move |b| word & (1u64 << b) != 0)
                .map(move |b| self.base + (w as i64 * 64 + b) * self.step)
        })
    }

    /// Alternating skip/take run lengths from tick 0.
    pub fn runs(&self) -> Vec<u64> {
        let mut runs = Vec::new();
        let (mut state, mut count) = (false, 0u64);
        let total = self.bits.len() * 64;
        for k in 0..total {
            let set = self.bits[k / 64] & (1u64 << (k % 64)) != 0;
            if set != state {
                runs.push(count);
                state = set;
                count = 0;
            }
            count += 1;
        }
        if state {
            runs.push(count);
        }
        runs
    }

    pub fn from_runs(base: i64, step: i64, runs: &[u64], sum: u64) -> Result<Self, String> {
        if step <= 0 {
            return Err(format!("step {step} is not positive"));
        }
        let mut set = TickSet::new(base, step);
        let mut k = 0u64;
        for (i, &n) in runs.iter().enumerate() {
            if i % 2 == 1 {
                if k + n > 1 << 32 {
                    return Err("runs cover more than 2^32 ticks".into());
                }
                for t in k..k + n {
                    set.insert(base + t as i64 * step, 0);
                }
            }
            k += n;
        }
        set.sum = sum;
        Ok(set)
    }
}

/// Counts per fault type, in the order of `Fault::ALL`.
pub type FaultCounts = [u64; 6];
/// Names of the fault types, as in the report and the `--fault-*` flags.
pub const FAULT_NAMES: [&str; 6] = [
    "malformed",
    "out_of_range",
    "duplicate",
    "out_of_order",
    "future_skew",
    "offline",
];

/// What one vehicle published.
#[derive(Debug, Clone)]
pub struct VehicleExpect {
    pub id: String,
    pub gps: Option<TickSet>,
    pub obd: Option<TickSet>,
    pub faults: FaultCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    pub gps: u64,
    pub obd: u64,
}

/// The manifest's first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub fleet_sim_manifest: u32,
    pub seed: u64,
    pub prefix: String,
    pub id_prefix: String,
    pub vehicles: u32,
    pub format: String,
    pub gps_period_ms: Option<u32>,
    pub obd_period_ms: Option<u32>,
    pub t0_ms: i64,
    /// `verify` considers stored rows with `ts` in `[window_from_ms, window_to_ms]`.
    pub window_from_ms: i64,
    pub window_to_ms: i64,
    /// Readings that should be stored, each once.
    pub expected: KindCounts,
    /// Readings sent deliberately bad (must be rejected) or delivered oddly, by fault type.
    pub faults: BTreeMap<String, u64>,
    /// Extra copies published by `--fault-duplicate`.
    pub duplicates_sent: u64,
}

#[derive(Serialize, Deserialize)]
struct LaneLine {
    base: i64,
    step: i64,
    runs: Vec<u64>,
    n: u64,
    sum: String,
}

#[derive(Serialize, Deserialize)]
struct VehicleLine {
    v: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gps: Option<LaneLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    obd: Option<LaneLine>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    faults: BTreeMap<String, u64>,
}

fn lane_line(set: &Option<TickSet>) -> Option<LaneLine> {
    set.as_ref().filter(|s| !s.is_empty()).map(|s| LaneLine {
        base: s.base,
        step: s.step,
        runs: s.runs(),
        n: s.len(),
        sum: format!("{:016x}", s.sum),
    })
}

/// Writes the header and one line per vehicle that published anything.
pub fn write(path: &Path, header: &Header, vehicles: &[VehicleExpect]) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer(&mut out, header)?;
    out.write_all(b"\n")?;
    for v in vehicles {
        let line = VehicleLine {
            v: v.id.clone(),
            gps: lane_line(&v.gps),
            obd: lane_line(&v.obd),
            faults: FAULT_NAMES
                .iter()
                .zip(v.faults)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
        };
        if line.gps.is_none() && line.obd.is_none() && line.faults.is_empty() {
            continue;
        }
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// A manifest read back.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub header: Header,
    pub vehicles: Vec<VehicleExpect>,
}

fn read_lane(l: Option<LaneLine>) -> Result<Option<TickSet>, String> {
    let Some(l) = l else { return Ok(None) };
    let sum = u64::from_str_radix(&l.sum, 16).map_err(|e| format!("sum {:?}: {e}", l.sum))?;
    let set = TickSet::from_runs(l.base, l.step, &l.runs, sum)?;
    if set.len() != l.n {
        return Err(format!("runs hold {} ticks but n is {}", set.len(), l.n));
    }
    Ok(Some(set))
}

pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
    let p = path.display().to_string();
    let io = |source| ManifestError::Io {
        path: p.clone(),
        source,
    };
    let fmt = |line, message: String| ManifestError::Format {
        path: p.clone(),
        line,
        message,
    };
    let mut lines = BufReader::new(std::fs::File::open(path).map_err(io)?).lines();
    let first = lines
        .next()
        .ok_or_else(|| fmt(1, "empty file".into()))?
        .map_err(io)?;
    let header: Header = serde_json::from_str(&first).map_err(|e| fmt(1, e.to_string()))?;
    if header.fleet_sim_manifest != 1 {
        return Err(fmt(
            1,
            format!("unknown manifest version {}", header.fleet_sim_manifest),
        ));
    }
    let mut vehicles = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let v: VehicleLine = serde_json::from_str(&line).map_err(|e| fmt(i + 2, e.to_string()))?;
        let mut faults = [0u64; 6];
        for (name, n) in v.faults {
            match FAULT_NAMES.iter().position(|f| *f == name) {
                Some(idx) => faults[idx] = n,
                None => return Err(fmt(i + 2, format!("unknown fault {name:?}"))),
            }
        }
        vehicles.push(VehicleExpect {
            id: v.v,
            gps: read_lane(v.gps).map_err(|m| fmt(i + 2, m))?,
            obd: read_lane(v.obd).map_err(|m| fmt(i + 2, m))?,
            faults,
        });
    }
    Ok(Manifest { header, vehicles })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_set_runs_round_trip() {
        let mut s = TickSet::new(1_000, 250);
        for k in (0..57).chain(58..98).chain(200..201) {
            assert!(s.insert(1_000 + k * 250, k as u64));
        }
        assert!(!s.insert(1_000 + 5 * 250, 0), "already present");
        let before = s.clone();
        assert!(s.insert(1_000 + 300 * 250, 77) && s.remove(1_000 + 300 * 250, 77));
        assert!(!s.remove(1_000 + 300 * 250, 77));
        assert_eq!(
            (s.len(), s.sum, s.runs()),
            (before.len(), before.sum, before.runs())
        );
        assert!(!s.insert(1_001, 0), "off the grid");
        assert!(!s.insert(999, 0), "before the base");
        assert_eq!(s.runs(), vec![0, 57, 1, 40, 102, 1]);
        let back = TickSet::from_runs(1_000, 250, &s.runs(), s.sum).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.iter().count() as u64, s.len());
        assert!(s.contains(1_000 + 200 * 250) && !s.contains(1_000 + 57 * 250));
        let empty = TickSet::new(0, 1);
        assert!(empty.runs().is_empty());
    }

    #[test]
    fn digests_tolerate_real_columns_but_not_value_changes() {
        let d = gps_digest(
            5,
            52.123_456_7,
            13.1,
            [Some(48.3), Some(359.9), None, Some(4.2)],
        );
        let as_real = |x: f64| Some(f64::from(x as f32));
        let back = gps_digest(
            5,
            52.123_456_7,
            13.1,
            [as_real(48.3), as_real(359.9), None, as_real(4.2)],
        );
        assert_eq!(d, back);
        assert_ne!(
            d,
            gps_digest(
                6,
                52.123_456_7,
                13.1,
                [Some(48.3), Some(359.9), None, Some(4.2)]
            )
        );
        assert_ne!(
            d,
            gps_digest(
                5,
                52.123_456_8,
                13.1,
                [Some(48.3), Some(359.9), None, Some(4.2)]
            )
        );
        assert_ne!(
            d,
            gps_digest(
                5,
                52.123_456_7,
                13.1,
                [Some(48.3), Some(359.9), Some(0.0), Some(4.2)]
            )
        );
        let o = obd_digest(
            5,
            [Some(800.0), None, None, None, None, Some(123_456.7)],
            &["P0301"],
        );
        let none: [&str; 0] = [];
        assert_ne!(
            o,
            obd_digest(
                5,
                [Some(800.0), None, None, None, None, Some(123_456.7)],
                &none
            )
        );
        assert_eq!(
            o,
            obd_digest(
                5,
                [Some(800.0), None, None, None, None, as_real(123_456.7)],
                &["P0301"]
            )
        );
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let mut gps = TickSet::new(10, 1000);
        gps.insert(10, 7);
        gps.insert(2010, 9);
        let header = Header {
            fleet_sim_manifest: 1,
            seed: 1,
            prefix: "fleet".into(),
            id_prefix: "veh-".into(),
            vehicles: 2,
            format: "json".into(),
            gps_period_ms: Some(1000),
            obd_period_ms: None,
            t0_ms: 10,
            window_from_ms: 10,
            window_to_ms: 99,
            expected: KindCounts { gps: 2, obd: 0 },
            faults: BTreeMap::new(),
            duplicates_sent: 0,
        };
        let vehicles = vec![
            VehicleExpect {
                id: "veh-000001".into(),
                gps: Some(gps),
                obd: None,
                faults: [1, 0, 0, 0, 0, 0],
            },
            VehicleExpect {
                id: "veh-000002".into(),
                gps: None,
                obd: None,
                faults: [0; 6],
            },
        ];
        write(&path, &header, &vehicles).unwrap();
        let m = read(&path).unwrap();
        assert_eq!(m.header, header);
        assert_eq!(
            m.vehicles.len(),
            1,
            "vehicles that sent nothing are left out"
        );
        assert_eq!(m.vehicles[0].gps, vehicles[0].gps);
        assert_eq!(m.vehicles[0].faults, vehicles[0].faults);
        std::fs::write(&path, "{\"fleet_sim_manifest\":2}\n").unwrap();
        assert!(read(&path).is_err());
    }
}
