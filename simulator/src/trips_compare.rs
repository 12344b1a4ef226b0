//! The comparison behind `fleet-sim verify --trips`: the trips and stops fleetd stored against
//! those `trips_expect.rs` derives from the truth. Pure, so it is tested without a database.
//!
//! Per vehicle, the expected trips and the stored ones are paired by start (nearest within
//! half of `min_stop`), and so are the stops. An expected segment without a partner is
//! **missing** (unless optional: at the end of the run), a stored one without a partner is
//! **unexpected**. A pair is **off** when its start or end differs by more than the tolerance
//! (one GPS interval by default), a trip's distance by more than `distance_pct` of the
//! distance driven, or a stop's position by more than `jitter_m`. Every long dwell must lie
//! inside a stored stop, and no stored stop may start at a short dwell.

use std::collections::{BTreeMap, HashMap};

use crate::geo;
use crate::trips_expect::{
    expect, DwellClass, ExpStop, ExpTrip, Expected, Rules, Stored as Evidence,
};
use crate::trips_report::{ts, MaxErrors, Pair, TripsReport};
use crate::truth::{Truth, VehicleTruth};

/// What to compare, and how strictly.
#[derive(Debug, Clone)]
pub struct Options {
    pub rules: Rules,
    /// Largest start or end difference of a matched trip or stop.
    pub tolerance_ms: i64,
    pub distance_pct: f64,
    /// Example differences listed per category.
    pub examples: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredTrip {
    pub start: i64,
    pub end: i64,
    pub distance_m: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredStop {
    pub start: i64,
    pub end: i64,
    pub lat: f64,
    pub lon: f64,
}

/// One vehicle's rows, each list sorted by start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    pub trips: Vec<StoredTrip>,
    pub stops: Vec<StoredStop>,
}

/// For each expected start, the nearest unpaired stored start within `window`; and which
/// stored ones were paired.
fn pair(expected: &[i64], stored: &[i64], window: i64) -> (Vec<Option<usize>>, Vec<bool>) {
    let mut used = vec![false; stored.len()];
    let pairs = expected
        .iter()
        .map(|&e| {
            let from = stored.partition_point(|&s| s < e - window);
            let best = (from..stored.len())
                .take_while(|&j| stored[j] <= e + window)
                .filter(|&j| !used[j])
                .min_by_key(|&j| (stored[j] - e).abs())?;
            used[best] = true;
            Some(best)
        })
        .collect();
    (pairs, used)
}

struct Check<'a> {
    o: &'a Options,
    r: TripsReport,
    shown: BTreeMap<&'static str, usize>,
}

impl Check<'_> {
    fn example(&mut self, category: &'static str, text: String) {
        let n = self.shown.entry(category).or_default();
        if *n < self.o.examples {
            *n += 1;
            self.r.examples.push(format!("{category}: {text}"));
        }
    }

    /// Notes a start or end difference; true if within the tolerance.
    fn time(&mut self, diff_ms: i64, max: fn(&mut MaxErrors) -> &mut f64) -> bool {
        let m = max(&mut self.r.max_error);
        *m = m.max(diff_ms.abs() as f64 / 1000.0);
        diff_ms.abs() <= self.o.tolerance_ms
    }

    /// Counts an expected segment; returns it paired, or counts it missing when required.
    fn paired<'s, T>(
        &mut self,
        required: bool,
        kind: fn(&mut Pair) -> &mut u64,
        stored: Option<&'s T>,
    ) -> Option<&'s T> {
        let r = &mut self.r;
        let (all, matched) = match required {
            true => (&mut r.expected, &mut r.matched),
            false => (&mut r.optional, &mut r.matched_optional),
        };
        *kind(all) += 1;
        match stored {
            Some(_) => *kind(matched) += 1,
            None if required => *kind(&mut r.missing) += 1,
            None => {}
        }
        stored
    }

    fn distance(&mut self, id: &str, et: &ExpTrip, st: &StoredTrip) {
        let o = self.o;
        let pct = (st.distance_m - et.distance_m) / et.distance_m * 100.0;
        let max = &mut self.r.max_error.distance_pct;
        *max = max.max(pct.abs());
        if pct.abs() <= o.distance_pct {
            return;
        }
        self.r.off_distance += 1;
        let text = format!(
            "{id} trip {}: stored {:.1} m, driven {:.1} m ({pct:+.2} %, {} legs)",
            ts(st.start),
            st.distance_m,
            et.distance_m,
            et.legs
        );
        self.example("distance", text);
    }

    fn trips(&mut self, id: &str, expected: &[ExpTrip], stored: &[StoredTrip]) {
        let starts: Vec<i64> = expected.iter().map(|t| t.start).collect();
        let rows: Vec<i64> = stored.iter().map(|t| t.start).collect();
        let (pairs, used) = pair(&starts, &rows, self.o.rules.min_stop_ms / 2);
        for (et, p) in expected.iter().zip(pairs) {
            let end = et.end.map_or("-".into(), ts);
            let Some(st) = self.paired(et.required, |p| &mut p.trips, p.map(|j| &stored[j])) else {
                if et.required {
                    self.example("missing trip", format!("{id} {} .. {end}", ts(et.start)));
                }
                continue;
            };
            let mut on_time = self.time(st.start - et.start, |m| &mut m.trip_start_s);
            if let Some(e) = et.end {
                on_time &= self.time(st.end - e, |m| &mut m.trip_end_s);
                self.distance(id, et, st);
            }
            if !on_time {
                self.r.off_time.trips += 1;
                let (s, e) = (ts(st.start), ts(st.end));
                self.example(
                    "trip time",
                    format!("{id} stored {s} .. {e}, truth {} .. {end}", ts(et.start)),
                );
            }
        }
        for st in stored.iter().zip(used).filter(|(_, u)| !u).map(|(t, _)| t) {
            self.r.unexpected.trips += 1;
            self.example(
                "unexpected trip",
                format!("{id} {} .. {}", ts(st.start), ts(st.end)),
            );
        }
    }

    fn stops(&mut self, id: &str, expected: &[ExpStop], stored: &[StoredStop]) {
        let starts: Vec<i64> = expected.iter().map(|t| t.start).collect();
        let rows: Vec<i64> = stored.iter().map(|t| t.start).collect();
        let (pairs, used) = pair(&starts, &rows, self.o.rules.min_stop_ms / 2);
        for (es, p) in expected.iter().zip(pairs) {
            let truth = format!("{} .. {}", ts(es.start), ts(es.end));
            let Some(ss) = self.paired(es.required, |p| &mut p.stops, p.map(|j| &stored[j])) else {
                if es.required {
                    self.example("missing stop", format!("{id} {truth}"));
                }
                continue;
            };
            let on_time = self.time(ss.start - es.start, |m| &mut m.stop_start_s)
                & self.time(ss.end - es.end, |m| &mut m.stop_end_s);
            if !on_time {
                self.r.off_time.stops += 1;
                let (s, e) = (ts(ss.start), ts(ss.end));
                self.example(
                    "stop time",
                    format!("{id} stored {s} .. {e}, truth {truth}"),
                );
            }
            if es.lat.is_finite() {
                let d = geo::distance_m(&geo::to_vec(ss.lat, ss.lon), &geo::to_vec(es.lat, es.lon));
                let max = &mut self.r.max_error.stop_position_m;
                *max = max.max(d);
                if d.is_nan() || d > self.o.rules.jitter_m {
                    self.r.off_position += 1;
                    let text = format!("{id} stop {}: {d:.1} m from where it stood", ts(ss.start));
                    self.example("stop position", text);
                }
            }
        }
        for ss in stored.iter().zip(used).filter(|(_, u)| !u).map(|(t, _)| t) {
            self.r.unexpected.stops += 1;
            self.example(
                "unexpected stop",
                format!("{id} {} .. {}", ts(ss.start), ts(ss.end)),
            );
        }
    }

    /// Long dwells (up to the last required stop) inside a stored stop; no stored stop
    /// starting at a short dwell.
    fn dwells(&mut self, id: &str, e: &Expected, stops: &[StoredStop]) {
        let tol = self.o.tolerance_ms;
        let settled = e.stops.iter().filter(|s| s.required).map(|s| s.end).max();
        for d in &e.dwells {
            let c = &mut self.r.dwells;
            c.total += 1;
            match d.class {
                DwellClass::Initial => c.initial += 1,
                DwellClass::Ambiguous => c.ambiguous += 1,
                DwellClass::Open => c.open += 1,
                DwellClass::Long => {
                    c.long += 1;
                    let Some(to) = d.to.filter(|&to| settled.is_some_and(|s| to <= s)) else {
                        continue;
                    };
                    self.r.long_dwells_required += 1;
                    if stops
                        .iter()
                        .any(|st| st.start <= d.from + tol && st.end >= to - tol)
                    {
                        self.r.long_dwells_in_a_stop += 1;
                    } else {
                        let text = format!("{id} {} .. {}", ts(d.from), ts(to));
                        self.example("long dwell outside every stop", text);
                    }
                }
                DwellClass::Short => {
                    c.short += 1;
                    if stops.iter().any(|st| (st.start - d.from).abs() <= tol) {
                        self.r.short_dwells_starting_a_stop += 1;
                        let len = d.to.map_or(0, |to| to - d.from) as f64 / 1000.0;
                        let text = format!("{id} {} ({len:.0} s)", ts(d.from));
                        self.example("stop at a short dwell", text);
                    }
                }
            }
        }
    }

    fn vehicle(&mut self, vt: &VehicleTruth, s: &Stored) {
        let trips: Vec<(i64, i64)> = s.trips.iter().map(|t| (t.start, t.end)).collect();
        let stops: Vec<(i64, i64)> = s.stops.iter().map(|t| (t.start, t.end)).collect();
        let evidence = Evidence {
            trips: &trips,
            stops: &stops,
        };
        let e = expect(vt, &self.o.rules, evidence);
        self.r.legs += vt.legs.len() as u64;
        self.trips(&vt.v, &e.trips, &s.trips);
        self.stops(&vt.v, &e.stops, &s.stops);
        self.dwells(&vt.v, &e, &s.stops);
    }
}

/// Compares the truth with the stored rows (by vehicle id).
pub fn compare(truth: &Truth, stored: &HashMap<String, Stored>, o: &Options) -> TripsReport {
    let r = &o.rules;
    let mut c = Check {
        o,
        r: TripsReport {
            vehicles: truth.vehicles.len() as u64,
            interval_s: r.interval_ms as f64 / 1000.0,
            margin_s: r.margin_ms as f64 / 1000.0,
            tolerance_s: o.tolerance_ms as f64 / 1000.0,
            distance_pct: o.distance_pct,
            ..TripsReport::default()
        },
        shown: BTreeMap::new(),
    };
    for s in stored.values() {
        c.r.stored.trips += s.trips.len() as u64;
        c.r.stored.stops += s.stops.len() as u64;
    }
    let empty = Stored::default();
    for vt in &truth.vehicles {
        c.vehicle(vt, stored.get(&vt.v).unwrap_or(&empty));
    }
    let mut strangers: Vec<&String> = stored
        .keys()
        .filter(|id| !truth.vehicles.iter().any(|v| &v.v == *id))
        .collect();
    strangers.sort();
    for id in strangers {
        let s = &stored[id];
        c.r.unexpected.trips += s.trips.len() as u64;
        c.r.unexpected.stops += s.stops.len() as u64;
        let text = format!("{id}: {} trips, {} stops", s.trips.len(), s.stops.len());
        c.example("vehicle not in the truth", text);
    }
    let r = &mut c.r;
    r.ok = r.missing == Pair::default()
        && r.unexpected == Pair::default()
        && r.off_time == Pair::default()
        && r.off_distance == 0
        && r.off_position == 0
        && r.long_dwells_in_a_stop == r.long_dwells_required
        && r.short_dwells_starting_a_stop == 0;
    c.r
}

#[cfg(test)]
#[path = "trips_compare_tests.rs"]
mod tests;
