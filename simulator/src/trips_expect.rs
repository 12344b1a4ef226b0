//! The trips and stops fleetd should derive from one vehicle's truth: docs/trips.md's rules
//! applied to what the vehicle really did, with the leeway a grid of readings needs.
//!
//! - A vehicle looks moving from the moment it reaches `min_speed_kmh` after setting off
//!   (`ramp_ms` after the departure step, at the simulator's acceleration) until the step it
//!   arrives; so a trip's truth starts `ramp_ms` after its first departure and ends at its
//!   last arrival, and a dwell, as fleetd can see it, lasts `ramp_ms` longer than in the
//!   model. fleetd sees each of these instants at the next GPS reading, within one interval.
//! - A dwell of at least `min_stop + margin` ends a movement (**long**: it must lie inside a
//!   stop); one shorter than `min_stop − margin` does not (**short**: no stop may start at
//!   it); one in between (**ambiguous**) may go either way on the reading grid, and is taken
//!   as fleetd took it: not an end when a stored trip spans its middle, an end when a stored
//!   trip ends at it or a stored stop spans its middle. Without either sign (only at the end
//!   of the run, where fleetd has not settled it yet) it is taken as an end, and the movement
//!   before it as optional.
//! - A movement (legs between two dwells that end movements) is a trip when it covers
//!   `min_trip_m` or lasts `min_trip_s`. Near the thresholds (distance within
//!   `2·jitter_m` per leg above `min_trip_m`, or duration within the margin) fleetd may judge
//!   it either way (its distance skips steps shorter than `jitter_m`): it is taken as a trip
//!   when a stored trip overlaps it.
//! - A stop lies between two consecutive trips, and before the first trip when that stretch
//!   (from the first reading) lasts `min_stop` (with the same margin).
//! - The end of the run: fleetd writes a trip once the vehicle has stood `min_stop`, and a
//!   stop once the movement after it has become a trip. Segments the last readings may or
//!   may not have settled are *optional*: compared when stored, not required.

use crate::truth::{Span, VehicleTruth};

/// fleetd's `[trips]` rules this check depends on, and the leeway, in milliseconds and metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub min_stop_ms: i64,
    pub min_trip_m: f64,
    pub min_trip_ms: i64,
    pub jitter_m: f64,
    /// GPS reading interval.
    pub interval_ms: i64,
    /// Dwells and movements this close to a threshold may go either way.
    pub margin_ms: i64,
    /// From the departure step to reaching `min_speed_kmh`, and the metres driven meanwhile.
    pub ramp_ms: i64,
    pub ramp_m: f64,
}

impl Rules {
    /// The ramp from `min_speed_kmh` and the simulator's acceleration.
    pub fn ramp(min_speed_kmh: f64, accel_ms2: f64) -> (i64, f64) {
        let s = min_speed_kmh / 3.6 / accel_ms2;
        ((s * 1000.0).round() as i64, 0.5 * accel_ms2 * s * s)
    }
}

/// How a dwell counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DwellClass {
    /// The vehicle's first: before any movement, it only matters for the first stop.
    Initial,
    Long,
    Short,
    Ambiguous,
    /// Still going on at the end of the run.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpDwell {
    pub from: i64,
    /// The departure plus the ramp: when the vehicle next looks moving.
    pub to: Option<i64>,
    pub class: DwellClass,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpTrip {
    pub start: i64,
    /// `None`: still driving at the end of the run.
    pub end: Option<i64>,
    pub distance_m: f64,
    /// Legs driven: the trip stood `legs - 1` times (shorter than a stop) on the way.
    pub legs: u32,
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpStop {
    pub start: i64,
    pub end: i64,
    pub lat: f64,
    pub lon: f64,
    pub required: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    pub trips: Vec<ExpTrip>,
    pub stops: Vec<ExpStop>,
    pub dwells: Vec<ExpDwell>,
}

#[derive(Debug, Clone, Copy)]
struct Movement {
    start: i64,
    end: Option<i64>,
    distance_m: f64,
    legs: u32,
    required: bool,
}

/// Some(true): surely a trip; Some(false): surely not; None: near a threshold.
fn trip_ness(m: &Movement, r: &Rules, until: i64) -> Option<bool> {
    let dur = m.end.unwrap_or(until) - m.start;
    if dur >= r.min_trip_ms + r.margin_ms
        || m.distance_m >= r.min_trip_m + 2.0 * r.jitter_m * f64::from(m.legs)
    {
        Some(true)
    } else if dur < r.min_trip_ms - r.margin_ms && m.distance_m < r.min_trip_m - 1.0 {
        Some(false)
    } else {
        None
    }
}

/// The stored trips and stops (start, end), which settle ambiguous cases.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stored<'a> {
    pub trips: &'a [(i64, i64)],
    pub stops: &'a [(i64, i64)],
}

/// The expected trips and stops of `t`.
pub fn expect(t: &VehicleTruth, r: &Rules, stored: Stored) -> Expected {
    let spans = |rows: &[(i64, i64)], a: i64, b: i64| rows.iter().any(|&(s, e)| s <= b && a <= e);
    let spans_trip = |a: i64, b: i64| spans(stored.trips, a, b);
    let trip_ends_at = |ts: i64| {
        stored
            .trips
            .iter()
            .any(|&(_, e)| (e - ts).abs() <= r.interval_ms)
    };
    let h = t.last_gps_ms;
    let mut out = Expected::default();
    let mut moves: Vec<Movement> = Vec::new();
    let mut cur: Option<Movement> = None;
    // Where each dwell stood, by its start (where a stop after a trip begins).
    let mut places: Vec<(i64, f64, f64)> = Vec::new();
    let timeline = t.timeline();
    let first_from = timeline.first().map_or(t.first_gps_ms, |s| s.from());
    for (i, span) in timeline.into_iter().enumerate() {
        let d = match span {
            Span::Leg(l) => {
                let m = cur.get_or_insert(Movement {
                    start: l.from + r.ramp_ms,
                    end: None,
                    distance_m: -r.ramp_m,
                    legs: 0,
                    required: false,
                });
                m.distance_m += l.m;
                m.legs += 1;
                m.end = l.to;
                continue;
            }
            Span::Dwell(d) => d,
        };
        places.push((d.from, d.lat, d.lon));
        let to = d.to.map(|to| to + r.ramp_ms);
        let (class, cut, required) = match to {
            _ if i == 0 => (DwellClass::Initial, false, false),
            Some(to) => {
                let still = to - d.from;
                if still >= r.min_stop_ms + r.margin_ms {
                    (DwellClass::Long, true, true)
                } else if still < r.min_stop_ms - r.margin_ms {
                    (DwellClass::Short, false, false)
                } else {
                    let mid = d.from + still / 2;
                    let cut = !spans_trip(mid, mid);
                    let sure = trip_ends_at(d.from) || spans(stored.stops, mid, mid);
                    (DwellClass::Ambiguous, cut, sure)
                }
            }
            None => {
                let still = h - d.from;
                let cut = still >= r.min_stop_ms - r.margin_ms;
                (DwellClass::Open, cut, still >= r.min_stop_ms + r.margin_ms)
            }
        };
        if cut {
            if let Some(mut m) = cur.take() {
                m.required = required;
                moves.push(m);
            }
        }
        out.dwells.push(ExpDwell {
            from: d.from,
            to,
            class,
        });
    }
    moves.extend(cur);
    for m in &moves {
        let trip = match (trip_ness(m, r, h), m.required) {
            (Some(t), _) => t,
            // Unsettled: whether it became a trip before the last reading is open too.
            (None, false) => true,
            (None, true) => spans_trip(m.start, m.end.unwrap_or(h)),
        };
        if trip {
            out.trips.push(ExpTrip {
                start: m.start,
                end: m.end,
                distance_m: m.distance_m,
                legs: m.legs,
                required: m.required,
            });
        }
    }
    let place = |ts: i64| {
        places
            .iter()
            .find(|p| p.0 == ts)
            .map_or((f64::NAN, f64::NAN), |p| (p.1, p.2))
    };
    let (mut prev_end, mut prev_place) = (t.first_gps_ms, place(first_from));
    for (k, trip) in out.trips.iter().enumerate() {
        let gap = trip.start - prev_end;
        let required = match k {
            0 if gap >= r.min_stop_ms + r.margin_ms => Some(trip.required),
            0 if gap >= r.min_stop_ms - r.margin_ms => Some(false),
            0 => None,
            _ => Some(trip.required),
        };
        if let Some(required) = required {
            out.stops.push(ExpStop {
                start: prev_end,
                end: trip.start,
                lat: prev_place.0,
                lon: prev_place.1,
                required,
            });
        }
        let Some(end) = trip.end else { break };
        (prev_end, prev_place) = (end, place(end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::{Dwell, Leg};

    const R: Rules = Rules {
        min_stop_ms: 300_000,
        min_trip_m: 500.0,
        min_trip_ms: 300_000,
        jitter_m: 30.0,
        interval_ms: 1_000,
        margin_ms: 2_000,
        ramp_ms: 0,
        ramp_m: 0.0,
    };

    /// A vehicle from `(kind, seconds, metres)` spans, starting at 0.
    fn truth(spans: &[(char, i64, f64)], open_end: bool) -> VehicleTruth {
        let (mut t, mut dwells, mut legs) = (0, Vec::new(), Vec::new());
        for (i, &(k, s, m)) in spans.iter().enumerate() {
            let to = (!(open_end && i + 1 == spans.len())).then_some(t + s * 1000);
            match k {
                'd' => dwells.push(Dwell {
                    from: t,
                    to,
                    lat: 52.0,
                    lon: 13.0 + i as f64 * 0.01,
                }),
                _ => legs.push(Leg { from: t, to, m }),
            }
            t += s * 1000;
        }
        VehicleTruth {
            v: "veh-1".into(),
            first_gps_ms: 0,
            last_gps_ms: t,
            dwells,
            legs,
        }
    }

    /// Trips and stops as (start s, end s, required).
    type Brief = (Vec<(i64, Option<i64>, bool)>, Vec<(i64, i64, bool)>);

    fn brief(e: &Expected) -> Brief {
        (
            e.trips
                .iter()
                .map(|t| (t.start / 1000, t.end.map(|x| x / 1000), t.required))
                .collect(),
            e.stops
                .iter()
                .map(|s| (s.start / 1000, s.end / 1000, s.required))
                .collect(),
        )
    }

    #[test]
    fn short_dwells_merge_legs_and_short_movements_stay_in_the_stop() {
        // park 10 s, 1 km, 60 s, 1 km, 400 s, 300 m (not a trip), 400 s, 2 km, 600 s (open).
        let t = truth(
            &[
                ('d', 10, 0.0),
                ('l', 60, 1000.0),
                ('d', 60, 0.0),
                ('l', 60, 1000.0),
                ('d', 400, 0.0),
                ('l', 30, 300.0),
                ('d', 400, 0.0),
                ('l', 100, 2000.0),
                ('d', 600, 0.0),
            ],
            true,
        );
        let e = expect(&t, &R, Stored::default());
        assert_eq!(
            brief(&e),
            (
                vec![(10, Some(190), true), (1020, Some(1120), true)],
                vec![(190, 1020, true)]
            )
        );
        assert_eq!(e.trips[0].distance_m, 2000.0);
        assert_eq!(e.stops[0].lon, 13.04, "where the stop began");
        let classes: Vec<DwellClass> = e.dwells.iter().map(|d| d.class).collect();
        use DwellClass::*;
        assert_eq!(classes, vec![Initial, Short, Long, Long, Open]);
    }

    #[test]
    fn ambiguous_dwells_follow_the_stored_trips_and_the_end_is_optional() {
        let spans = [
            ('d', 5, 0.0),
            ('l', 60, 1000.0),
            ('d', 301, 0.0),
            ('l', 60, 1000.0),
            ('d', 400, 0.0),
            ('l', 60, 1000.0),
        ];
        let t = truth(&spans, true);
        let stored = |trips| Stored { trips, stops: &[] };
        let split = expect(&t, &R, stored(&[(5_000, 65_000), (366_000, 426_000)]));
        assert_eq!(
            brief(&split),
            (
                vec![
                    (5, Some(65), true),
                    (366, Some(426), true),
                    (826, None, false)
                ],
                vec![(65, 366, true), (426, 826, false)]
            )
        );
        let merged = expect(&t, &R, stored(&[(5_000, 426_000)]));
        assert_eq!(
            brief(&merged),
            (
                vec![(5, Some(426), true), (826, None, false)],
                vec![(426, 826, false)]
            )
        );
        // No sign either way (fleetd has not settled it): the trip before it is optional.
        let unsure = expect(&t, &R, Stored::default());
        assert_eq!(brief(&unsure).0[0], (5, Some(65), false));
    }

    #[test]
    fn a_first_stop_needs_min_stop_from_the_first_reading() {
        let t = truth(
            &[
                ('d', 20, 0.0),
                ('l', 30, 300.0),
                ('d', 400, 0.0),
                ('l', 60, 900.0),
                ('d', 400, 0.0),
            ],
            false,
        );
        let e = expect(&t, &R, Stored::default());
        assert_eq!(
            brief(&e),
            (vec![(450, Some(510), true)], vec![(0, 450, true)])
        );
        // A movement near 500 m is a trip only if fleetd stored one there.
        let t = truth(&[('d', 20, 0.0), ('l', 30, 520.0), ('d', 400, 0.0)], false);
        assert!(expect(&t, &R, Stored::default()).trips.is_empty());
        let stored = Stored {
            trips: &[(20_000, 50_000)],
            stops: &[],
        };
        assert_eq!(expect(&t, &R, stored).trips.len(), 1);
    }
}
