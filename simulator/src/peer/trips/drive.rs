//! A vehicle's synthetic working days at a fixed reading rate: what `trips load` stores.
//!
//! Each day the vehicle stands parked until about 07:00, then drives trips of 5 to 40
//! minutes separated by stops of 6 to 60 minutes until about 19:00, and stands parked again
//! until midnight; the next day starts where it parked. While driving, its speed wanders
//! between 20 and 70 km/h (at most 3 km/h per second either way) and it halts at lights for
//! 20 to 90 s, too short to end a trip; its heading wanders, turning back towards the centre
//! beyond 25 km of it. A parked tracker keeps reporting, its fixes scattered by up to 3 m of
//! GPS noise. The same seed and vehicle number give the same days.

use fleetd::ingest::reading::GpsReading;

use crate::geo::{bearing_deg, destination, distance_m, to_vec};
use crate::rng::SimRng;

pub const DAY_US: i64 = 86_400_000_000;
const MINUTE_US: i64 = 60_000_000;
/// Berlin, where the history is driven.
const CENTRE: (f64, f64) = (52.52, 13.40);
const RADIUS_M: f64 = 25_000.0;

/// One vehicle, carried from day to day.
pub struct Driver {
    rng: SimRng,
    lat: f64,
    lon: f64,
    heading: f64,
}

impl Driver {
    pub fn new(seed: u64, vehicle: u32) -> Driver {
        let mut rng = SimRng::new(seed, u64::from(vehicle));
        let (lat, lon) = destination(
            CENTRE.0,
            CENTRE.1,
            rng.range(0.0, 360.0),
            rng.range(0.0, RADIUS_M),
        );
        let heading = rng.range(0.0, 360.0);
        Driver {
            rng,
            lat,
            lon,
            heading,
        }
    }

    /// The trips of the day starting at `day_us`, as (start, end) in Unix µs.
    fn plan(&mut self, day_us: i64) -> Vec<(i64, i64)> {
        let minutes = |rng: &mut SimRng, lo: f64, hi: f64| (rng.range(lo, hi) * 60e6) as i64;
        let mut trips = Vec::new();
        let mut t = day_us + 7 * 60 * MINUTE_US + minutes(&mut self.rng, 0.0, 60.0);
        while t < day_us + 19 * 60 * MINUTE_US {
            let end = t + minutes(&mut self.rng, 5.0, 40.0);
            trips.push((t, end));
            t = end + minutes(&mut self.rng, 6.0, 60.0);
        }
        trips
    }

    /// Appends the day starting at `day_us`, a reading every `step_us`, and returns the
    /// trips driven (start, end).
    pub fn day(&mut self, day_us: i64, step_us: i64, out: &mut Vec<GpsReading>) -> Vec<(i64, i64)> {
        let plan = self.plan(day_us);
        let dt = step_us as f64 / 1e6;
        let mut next = plan.iter().peekable();
        let (mut speed, mut target, mut halt_s) = (0.0_f64, 40.0_f64, 0.0_f64);
        let mut ts = day_us;
        while ts < day_us + DAY_US {
            while next.next_if(|&&(_, end)| end <= ts).is_some() {}
            let driving = next.peek().is_some_and(|&&(start, _)| start <= ts);
            if driving {
                if halt_s > 0.0 {
                    halt_s -= dt;
                } else if self.rng.chance((dt / 300.0).min(1.0)) {
                    halt_s = self.rng.range(20.0, 90.0);
                }
                target = (target + self.rng.range(-2.0, 2.0) * dt).clamp(20.0, 70.0);
                let want = if halt_s > 0.0 { 0.0 } else { target };
                speed += (want - speed).clamp(-3.0 * dt, 3.0 * dt);
                self.steer(dt);
                (self.lat, self.lon) =
                    destination(self.lat, self.lon, self.heading, speed / 3.6 * dt);
                out.push(self.fix(ts, speed, 0.0));
            } else {
                speed = 0.0;
                halt_s = 0.0;
                let noise = self.rng.range(0.0, 3.0);
                out.push(self.fix(ts, 0.0, noise));
            }
            ts += step_us;
        }
        plan
    }

    fn steer(&mut self, dt: f64) {
        let here = to_vec(self.lat, self.lon);
        let centre = to_vec(CENTRE.0, CENTRE.1);
        if distance_m(&here, &centre) > RADIUS_M {
            self.heading = bearing_deg(&here, &centre);
        } else {
            self.heading = (self.heading + self.rng.range(-4.0, 4.0) * dt).rem_euclid(360.0);
        }
    }

    /// A reading here, scattered `noise_m` in a random direction.
    fn fix(&mut self, ts: i64, speed_kmh: f64, noise_m: f64) -> GpsReading {
        let (lat, lon) = if noise_m > 0.0 {
            destination(self.lat, self.lon, self.rng.range(0.0, 360.0), noise_m)
        } else {
            (self.lat, self.lon)
        };
        GpsReading {
            ts,
            lat,
            lon,
            speed_kmh: Some(speed_kmh as f32),
            heading_deg: Some(self.heading as f32),
            alt_m: None,
            accuracy_m: Some(5.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use fleetd::config::TripsConfig;
    use fleetd::trips::machine::Kind;
    use fleetd::trips::{batch, Fix, Params};

    use super::*;

    const DAY0: i64 = 20_000 * DAY_US;

    fn fixes(readings: &[GpsReading]) -> Vec<Fix> {
        readings
            .iter()
            .map(|r| Fix {
                ts_us: r.ts,
                lat: r.lat,
                lon: r.lon,
                speed_kmh: r.speed_kmh,
                ignition: None,
            })
            .collect()
    }

    #[test]
    fn a_day_is_a_reading_per_step_and_the_same_for_the_same_seed() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let plan_a = Driver::new(3, 1).day(DAY0, 1_000_000, &mut a);
        let plan_b = Driver::new(3, 1).day(DAY0, 1_000_000, &mut b);
        assert_eq!(a.len(), 86_400);
        assert_eq!(a, b);
        assert_eq!(plan_a, plan_b);
        assert!(a.windows(2).all(|w| w[1].ts - w[0].ts == 1_000_000));
        let mut c = Vec::new();
        Driver::new(4, 1).day(DAY0, 1_000_000, &mut c);
        assert_ne!(a, c);
    }

    #[test]
    fn the_vehicle_stays_near_the_centre_and_drives_at_road_speeds() {
        let mut d = Driver::new(9, 2);
        let mut out = Vec::new();
        for day in 0..3 {
            d.day(DAY0 + day * DAY_US, 1_000_000, &mut out);
        }
        let centre = to_vec(CENTRE.0, CENTRE.1);
        for r in &out {
            assert!(distance_m(&to_vec(r.lat, r.lon), &centre) < RADIUS_M + 1_000.0);
            assert!((0.0..=70.0).contains(&r.speed_kmh.unwrap()));
        }
    }

    /// fleetd's rules, at their defaults, find exactly the trips the driver drove, each
    /// starting and ending within a halt at lights (at most 90 s) of the plan.
    #[test]
    fn fleetd_finds_the_planned_trips() {
        let p = Params::new(&TripsConfig::default());
        let mut d = Driver::new(5, 7);
        for (day, step_s) in [(0, 1), (1, 1), (2, 5)] {
            let mut out = Vec::new();
            let day_us = DAY0 + day * DAY_US;
            let plan = d.day(day_us, step_s * 1_000_000, &mut out);
            let found: Vec<_> = batch::segment(&p, &fixes(&out), day_us + DAY_US)
                .into_iter()
                .filter(|s| s.kind == Kind::Trip)
                .collect();
            assert!(plan.len() >= 8, "{} trips", plan.len());
            assert_eq!(found.len(), plan.len(), "day {day}");
            for (t, (start, end)) in found.iter().zip(&plan) {
                assert!(
                    (t.start.ts_us - start).abs() <= 100_000_000,
                    "start {} vs plan {start} (step {step_s} s)",
                    t.start.ts_us
                );
                assert!(
                    (t.end.ts_us - end).abs() <= 100_000_000,
                    "end {} vs plan {end} (step {step_s} s)",
                    t.end.ts_us
                );
            }
        }
    }
}
