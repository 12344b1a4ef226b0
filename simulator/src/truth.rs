//! The ground truth of a run, for `fleet-sim verify --trips`: what each simulated vehicle
//! really did, as the motion model (`vehicle.rs`) did it, not as its readings show it.
//!
//! File format (JSON lines, written at the end of `fleet-sim run --truth FILE`):
//!
//! ```text
//! {"fleet_sim_truth":1,"seed":1,"id_prefix":"veh-","vehicles":4,"gps_period_ms":1000,"obd_period_ms":5000,"accel_ms2":1.8,"t0_ms":..,"end_ms":..}
//! {"v":"veh-000001","first_gps_ms":..,"last_gps_ms":..,"dwells":[{"from":..,"to":..,"lat":52.5,"lon":13.4},...],"legs":[{"from":..,"to":..,"m":1234.5},...]}
//! ```
//!
//! Per vehicle, dwells and legs alternate without a gap: a dwell runs from the model step
//! that arrived (or the vehicle's first step) to the step that set off, at the position where
//! the vehicle stood; a leg from that step to the step that arrived, with the metres driven.
//! Steps are the vehicle's reading times (GPS and OBD). Only the last dwell or leg may be open
//! (`"to":null`, the run ended during it; an open leg's `m` is what was driven so far).
//! `first_gps_ms`/`last_gps_ms` are the vehicle's first and last GPS reading.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::vehicle::{quantize, Vehicle};

/// The file's version.
pub const TRUTH_VERSION: u32 = 1;

/// Errors reading a truth file.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// The file could not be opened or read.
    #[error("cannot read truth file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A line is not what this version writes.
    #[error("truth file {path} line {line}: {message}")]
    Format {
        path: String,
        line: usize,
        message: String,
    },
}

/// The first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthHeader {
    pub fleet_sim_truth: u32,
    pub seed: u64,
    pub id_prefix: String,
    pub vehicles: u32,
    pub gps_period_ms: Option<u32>,
    pub obd_period_ms: Option<u32>,
    /// How fast a vehicle accelerates from standstill (m/s²): when it can first look moving.
    pub accel_ms2: f64,
    /// The simulated clock's start and the latest reading generated.
    pub t0_ms: i64,
    pub end_ms: i64,
}

/// Standing at one place.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dwell {
    pub from: i64,
    pub to: Option<i64>,
    pub lat: f64,
    pub lon: f64,
}

/// Driving from one dwell to the next.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    pub from: i64,
    pub to: Option<i64>,
    /// Metres driven (along the great circle), to the millimetre.
    pub m: f64,
}

/// One vehicle's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleTruth {
    pub v: String,
    pub first_gps_ms: i64,
    pub last_gps_ms: i64,
    pub dwells: Vec<Dwell>,
    pub legs: Vec<Leg>,
}

/// A dwell or a leg, in time order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Span {
    Dwell(Dwell),
    Leg(Leg),
}

impl Span {
    pub fn from(&self) -> i64 {
        match self {
            Span::Dwell(d) => d.from,
            Span::Leg(l) => l.from,
        }
    }

    pub fn to(&self) -> Option<i64> {
        match self {
            Span::Dwell(d) => d.to,
            Span::Leg(l) => l.to,
        }
    }
}

impl VehicleTruth {
    /// Dwells and legs merged in time order (they alternate: checked by `read`).
    pub fn timeline(&self) -> Vec<Span> {
        let mut t: Vec<Span> = self.dwells.iter().map(|d| Span::Dwell(*d)).collect();
        t.extend(self.legs.iter().map(|l| Span::Leg(*l)));
        // At equal starts a zero-length span comes first: it ended where the next began.
        t.sort_by_key(|s| (s.from(), s.to().is_none(), s.to()));
        t
    }

    /// Why the line is not a valid timeline, if it is not.
    fn check(&self, id_prefix: &str) -> Result<(), String> {
        if !self.v.starts_with(id_prefix) {
            return Err(format!(
                "vehicle {:?} lacks the id prefix {id_prefix:?}",
                self.v
            ));
        }
        if self.first_gps_ms > self.last_gps_ms {
            return Err("first_gps_ms is after last_gps_ms".into());
        }
        for d in &self.dwells {
            if !(d.lat.is_finite() && d.lon.is_finite())
                || d.lat.abs() > 90.0
                || d.lon.abs() > 180.0
            {
                return Err(format!("dwell at {}: position {},{}", d.from, d.lat, d.lon));
            }
        }
        if let Some(l) = self.legs.iter().find(|l| !(l.m.is_finite() && l.m >= 0.0)) {
            return Err(format!("leg at {}: distance {}", l.from, l.m));
        }
        let t = self.timeline();
        if t.is_empty() {
            return Err("no dwells and no legs".into());
        }
        for (i, s) in t.iter().enumerate() {
            let last = i + 1 == t.len();
            match s.to() {
                None if !last => {
                    return Err(format!("span at {} is open but not the last", s.from()))
                }
                Some(to) if to < s.from() => {
                    return Err(format!("span at {} ends before it starts", s.from()))
                }
                _ => {}
            }
            if let Some(next) = t.get(i + 1) {
                if matches!(
                    (s, next),
                    (Span::Dwell(_), Span::Dwell(_)) | (Span::Leg(_), Span::Leg(_))
                ) {
                    return Err(format!(
                        "two dwells or two legs in a row at {}",
                        next.from()
                    ));
                }
                if s.to() != Some(next.from()) {
                    return Err(format!(
                        "span at {} ends at {:?} but the next starts at {}",
                        s.from(),
                        s.to(),
                        next.from()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A truth file read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub header: TruthHeader,
    pub vehicles: Vec<VehicleTruth>,
}

/// Records one vehicle's dwells and legs as its model is stepped.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    first_gps_ms: Option<i64>,
    last_gps_ms: Option<i64>,
    dwells: Vec<Dwell>,
    legs: Vec<Leg>,
    driving: bool,
}

impl Recorder {
    fn dwell_here(&mut self, ts_ms: i64, model: &Vehicle) {
        let (lat, lon) = model.lat_lon();
        self.dwells.push(Dwell {
            from: ts_ms,
            to: None,
            lat: quantize(lat, 1e7),
            lon: quantize(lon, 1e7),
        });
    }

    /// Notes the model's state right after it was advanced to `ts_ms` (a reading's time).
    pub fn observe(&mut self, ts_ms: i64, gps: bool, model: &Vehicle) {
        let driving = model.is_driving();
        let started = !(self.dwells.is_empty() && self.legs.is_empty());
        if !started || driving != self.driving {
            if started {
                // The span that ends here: a dwell when it set off, a leg when it arrived.
                if let Some(d) = self.dwells.last_mut().filter(|_| driving) {
                    d.to = Some(ts_ms);
                }
                if let Some(l) = self.legs.last_mut().filter(|_| !driving) {
                    l.to = Some(ts_ms);
                    l.m = quantize(model.leg_done_m(), 1e3);
                }
            }
            if driving {
                self.legs.push(Leg {
                    from: ts_ms,
                    to: None,
                    m: quantize(model.leg_done_m(), 1e3),
                });
            } else {
                self.dwell_here(ts_ms, model);
            }
            self.driving = driving;
        } else if driving {
            if let Some(l) = self.legs.last_mut() {
                l.m = quantize(model.leg_done_m(), 1e3);
            }
        }
        if gps {
            self.first_gps_ms.get_or_insert(ts_ms);
            self.last_gps_ms = Some(ts_ms);
        }
    }

    /// The vehicle's line; `None` if it never reported GPS.
    pub fn finish(self, id: String) -> Option<VehicleTruth> {
        Some(VehicleTruth {
            v: id,
            first_gps_ms: self.first_gps_ms?,
            last_gps_ms: self.last_gps_ms?,
            dwells: self.dwells,
            legs: self.legs,
        })
    }
}

/// Writes the header and one line per vehicle.
pub fn write(path: &Path, header: &TruthHeader, vehicles: &[VehicleTruth]) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer(&mut out, header)?;
    out.write_all(b"\n")?;
    for v in vehicles {
        serde_json::to_writer(&mut out, v)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

pub fn read(path: &Path) -> Result<Truth, TruthError> {
    let p = path.display().to_string();
    let io = |source| TruthError::Io {
        path: p.clone(),
        source,
    };
    let fmt = |line, message: String| TruthError::Format {
        path: p.clone(),
        line,
        message,
    };
    let mut lines = BufReader::new(std::fs::File::open(path).map_err(io)?).lines();
    let first = lines
        .next()
        .ok_or_else(|| fmt(1, "empty file".into()))?
        .map_err(io)?;
    let header: TruthHeader = serde_json::from_str(&first).map_err(|e| {
        fmt(
            1,
            format!("{e} (is this a file from `fleet-sim run --truth`?)"),
        )
    })?;
    if header.fleet_sim_truth != TRUTH_VERSION {
        return Err(fmt(
            1,
            format!("unknown truth version {}", header.fleet_sim_truth),
        ));
    }
    if header.gps_period_ms.is_none_or(|p| p == 0) {
        return Err(fmt(
            1,
            "the run published no GPS readings: no trips to verify".into(),
        ));
    }
    if !(header.accel_ms2.is_finite() && header.accel_ms2 > 0.0) {
        return Err(fmt(
            1,
            format!("accel_ms2 {} is not positive", header.accel_ms2),
        ));
    }
    let mut vehicles = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in lines.enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let v: VehicleTruth = serde_json::from_str(&line).map_err(|e| fmt(i + 2, e.to_string()))?;
        v.check(&header.id_prefix).map_err(|m| fmt(i + 2, m))?;
        if !seen.insert(v.v.clone()) {
            return Err(fmt(i + 2, format!("vehicle {} appears twice", v.v)));
        }
        vehicles.push(v);
    }
    Ok(Truth { header, vehicles })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;
    use crate::vehicle::Region;

    /// A vehicle stepped every second for `steps` seconds, recorded.
    pub(crate) fn recorded(seed: u64, steps: i64) -> VehicleTruth {
        let region = Region::BERLIN;
        let mut v = Vehicle::new(&region, SimRng::new(seed, 0));
        let mut r = Recorder::default();
        for k in 0..steps {
            if k > 0 {
                v.advance(1.0, &region);
            }
            r.observe(1_000 * k, true, &v);
        }
        r.finish("veh-000001".into()).unwrap()
    }

    #[test]
    fn a_recorded_drive_alternates_and_adds_up() {
        let t = recorded(7, 7_200);
        t.check("veh-").unwrap();
        assert!(t.legs.len() > 10, "{} legs", t.legs.len());
        let tl = t.timeline();
        assert!(matches!(tl[0], Span::Dwell(_)), "a vehicle starts parked");
        for l in t.legs.iter().filter(|l| l.to.is_some()) {
            assert!((300.0..=5_000.0).contains(&l.m), "leg of {} m", l.m);
        }
        assert_eq!((t.first_gps_ms, t.last_gps_ms), (0, 7_199_000));
        assert_eq!(tl.last().unwrap().to(), None);
    }

    #[test]
    fn file_round_trip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let header = TruthHeader {
            fleet_sim_truth: 1,
            seed: 1,
            id_prefix: "veh-".into(),
            vehicles: 1,
            gps_period_ms: Some(1000),
            obd_period_ms: None,
            accel_ms2: 1.8,
            t0_ms: 0,
            end_ms: 3_600_000,
        };
        let v = recorded(3, 3_600);
        write(&path, &header, std::slice::from_ref(&v)).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(
            (back.header, back.vehicles),
            (header.clone(), vec![v.clone()])
        );

        let bad = |body: String| {
            std::fs::write(&path, body).unwrap();
            read(&path).unwrap_err().to_string()
        };
        let h = serde_json::to_string(&header).unwrap();
        assert!(bad(String::new()).contains("empty file"));
        assert!(bad("{\"fleet_sim_manifest\":1}\n".into()).contains("line 1"));
        assert!(
            bad(h.replace("\"fleet_sim_truth\":1", "\"fleet_sim_truth\":9")).contains("version 9")
        );
        assert!(
            bad(h.replace("\"gps_period_ms\":1000", "\"gps_period_ms\":null")).contains("no GPS")
        );
        assert!(bad(format!("{h}\nnot json\n")).contains("line 2"));
        let mut gap = v.clone();
        gap.legs[0].from += 1;
        let e = bad(format!("{h}\n{}\n", serde_json::to_string(&gap).unwrap()));
        assert!(e.contains("line 2") && e.contains("starts at"), "{e}");
        let mut open = v.clone();
        open.dwells[0].to = None;
        let e = bad(format!("{h}\n{}\n", serde_json::to_string(&open).unwrap()));
        assert!(e.contains("open but not the last"), "{e}");
        let mut other = v.clone();
        other.v = "car-1".into();
        let e = bad(format!("{h}\n{}\n", serde_json::to_string(&other).unwrap()));
        assert!(e.contains("id prefix"), "{e}");
        let line = serde_json::to_string(&v).unwrap();
        assert!(bad(format!("{h}\n{line}\n{line}\n")).contains("twice"));
    }
}
