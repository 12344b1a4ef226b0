//! Geofence evaluation: position updates per second through `FenceIndex` + `Membership` on
//! one core, with 10,000 polygon fences of 50 vertices and 100,000 vehicles (issue 16's goal:
//! ≥ 200,000 updates/s).
//!
//! Two layouts: fences 200 m to 1 km across spread over a 220 × 220 km region (a metropolitan
//! area: fences overlap, most vehicles are near several), and the same fences spread over the
//! whole globe. Every vehicle starts near a random fence and each update moves it about 15 m
//! with a newer timestamp, so vehicles enter, stay in and leave fences as they would.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetd::geofences::{destination, Fence, FenceIndex, Membership, Point, Shape};
use fleetd::live::geo::EARTH_RADIUS_M;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

const FENCES: usize = 10_000;
const VERTICES: usize = 50;
const VEHICLES: usize = 100_000;

/// A star polygon of `VERTICES` vertices, 100 to 500 m from its centre.
fn fence(rng: &mut StdRng, i: usize, c: Point) -> Fence {
    let mut ring: Vec<[f64; 2]> = (0..VERTICES)
        .map(|k| {
            let bearing = (k as f64 + rng.gen_range(0.0..0.4)) * 360.0 / VERTICES as f64;
            let (lat, lon) = destination(c.lat, c.lon, bearing, rng.gen_range(100.0..500.0));
            [lon, lat]
        })
        .collect();
    ring.push(ring[0]);
    let shape = Shape::from_geojson(&json!({"type": "Polygon", "coordinates": [ring]})).unwrap();
    Fence::new(Uuid::from_u128(i as u128 + 1), shape)
        .with_hysteresis(20.0)
        .unwrap()
        .with_dwell(Some(300))
}

struct World {
    index: FenceIndex,
    positions: Vec<Point>,
}

fn world(rng: &mut StdRng, centre: impl Fn(&mut StdRng) -> Point) -> World {
    let centres: Vec<Point> = (0..FENCES).map(|_| centre(rng)).collect();
    let index = FenceIndex::load(
        centres
            .iter()
            .enumerate()
            .map(|(i, c)| Arc::new(fence(rng, i, *c))),
    );
    let positions = (0..VEHICLES)
        .map(|_| {
            let c = centres[rng.gen_range(0..FENCES)];
            let (lat, lon) = destination(
                c.lat,
                c.lon,
                rng.gen_range(0.0..360.0),
                rng.gen_range(0.0..1_000.0),
            );
            Point::new(lat, lon)
        })
        .collect();
    World { index, positions }
}

fn region(rng: &mut StdRng) -> Point {
    Point::new(rng.gen_range(47.86..49.86), rng.gen_range(0.85..3.85))
}

fn globe(rng: &mut StdRng) -> Point {
    let z: f64 = rng.gen_range(-1.0..1.0);
    Point::new(z.asin().to_degrees(), rng.gen_range(-180.0..180.0))
}

fn evaluate(c: &mut Criterion) {
    let mut group = c.benchmark_group("geofences");
    group.throughput(Throughput::Elements(VEHICLES as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (name, place) in [
        ("region", region as fn(&mut StdRng) -> Point),
        ("globe", globe),
    ] {
        let mut rng = StdRng::seed_from_u64(16);
        let started = Instant::now();
        let World { index, positions } = world(&mut rng, place);
        eprintln!(
            "{name}: {FENCES} fences of {VERTICES} vertices validated and indexed in {:.2?}",
            started.elapsed()
        );
        let candidates: usize = positions.iter().map(|p| index.candidates(*p).count()).sum();
        eprintln!(
            "{name}: {:.2} candidate fences per position",
            candidates as f64 / VEHICLES as f64
        );
        // Each round moves every vehicle ~15 m along its own heading: a step in degrees,
        // computed once, so that the loop times the engine rather than the trigonometry.
        let steps: Vec<(f64, f64)> = positions
            .iter()
            .map(|p| {
                let h = rng.gen_range(0.0..360.0f64).to_radians();
                let deg = (15.0 / EARTH_RADIUS_M).to_degrees();
                let lon_scale = p.lat.to_radians().cos().max(0.01);
                (deg * h.cos(), deg * h.sin() / lon_scale)
            })
            .collect();
        let mut positions = positions;
        let mut states = vec![Membership::default(); VEHICLES];
        let mut ts = 0i64;
        let (mut transitions, mut inside) = (0usize, 0usize);
        group.bench_function(name, |b| {
            b.iter(|| {
                ts += 1_000_000;
                for (i, state) in states.iter_mut().enumerate() {
                    let (p, (dlat, dlon)) = (positions[i], steps[i]);
                    let lon = p.lon + dlon;
                    let lon = if lon > 180.0 {
                        lon - 360.0
                    } else if lon < -180.0 {
                        lon + 360.0
                    } else {
                        lon
                    };
                    positions[i] = Point::new((p.lat + dlat).clamp(-90.0, 90.0), lon);
                    transitions += black_box(state.apply(&index, ts, positions[i])).len();
                    inside += state.visits.len();
                }
            })
        });
        let rounds = (ts / 1_000_000).max(1) as usize;
        eprintln!(
            "{name}: {rounds} rounds, {:.2} transitions and {:.2} memberships per update",
            transitions as f64 / (rounds * VEHICLES) as f64,
            inside as f64 / (rounds * VEHICLES) as f64,
        );
    }
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
