//! The segmenter on hand-made drives, and incremental = batch under random arrival orders.

use proptest::prelude::*;

use super::batch;
use super::incremental::Memory;
use super::machine::{Kind, Machine, Segment};
use super::{Fix, Params};

const S: i64 = 1_000_000;

/// A tiny deterministic generator (the scenario is a function of the seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// How a scenario reports speed.
#[derive(Debug, Clone, Copy)]
enum Speeds {
    Reported,
    Absent,
    Mixed,
}

/// A drive: legs, standstills with GPS noise and silent gaps, sampled every 1–30 s.
fn drive(seed: u64, speeds: Speeds, len: usize) -> Vec<Fix> {
    let mut rng = Rng(seed | 1);
    let (mut lat, mut lon) = (52.5, 13.4);
    let mut ts = 1_700_000_000 * S;
    let mut out = Vec::new();
    let interval = [1, 1, 5, 10, 30][rng.below(5) as usize] * S;
    while out.len() < len {
        let phase = rng.below(10);
        let dur = match phase {
            0..=3 => rng.range(20.0, 1_200.0),
            4..=8 => rng.range(5.0, 1_500.0),
            _ => rng.range(600.0, 8_000.0),
        } as i64
            * S;
        let end = ts + dur;
        let heading = rng.range(0.0, std::f64::consts::TAU);
        let kmh = rng.range(8.0, 90.0);
        while ts < end && out.len() < len {
            ts += interval + rng.below(1_000) as i64 * 1_000;
            let (speed, noise) = match phase {
                0..=3 => {
                    let step = kmh / 3.6 * interval as f64 / S as f64;
                    lat += step * heading.cos() / 111_195.0;
                    lon += step * heading.sin() / (111_195.0 * lat.to_radians().cos());
                    (kmh as f32, 3.0)
                }
                4..=8 => (0.0, 8.0),
                _ => continue, // silent
            };
            let n = |r: &mut Rng| r.range(-noise, noise) / 111_195.0;
            let speed_kmh = match speeds {
                Speeds::Reported => Some(speed),
                Speeds::Absent => None,
                Speeds::Mixed => (rng.below(2) == 0).then_some(speed),
            };
            out.push(Fix {
                ts_us: ts,
                lat: lat + n(&mut rng),
                lon: lon + n(&mut rng),
                speed_kmh,
                ignition: None,
            });
        }
    }
    out
}

fn params(variant: u8) -> Params {
    let mut p = Params::default();
    if variant % 2 == 1 {
        p.min_stop_us = 60 * S;
        p.min_trip_us = 120 * S;
        p.min_trip_m = 300.0;
        p.max_gap_us = 600 * S;
        p.stop_radius_m = 50.0;
    }
    p
}

fn fix(t: i64, lat: f64, speed: f32) -> Fix {
    Fix {
        ts_us: t * S,
        lat,
        lon: 13.0,
        speed_kmh: Some(speed),
        ignition: None,
    }
}

/// Parked 10 min, drives 10 min north at 36 km/h (10 m/s), parks 10 min, drives 10 min.
fn two_trips() -> Vec<Fix> {
    let mut v = Vec::new();
    let mut lat = 52.0;
    for t in 0..2_400 {
        let moving = (600..1_200).contains(&t) || t >= 1_800;
        if moving {
            lat += 10.0 / 111_195.0;
        }
        v.push(fix(t, lat, if moving { 36.0 } else { 0.0 }));
    }
    v
}

#[test]
fn drive_park_drive_is_two_trips_around_a_stop() {
    let p = Params::default();
    let segs = batch::segment(&p, &two_trips(), 2_400 * S);
    let kinds: Vec<_> = segs
        .iter()
        .map(|s| (s.kind, s.start.ts_us / S, s.end.ts_us / S))
        .collect();
    // The first stop ends where the first trip starts; the trip ends at its first still
    // reading, settled 300 s later; the second trip is still open.
    assert_eq!(
        kinds,
        vec![
            (Kind::Stop, 0, 600),
            (Kind::Trip, 600, 1_200),
            (Kind::Stop, 1_200, 1_800)
        ]
    );
    let trip = segs[1].stats.unwrap();
    assert!(
        (trip.distance_m - 6_000.0).abs() < 20.0,
        "{}",
        trip.distance_m
    );
    assert_eq!(
        trip.moving_us,
        599 * S,
        "600..1199 moving, the step to 1200 standing"
    );
    assert_eq!(trip.max_speed_kmh, 36.0);
    assert_eq!(segs[1].decided_us, 1_500 * S);
    // The stop settles when the next movement becomes a trip: 500 m after it set off.
    assert_eq!(segs[2].decided_us, 1_850 * S);
}

#[test]
fn a_short_movement_stays_inside_the_stop() {
    let p = Params::default();
    let mut v: Vec<Fix> = (0..1_000).map(|t| fix(t, 52.0, 0.0)).collect();
    // 60 s at 10 km/h: 167 m, under both minimums.
    let mut lat = 52.0;
    for f in v.iter_mut().take(460).skip(400) {
        lat += 2.78 / 111_195.0;
        f.lat = lat;
        f.speed_kmh = Some(10.0);
    }
    for f in v.iter_mut().skip(460) {
        f.lat = lat;
    }
    let mut m = Machine::new();
    let mut out = Vec::new();
    for f in &v {
        m.push(&p, *f, &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
    assert!(m.open_trip().is_none());
}

#[test]
fn a_silent_hour_ends_a_trip_at_its_last_reading_and_flush_agrees() {
    let p = Params::default();
    let v: Vec<Fix> = two_trips().into_iter().take(1_000).collect();
    let flushed = batch::segment(&p, &v, 999 * S + p.max_gap_us);
    assert_eq!(
        flushed.last().map(|s| (s.kind, s.end.ts_us / S)),
        Some((Kind::Trip, 999))
    );
    let not_yet = batch::segment(&p, &v, 999 * S + p.max_gap_us - 1);
    assert_eq!(not_yet.last().map(|s| s.kind), Some(Kind::Stop));
    // A reading an hour later, far away, settles the same trip.
    let mut later = v.clone();
    later.push(fix(999 + 3_600, 53.0, 0.0));
    let segs = batch::segment(&p, &later, 999 * S + p.max_gap_us);
    assert_eq!(segs, flushed);
}

#[test]
fn a_parked_vehicle_that_sleeps_and_wakes_in_place_stays_one_stop() {
    let p = Params::default();
    let mut v = two_trips();
    v.truncate(1_300); // parked at 1,200, still until 1,299
    let park = v[1_299];
    for t in 0..400 {
        let mut f = park;
        f.ts_us = (20_000 + t) * S;
        v.push(f);
    }
    let mut lat = park.lat;
    for t in 400..1_000 {
        lat += 10.0 / 111_195.0;
        v.push(fix(20_000 + t, lat, 36.0));
    }
    let segs = batch::segment(&p, &v, 21_000 * S);
    let last_stop = segs.iter().rfind(|s| s.kind == Kind::Stop).unwrap();
    assert_eq!(
        (last_stop.start.ts_us / S, last_stop.end.ts_us / S),
        (1_200, 20_400)
    );
}

#[test]
fn without_speed_motion_is_judged_over_the_window() {
    let p = Params::default();
    let v: Vec<Fix> = two_trips()
        .into_iter()
        .map(|mut f| {
            f.speed_kmh = None;
            f
        })
        .collect();
    let segs = batch::segment(&p, &v, 2_400 * S);
    let trip = segs.iter().find(|s| s.kind == Kind::Trip).unwrap();
    // The first reading 30 m (the jitter) away is judged moving: within a few seconds;
    // standing still shows once the window looks back past the last movement.
    assert!((600..=605).contains(&(trip.start.ts_us / S)), "{trip:?}");
    assert!((1_200..=1_210).contains(&(trip.end.ts_us / S)), "{trip:?}");
}

#[test]
fn ignition_off_is_never_moving_when_asked() {
    let p = Params {
        use_ignition: true,
        ..Params::default()
    };
    let v: Vec<Fix> = two_trips()
        .into_iter()
        .map(|mut f| {
            f.ignition = Some(f.ts_us / S >= 1_800);
            f
        })
        .collect();
    let segs = batch::segment(&p, &v, 2_400 * S);
    assert_eq!(
        segs.iter().map(|s| s.kind).collect::<Vec<_>>(),
        vec![Kind::Stop],
        "the first drive had the ignition off: {segs:?}"
    );
}

/// Segments tile time: ordered, not overlapping, trips between stops.
fn well_formed(segs: &[Segment]) -> Result<(), String> {
    for w in segs.windows(2) {
        if w[1].start.ts_us < w[0].end.ts_us || w[1].decided_us < w[0].decided_us {
            return Err(format!("out of order: {:?} then {:?}", w[0], w[1]));
        }
    }
    for s in segs {
        if s.end.ts_us < s.start.ts_us || s.resume_us > s.decided_us {
            return Err(format!("malformed: {s:?}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Readings arrive in random batches in random order (late ones behind the watermark
    /// included), the saved machine goes through JSON between passes: after every pass the
    /// stored segments equal a batch run over what is stored.
    #[test]
    fn incremental_equals_batch_under_any_arrival_order(
        seed in any::<u64>(),
        len in 50usize..1_500,
        speeds in 0u8..3,
        variant in 0u8..2,
        shuffle in 0u8..4,
        batches in 1usize..40,
    ) {
        let speeds = [Speeds::Reported, Speeds::Absent, Speeds::Mixed][speeds as usize];
        let p = params(variant);
        let all = drive(seed, speeds, len);
        let mut rng = Rng(seed.rotate_left(17) | 1);
        // Arrival order: in order, a few late readings, fully shuffled, or reversed chunks.
        let mut order: Vec<Fix> = all.clone();
        match shuffle {
            0 => {}
            1 => for _ in 0..len / 20 {
                let i = rng.below(len as u64) as usize;
                let j = (i + rng.below(200) as usize).min(len - 1);
                order.swap(i, j);
            },
            2 => for i in (1..len).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            },
            _ => for c in order.chunks_mut(37) { c.reverse() },
        }
        // A re-sent duplicate now and then.
        let dup = order[rng.below(len as u64) as usize];
        order.insert(rng.below(len as u64) as usize, dup);

        let mut mem = Memory::default();
        let mut now = all[0].ts_us;
        let cuts = batches.min(order.len());
        let size = order.len().div_ceil(cuts);
        for chunk in order.chunks(size) {
            now = now.max(chunk.iter().map(|f| f.ts_us).max().unwrap()) + rng.below(4_000) as i64 * S;
            if let Some(dirty) = mem.store(chunk) {
                mem.pass(&p, dirty, now);
            }
            // The machine survives a restart: keep it only as its JSON.
            let json = serde_json::to_string(&mem.machine).unwrap();
            mem.machine = serde_json::from_str(&json).unwrap();
            let expected = batch::segment(&p, &mem.readings, now);
            prop_assert_eq!(&mem.segments, &expected);
            prop_assert!(well_formed(&expected).is_ok(), "{:?}", well_formed(&expected));
        }
    }
}
