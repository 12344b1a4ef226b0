//! Issue 13's attack shape: 25,000 vehicles nobody can dispatch around a pickup (20,000
//! registered without a driver, 5,000 with an available driver but silent for an hour) and
//! five available drivers 2–3 km out, at dispatch's default budget of 20,000 candidates.
//!
//! Side by side, on one index: the search over every vehicle with the roster's check as a
//! filter (before: it stops at the budget among the crowd and answers nothing, truncated),
//! the search over the dispatchable tree (after: stale members passed over uncounted), and
//! the same once the staleness sweep has unlisted the stale members. Also the cost the
//! second tree adds to position updates, at 100,000 vehicles all dispatchable.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fleetd::live::geo::EARTH_RADIUS_M;
use fleetd::live::{LiveIndex, Nearest, NearestQuery, Position};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NOW: i64 = 1_750_000_000_000_000;
const STALENESS: Duration = Duration::from_secs(60);
const PICKUP: (f64, f64) = (48.86, 2.35);

/// A point `north_m` and `east_m` from `PICKUP` (flat-Earth, fine over a few km).
fn offset(north_m: f64, east_m: f64) -> (f64, f64) {
    let lat = PICKUP.0 + (north_m / EARTH_RADIUS_M).to_degrees();
    let lon = PICKUP.1 + (east_m / (EARTH_RADIUS_M * PICKUP.0.to_radians().cos())).to_degrees();
    (lat, lon)
}

fn at((lat, lon): (f64, f64), ts: i64) -> Position {
    Position {
        lat,
        lon,
        ts,
        speed_kmh: None,
        heading_deg: None,
    }
}

/// The crowd within 1 km, the drivers 2–3 km out; returns the index and who is available.
fn crowded_pickup() -> (LiveIndex, HashSet<String>) {
    let mut rng = StdRng::seed_from_u64(13);
    let mut ix = LiveIndex::new();
    let around = |rng: &mut StdRng, from_m: f64, to_m: f64| {
        let r = rng.gen_range(from_m..to_m);
        let a = rng.gen_range(0.0..std::f64::consts::TAU);
        offset(r * a.sin(), r * a.cos())
    };
    let mut available = HashSet::new();
    for i in 0..20_000 {
        ix.upsert(
            &format!("nodriver-{i}"),
            at(around(&mut rng, 0.0, 1_000.0), NOW),
        )
        .unwrap();
    }
    for i in 0..5_000 {
        let id = format!("silent-{i}");
        let p = at(around(&mut rng, 0.0, 1_000.0), NOW - 3_600_000_000);
        ix.upsert(&id, p).unwrap();
        ix.set_dispatchable(&id, true);
        available.insert(id);
    }
    for i in 0..5 {
        let id = format!("driver-{i}");
        ix.upsert(&id, at(around(&mut rng, 2_000.0, 3_000.0), NOW))
            .unwrap();
        ix.set_dispatchable(&id, true);
        available.insert(id);
    }
    (ix, available)
}

fn describe(label: &str, n: &Nearest<()>) {
    println!(
        "crowded pickup, {label}: {} hits, {} examined, {} stale passed over, truncated {}",
        n.hits.len(),
        n.examined,
        n.skipped_stale,
        n.truncated
    );
}

fn nearest(c: &mut Criterion) {
    let (mut ix, available) = crowded_pickup();
    // The roster's check: a hash lookup per candidate, as `Eligible::check` does.
    let roster = |id: &str, _: &Position| available.contains(id).then_some(());
    let q = NearestQuery {
        lat: PICKUP.0,
        lon: PICKUP.1,
        k: 10,
        radius_m: 5_000.0,
        now_us: NOW,
        staleness: STALENESS,
        max_examined: 20_000,
    };
    describe("whole index", &ix.nearest(&q, &roster).unwrap());
    describe(
        "dispatchable",
        &ix.nearest_dispatchable(&q, &roster).unwrap(),
    );
    let mut group = c.benchmark_group("crowded_pickup");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("whole_index", |b| {
        b.iter(|| black_box(ix.nearest(&q, &roster).unwrap()))
    });
    group.bench_function("dispatchable", |b| {
        b.iter(|| black_box(ix.nearest_dispatchable(&q, &roster).unwrap()))
    });
    let unlisted = ix.unlist_stale_older_than(NOW - STALENESS.as_micros() as i64);
    println!("crowded pickup: the sweep unlisted {unlisted}");
    describe(
        "dispatchable, swept",
        &ix.nearest_dispatchable(&q, &roster).unwrap(),
    );
    group.bench_function("dispatchable_swept", |b| {
        b.iter(|| black_box(ix.nearest_dispatchable(&q, &roster).unwrap()))
    });
    group.finish();
}

/// Updates at 100,000 vehicles moving up to ~17 m a reading, none or all of them
/// dispatchable: what keeping the second tree in step costs.
fn updates(c: &mut Criterion) {
    const N: usize = 100_000;
    const BATCH: usize = 1_000;
    let mut rng = StdRng::seed_from_u64(4);
    let start: Vec<Position> = (0..N)
        .map(|_| {
            let (n, e) = (rng.gen_range(-25e3..25e3), rng.gen_range(-25e3..25e3));
            at(offset(n, e), NOW)
        })
        .collect();
    let ids: Vec<String> = (0..N).map(|i| format!("veh-{i:07}")).collect();
    let mut group = c.benchmark_group("upserts_100k");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    for dispatchable in [false, true] {
        let (mut ix, _) = LiveIndex::load(ids.iter().zip(&start).map(|(i, p)| (i.as_str(), *p)));
        if dispatchable {
            for id in &ids {
                ix.set_dispatchable(id, true);
            }
        }
        let mut current = start.clone();
        let mut ts = NOW;
        let name = if dispatchable { "all" } else { "none" };
        group.bench_function(BenchmarkId::new("moving/dispatchable", name), |b| {
            b.iter_batched(
                || {
                    (0..BATCH)
                        .map(|_| {
                            let v = rng.gen_range(0..N);
                            ts += 1;
                            let p = &mut current[v];
                            p.lat += rng.gen_range(-0.00015..0.00015);
                            p.lon += rng.gen_range(-0.00015..0.00015);
                            p.ts = ts;
                            (ids[v].as_str(), *p)
                        })
                        .collect::<Vec<_>>()
                },
                |updates| black_box(ix.upsert_many(updates)),
                criterion::BatchSize::SmallInput,
            )
        });
        ix.check_consistency().unwrap();
    }
    group.finish();
}

criterion_group!(benches, nearest, updates);
criterion_main!(benches);
