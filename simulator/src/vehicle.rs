//! The motion and engine model of one vehicle: pure, deterministic for a given random
//! stream, stepped by simulated time.
//!
//! A vehicle drives legs between random waypoints along great circles. On each leg it
//! accelerates to a cruise speed, cruises, and brakes to a stop at the waypoint (the speed
//! is capped by `sqrt(2·decel·remaining)`, so it always stops exactly there), then dwells:
//! a traffic stop, a delivery, or parked with the engine off. The heading is the great-circle
//! bearing towards the waypoint, i.e. the direction of motion. Fuel falls with distance and
//! idling and is refilled at a stop when low; the odometer rises with distance; now and then
//! a trouble code appears for a while.

use crate::geo::{self, Vec3};
use crate::payload::{Gps, Obd, DTC_CODES};
use crate::rng::SimRng;

/// Acceleration from standstill (and up to cruise speed), m/s².
pub const ACCEL_MS2: f64 = 1.8;
const DECEL_MS2: f64 = 2.5;
const LEG_MIN_M: f64 = 300.0;
const LEG_MAX_M: f64 = 5_000.0;
/// Highest cruise speed: 130 km/h, far inside the 400 of docs/telemetry.md.
pub const MAX_SPEED_KMH: f64 = 130.0;
const FUEL_PCT_PER_KM: f64 = 0.16;
const FUEL_PCT_PER_IDLE_S: f64 = 0.000_5;
const REFUEL_BELOW_PCT: f64 = 12.0;
/// Chance per OBD reading that a trouble code appears.
const DTC_CHANCE: f64 = 0.002;

/// A lat/lon box, `lat_min < lat_max` and `lon_min < lon_max` (no antimeridian crossing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    pub lat_min: f64,
    pub lon_min: f64,
    pub lat_max: f64,
    pub lon_max: f64,
}

impl Region {
    /// Berlin and its surroundings, the default.
    pub const BERLIN: Region = Region {
        lat_min: 52.35,
        lon_min: 13.08,
        lat_max: 52.68,
        lon_max: 13.76,
    };

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.lat_min..=self.lat_max).contains(&lat) && (self.lon_min..=self.lon_max).contains(&lon)
    }

    fn clamp(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            lat.clamp(self.lat_min, self.lat_max),
            lon.clamp(self.lon_min, self.lon_max),
        )
    }

    /// Waypoints are drawn from a slightly smaller box: a short great-circle leg between
    /// two points on the northern edge bulges poleward by under a metre, which the inset
    /// (about 100 m in a city-sized region) absorbs.
    fn inset(&self) -> Region {
        let m_lat = (0.05 * (self.lat_max - self.lat_min)).min(0.001);
        let m_lon = (0.05 * (self.lon_max - self.lon_min)).min(0.001);
        Region {
            lat_min: self.lat_min + m_lat,
            lon_min: self.lon_min + m_lon,
            lat_max: self.lat_max - m_lat,
            lon_max: self.lon_max - m_lon,
        }
    }

    fn random_point(&self, rng: &mut SimRng) -> (f64, f64) {
        (
            rng.range(self.lat_min, self.lat_max),
            rng.range(self.lon_min, self.lon_max),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Driving,
    Dwell { left_s: f64, engine_on: bool },
}

/// One simulated vehicle.
#[derive(Debug, Clone)]
pub struct Vehicle {
    rng: SimRng,
    from: Vec3,
    to: Vec3,
    leg_angle: f64,
    leg_sin: f64,
    leg_m: f64,
    done_m: f64,
    pos: Vec3,
    speed_ms: f64,
    cruise_ms: f64,
    accel_ms2: f64,
    mode: Mode,
    heading_deg: f64,
    fuel_pct: f64,
    odometer_km: f64,
    coolant_c: f64,
    ambient_c: f64,
    dtc: Option<&'static str>,
    dtc_left: u32,
}

/// Rounds to `1/scale`: what a tracker reports, and what makes checksums stable.
pub fn quantize(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

impl Vehicle {
    /// A vehicle parked somewhere in `region`, about to set off.
    pub fn new(region: &Region, mut rng: SimRng) -> Self {
        let (lat, lon) = region.inset().random_point(&mut rng);
        let pos = geo::to_vec(lat, lon);
        let ambient_c = rng.range(5.0, 25.0);
        Vehicle {
            from: pos,
            to: pos,
            leg_angle: 0.0,
            leg_sin: 0.0,
            leg_m: 0.0,
            done_m: 0.0,
            pos,
            speed_ms: 0.0,
            cruise_ms: 0.0,
            accel_ms2: 0.0,
            mode: Mode::Dwell {
                left_s: rng.range(0.0, 30.0),
                engine_on: true,
            },
            heading_deg: quantize(rng.range(0.0, 359.9), 10.0),
            fuel_pct: rng.range(30.0, 100.0),
            odometer_km: rng.range(1_000.0, 150_000.0),
            coolant_c: ambient_c,
            ambient_c,
            dtc: None,
            dtc_left: 0,
            rng,
        }
    }

    /// The vehicle's random stream, shared with fault decisions so one stream per vehicle
    /// makes its whole output reproducible.
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    pub fn lat_lon(&self) -> (f64, f64) {
        geo::lat_lon(&self.pos)
    }

    pub fn speed_kmh(&self) -> f64 {
        self.speed_ms * 3.6
    }

    pub fn heading_deg(&self) -> f64 {
        self.heading_deg
    }

    /// On a leg (from the step that set off, even at speed 0, to the step that arrived).
    pub fn is_driving(&self) -> bool {
        self.mode == Mode::Driving
    }

    /// Metres driven on the current (or, while dwelling, the last) leg.
    pub fn leg_done_m(&self) -> f64 {
        self.done_m
    }

    /// Moves simulated time forward by `dt_s` seconds.
    pub fn advance(&mut self, dt_s: f64, region: &Region) {
        if dt_s <= 0.0 {
            return;
        }
        let engine_on = match &mut self.mode {
            Mode::Dwell { left_s, engine_on } => {
                self.speed_ms = 0.0;
                self.accel_ms2 = 0.0;
                *left_s -= dt_s;
                let (done, on) = (*left_s <= 0.0, *engine_on);
                if on {
                    self.burn(0.0, dt_s);
                }
                if done {
                    self.start_leg(region);
                }
                on
            }
            Mode::Driving => {
                self.drive(dt_s);
                true
            }
        };
        let (target, tau_s) = if engine_on {
            (90.0, 240.0)
        } else {
            (self.ambient_c, 1_800.0)
        };
        self.coolant_c += (target - self.coolant_c) * (1.0 - (-dt_s / tau_s).exp());
    }

    fn drive(&mut self, dt_s: f64) {
        let remaining = self.leg_m - self.done_m;
        let v0 = self.speed_ms;
        let target = self.cruise_ms.min((2.0 * DECEL_MS2 * remaining).sqrt());
        let v1 = if target > v0 {
            (v0 + ACCEL_MS2 * dt_s).min(target)
        } else {
            (v0 - 2.0 * DECEL_MS2 * dt_s).max(target)
        };
        let step_m = 0.5 * (v0 + v1) * dt_s;
        self.accel_ms2 = (v1 - v0) / dt_s;
        if step_m >= remaining - 0.5 {
            self.burn(remaining, dt_s);
            self.done_m = self.leg_m;
            self.pos = self.to;
            self.arrive();
        } else {
            self.burn(step_m, dt_s);
            self.done_m += step_m;
            self.speed_ms = v1;
            self.pos = geo::slerp(
                &self.from,
                &self.to,
                self.leg_angle,
                self.leg_sin,
                self.done_m / self.leg_m,
            );
            self.heading_deg = geo::bearing_deg(&self.pos, &self.to);
        }
    }

    fn burn(&mut self, metres: f64, dt_s: f64) {
        let km = metres / 1000.0;
        self.odometer_km += km;
        let idle = if metres == 0.0 {
            FUEL_PCT_PER_IDLE_S * dt_s
        } else {
            0.0
        };
        self.fuel_pct = (self.fuel_pct - km * FUEL_PCT_PER_KM - idle).max(0.0);
    }

    fn arrive(&mut self) {
        self.speed_ms = 0.0;
        self.accel_ms2 = 0.0;
        let r = self.rng.unit();
        let (mut left_s, engine_on) = if r < 0.6 {
            (self.rng.range(5.0, 40.0), true)
        } else if r < 0.9 {
            (self.rng.range(60.0, 300.0), true)
        } else {
            (self.rng.range(300.0, 1_800.0), false)
        };
        if self.fuel_pct < REFUEL_BELOW_PCT {
            self.fuel_pct = self.rng.range(92.0, 100.0);
            left_s = left_s.max(180.0);
        }
        self.mode = Mode::Dwell { left_s, engine_on };
    }

    fn start_leg(&mut self, region: &Region) {
        let inset = region.inset();
        let (lat, lon) = self.lat_lon();
        let mut to = None;
        for _ in 0..16 {
            let bearing = self.rng.range(0.0, 360.0);
            let dist = self.rng.range(LEG_MIN_M, LEG_MAX_M);
            let (la, lo) = geo::destination(lat, lon, bearing, dist);
            if inset.contains(la, lo) {
                to = Some(geo::to_vec(la, lo));
                break;
            }
        }
        // A region too small for a short leg from here: head for any point in it.
        let to = to.unwrap_or_else(|| {
            let (la, lo) = inset.random_point(&mut self.rng);
            geo::to_vec(la, lo)
        });
        let angle = geo::central_angle(&self.pos, &to);
        if !(1e-7..3.0).contains(&angle) {
            // Under a metre away (or nearly antipodal): stay put a little longer.
            self.mode = Mode::Dwell {
                left_s: 5.0,
                engine_on: true,
            };
            return;
        }
        self.from = self.pos;
        self.to = to;
        self.leg_angle = angle;
        self.leg_sin = angle.sin();
        self.leg_m = angle * geo::EARTH_RADIUS_M;
        self.done_m = 0.0;
        let top_kmh = if self.leg_m < 1_000.0 {
            50.0
        } else {
            MAX_SPEED_KMH
        };
        self.cruise_ms = self.rng.range(25.0, top_kmh) / 3.6;
        self.heading_deg = geo::bearing_deg(&self.pos, &self.to);
        self.mode = Mode::Driving;
    }

    /// The GPS reading for the current state, stamped `ts_ms`.
    pub fn gps(&mut self, ts_ms: i64, region: &Region) -> Gps {
        let (lat, lon) = self.lat_lon();
        let (lat, lon) = region.clamp(lat, lon);
        // A smooth, made-up terrain: tens of metres of relief over a few kilometres.
        let alt =
            40.0 + 25.0 * (lat.to_radians() * 4_000.0).sin() * (lon.to_radians() * 3_000.0).cos();
        Gps {
            ts_ms,
            lat: quantize(lat, 1e7),
            lon: quantize(lon, 1e7),
            speed_kmh: quantize(self.speed_kmh(), 10.0),
            heading_deg: geo::normalize_deg(quantize(self.heading_deg, 10.0)),
            alt_m: quantize(alt, 10.0),
            accuracy_m: quantize(self.rng.range(2.5, 8.0), 10.0),
        }
    }

    /// The OBD-II reading for the current state, stamped `ts_ms`.
    pub fn obd(&mut self, ts_ms: i64) -> Obd {
        if self.dtc.is_some() {
            self.dtc_left = self.dtc_left.saturating_sub(1);
            if self.dtc_left == 0 {
                self.dtc = None;
            }
        } else if self.rng.chance(DTC_CHANCE) {
            self.dtc = Some(DTC_CODES[self.rng.below(DTC_CODES.len() as u64) as usize]);
            self.dtc_left = 10 + self.rng.below(110) as u32;
        }
        let kmh = self.speed_kmh();
        let engine_on = !matches!(
            self.mode,
            Mode::Dwell {
                engine_on: false,
                ..
            }
        );
        let (rpm, load) = if !engine_on {
            (0.0, 0.0)
        } else if kmh < 1.0 {
            (self.rng.range(700.0, 850.0), self.rng.range(12.0, 20.0))
        } else {
            // Rpm per km/h in each gear, and the speed at which that gear is engaged.
            const GEARS: [(f64, f64); 6] = [
                (0.0, 110.0),
                (15.0, 65.0),
                (30.0, 45.0),
                (50.0, 34.0),
                (70.0, 28.0),
                (95.0, 23.0),
            ];
            let per_kmh = GEARS
                .iter()
                .rev()
                .find(|g| kmh >= g.0)
                .map_or(110.0, |g| g.1);
            let load = if self.accel_ms2 > 0.3 {
                self.rng.range(55.0, 85.0)
            } else if self.accel_ms2 < -0.3 {
                self.rng.range(5.0, 15.0)
            } else {
                self.rng.range(20.0, 40.0)
            };
            (
                (kmh * per_kmh).max(800.0) + if self.accel_ms2 > 0.3 { 300.0 } else { 0.0 },
                load,
            )
        };
        Obd {
            ts_ms,
            rpm: rpm.round(),
            speed_kmh: quantize(kmh, 10.0),
            coolant_c: quantize(self.coolant_c, 10.0),
            fuel_pct: quantize(self.fuel_pct, 10.0).clamp(0.0, 100.0),
            engine_load_pct: quantize(load, 10.0),
            odometer_km: quantize(self.odometer_km, 10.0),
            dtc: self.dtc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{encode, Format, Kind};
    use crate::spec::check_payload;

    fn drive(seed: u64, steps: usize, dt: f64, region: &Region) -> Vec<(Gps, Obd)> {
        let mut v = Vehicle::new(region, SimRng::new(seed, 0));
        (0..steps)
            .map(|i| {
                v.advance(dt, region);
                let ts = (i as f64 * dt * 1000.0) as i64;
                (v.gps(ts, region), v.obd(ts))
            })
            .collect()
    }

    #[test]
    fn positions_stay_inside_the_region_and_speeds_within_limits() {
        let small = Region {
            lat_min: 52.50,
            lon_min: 13.40,
            lat_max: 52.51,
            lon_max: 13.42,
        };
        for region in [Region::BERLIN, small] {
            for seed in 0..5 {
                for (g, o) in drive(seed, 5_000, 1.0, &region) {
                    assert!(region.contains(g.lat, g.lon), "{g:?} outside {region:?}");
                    assert!((0.0..=MAX_SPEED_KMH).contains(&g.speed_kmh), "{g:?}");
                    assert!((0.0..360.0).contains(&g.heading_deg));
                    assert!((0.0..=100.0).contains(&o.fuel_pct));
                    let p = encode(Format::Json, &[g]);
                    assert!(check_payload(Kind::Gps, &p).unwrap()[0].is_ok());
                    let p = encode(Format::Json, &[o]);
                    assert!(check_payload(Kind::Obd, &p).unwrap()[0].is_ok(), "{o:?}");
                }
            }
        }
    }

    #[test]
    fn heading_points_along_the_motion() {
        let region = Region::BERLIN;
        let mut v = Vehicle::new(&region, SimRng::new(3, 0));
        let mut checked = 0;
        for _ in 0..20_000 {
            let before = v.pos;
            v.advance(1.0, &region);
            let moved = geo::distance_m(&before, &v.pos);
            if v.mode == Mode::Driving && moved > 1.0 {
                let travel = geo::bearing_deg(&before, &v.pos);
                let diff = (travel - v.heading_deg + 540.0).rem_euclid(360.0) - 180.0;
                assert!(
                    diff.abs() < 0.5,
                    "travel {travel} heading {}",
                    v.heading_deg
                );
                // And speed is consistent with the distance covered.
                assert!(moved <= MAX_SPEED_KMH / 3.6 + 1e-6);
                checked += 1;
            }
        }
        assert!(checked > 1_000, "only {checked} moving steps");
    }

    #[test]
    fn a_day_of_driving_has_stops_refuels_and_codes() {
        let region = Region::BERLIN;
        let run = drive(11, 86_400, 1.0, &region);
        let stops = run
            .windows(2)
            .filter(|w| w[0].0.speed_kmh > 0.0 && w[1].0.speed_kmh == 0.0)
            .count();
        assert!(stops > 20, "{stops} stops");
        let odo: Vec<f64> = run.iter().map(|r| r.1.odometer_km).collect();
        assert!(odo.windows(2).all(|w| w[1] >= w[0]), "odometer never falls");
        assert!(
            odo[odo.len() - 1] - odo[0] > 100.0,
            "drove {} km",
            odo[odo.len() - 1] - odo[0]
        );
        let refuels = run
            .windows(2)
            .filter(|w| w[1].1.fuel_pct > w[0].1.fuel_pct + 10.0)
            .count();
        let lowest = run.iter().map(|r| r.1.fuel_pct).fold(100.0, f64::min);
        assert!(
            refuels > 0 || lowest > REFUEL_BELOW_PCT,
            "refuels {refuels}, lowest {lowest}"
        );
        assert!(
            run.iter().any(|r| r.1.dtc.is_some()),
            "no trouble code in a day"
        );
        assert!(run.iter().any(|r| r.1.coolant_c > 80.0), "engine warms up");
    }

    #[test]
    fn same_stream_same_drive() {
        let a = drive(5, 2_000, 0.5, &Region::BERLIN);
        let b = drive(5, 2_000, 0.5, &Region::BERLIN);
        assert_eq!(a, b);
        assert_ne!(a, drive(6, 2_000, 0.5, &Region::BERLIN));
    }

    #[test]
    fn quantize_rounds() {
        assert_eq!(quantize(52.123_456_78, 1e7), 52.123_456_8);
        assert_eq!(quantize(48.25, 10.0), 48.3);
    }
}
