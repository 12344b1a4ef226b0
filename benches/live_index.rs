//! Live index: nearest-10 within 5 km at 10k, 100k and 1M vehicles, over a city-sized and a
//! country-sized region; position updates per second at 100k vehicles; heap bytes per vehicle.
//!
//! Memory is measured with a counting global allocator: bytes requested from the allocator
//! (malloc's own per-chunk overhead is not included).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fleetd::live::{Everyone, LiveIndex, NearestQuery, Position, SharedLiveIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Counting;

static HEAP: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HEAP.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const NOW: i64 = 1_750_000_000_000_000;

/// A region: centre and half-widths in degrees.
#[derive(Clone, Copy)]
struct Region {
    name: &'static str,
    lat: f64,
    lon: f64,
    half_lat: f64,
    half_lon: f64,
}

/// About 50 km × 50 km around Paris.
const CITY: Region = Region {
    name: "city",
    lat: 48.86,
    lon: 2.35,
    half_lat: 0.225,
    half_lon: 0.34,
};

/// About 1,000 km × 1,000 km over France.
const COUNTRY: Region = Region {
    name: "country",
    lat: 46.5,
    lon: 2.5,
    half_lat: 4.5,
    half_lon: 6.5,
};

fn id(i: usize) -> String {
    format!("veh-{i:07}")
}

fn random_point(rng: &mut StdRng, r: Region) -> (f64, f64) {
    (
        r.lat + rng.gen_range(-r.half_lat..r.half_lat),
        r.lon + rng.gen_range(-r.half_lon..r.half_lon),
    )
}

fn fleet(n: usize, r: Region, seed: u64) -> Vec<(String, Position)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let (lat, lon) = random_point(&mut rng, r);
            let p = Position {
                lat,
                lon,
                ts: NOW - rng.gen_range(0..30_000_000),
                speed_kmh: Some(rng.gen_range(0.0..90.0)),
                heading_deg: Some(rng.gen_range(0.0..360.0)),
            };
            (id(i), p)
        })
        .collect()
}

fn heap() -> isize {
    HEAP.load(Ordering::Relaxed)
}

/// Prints heap bytes per vehicle, bulk-loaded and built by upserts one at a time.
fn report_memory() {
    for n in [100_000, 1_000_000] {
        let items = fleet(n, COUNTRY, 7);
        let before = heap();
        let (ix, _) = LiveIndex::load(items.iter().map(|(i, p)| (i.as_str(), *p)));
        let loaded = heap() - before;
        drop(ix);
        let before = heap();
        let mut ix = LiveIndex::new();
        ix.upsert_many(items.iter().map(|(i, p)| (i.as_str(), *p)));
        let grown = heap() - before;
        drop(ix);
        println!(
            "memory per vehicle at {n}: {:.1} bytes bulk-loaded, {:.1} bytes built by upserts \
             (ids of 11 characters; heap bytes requested)",
            loaded as f64 / n as f64,
            grown as f64 / n as f64
        );
    }
}

/// Prints per-query latency percentiles (criterion reports means and their confidence
/// intervals, not tails): each query timed alone, 200,000 of them after a warm-up pass.
fn report_percentiles(label: &str, ix: &LiveIndex, queries: &[NearestQuery]) {
    const TIMED: usize = 200_000;
    for q in queries {
        black_box(ix.nearest(q, &Everyone).unwrap());
    }
    let mut ns: Vec<u64> = (0..TIMED)
        .map(|i| {
            let t0 = Instant::now();
            black_box(ix.nearest(&queries[i % queries.len()], &Everyone).unwrap());
            t0.elapsed().as_nanos() as u64
        })
        .collect();
    ns.sort_unstable();
    let at = |p: f64| ns[((TIMED as f64 * p) as usize).min(TIMED - 1)] as f64 / 1_000.0;
    println!(
        "{label}: nearest-10 within 5 km latency p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, \
         max {:.1} us ({TIMED} queries timed one by one)",
        at(0.50),
        at(0.99),
        at(0.999),
        ns[TIMED - 1] as f64 / 1_000.0
    );
}

fn nearest(c: &mut Criterion) {
    report_memory();
    let mut group = c.benchmark_group("nearest10_5km");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    for region in [CITY, COUNTRY] {
        for n in [10_000, 100_000, 1_000_000] {
            let (ix, _) = LiveIndex::load(fleet(n, region, 1));
            let mut rng = StdRng::seed_from_u64(2);
            let queries: Vec<NearestQuery> = (0..4096)
                .map(|_| {
                    let (lat, lon) = random_point(&mut rng, region);
                    NearestQuery {
                        lat,
                        lon,
                        k: 10,
                        radius_m: 5_000.0,
                        now_us: NOW,
                        staleness: Duration::from_secs(60),
                        max_examined: usize::MAX,
                    }
                })
                .collect();
            let found: usize = queries
                .iter()
                .map(|q| ix.nearest(q, &Everyone).unwrap().hits.len())
                .sum();
            println!(
                "{}/{n}: {:.1} hits per query on average",
                region.name,
                found as f64 / queries.len() as f64
            );
            report_percentiles(&format!("{}/{n}", region.name), &ix, &queries);
            let label = format!("{}/{}", region.name, n);
            group.bench_function(BenchmarkId::new("all_available", &label), |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % queries.len();
                    black_box(ix.nearest(&queries[i], &Everyone).unwrap())
                })
            });
            if n == 100_000 {
                // A third of the vehicles have an available driver: the iterator must skip
                // the rest, with a hash lookup per candidate like a real registry.
                let available: std::collections::HashSet<String> =
                    (0..n).filter(|i| i % 3 == 0).map(id).collect();
                let filter = |id: &str, _: &Position| available.contains(id).then_some(());
                group.bench_function(BenchmarkId::new("third_available", &label), |b| {
                    let mut i = 0;
                    b.iter(|| {
                        i = (i + 1) % queries.len();
                        black_box(ix.nearest(&queries[i], &filter).unwrap())
                    })
                });
            }
        }
    }
    group.finish();
}

fn updates(c: &mut Criterion) {
    const N: usize = 100_000;
    const BATCH: usize = 1_000;
    let items = fleet(N, CITY, 3);
    let ids: Vec<&str> = items.iter().map(|(i, _)| i.as_str()).collect();
    // Readings at about 1 Hz: each moves its vehicle up to ~17 m north-south and ~11 m
    // east-west from where it was (a random walk), so vehicles drift out of their tree cubes
    // now and then, as real ones do.
    let mut rng = StdRng::seed_from_u64(4);
    let moves: Vec<(usize, f64, f64)> = (0..1 << 20)
        .map(|_| {
            let v = rng.gen_range(0..N);
            (
                v,
                rng.gen_range(-0.00015..0.00015),
                rng.gen_range(-0.00015..0.00015),
            )
        })
        .collect();
    let mut group = c.benchmark_group("upserts_100k");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));

    let mut current: Vec<Position> = items.iter().map(|(_, p)| *p).collect();
    let mut batch = |at: &mut usize, ts: &mut i64| -> Vec<(&str, Position)> {
        (0..BATCH)
            .map(|_| {
                let (v, dlat, dlon) = moves[*at % moves.len()];
                *at += 1;
                *ts += 1;
                let p = &mut current[v];
                p.lat += dlat;
                p.lon += dlon;
                p.ts = NOW + *ts;
                (ids[v], *p)
            })
            .collect()
    };

    let (mut ix, _) = LiveIndex::load(items.iter().map(|(i, p)| (i.as_str(), *p)));
    let (mut at, mut ts) = (0usize, 0i64);
    group.bench_function("moving/index", |b| {
        b.iter_batched(
            || batch(&mut at, &mut ts),
            |updates| black_box(ix.upsert_many(updates)),
            criterion::BatchSize::SmallInput,
        )
    });
    drop(ix);

    let shared =
        SharedLiveIndex::new(LiveIndex::load(items.iter().map(|(i, p)| (i.as_str(), *p))).0);
    group.bench_function("moving/shared", |b| {
        b.iter_batched(
            || batch(&mut at, &mut ts),
            |updates| black_box(shared.upsert_many(updates)),
            criterion::BatchSize::SmallInput,
        )
    });
    // Parked vehicles: newer ts, same place; no tree work.
    group.bench_function("parked/shared", |b| {
        b.iter_batched(
            || {
                (0..BATCH)
                    .map(|_| {
                        let (v, _, _) = moves[at % moves.len()];
                        at += 1;
                        ts += 1;
                        (
                            ids[v],
                            Position {
                                ts: NOW + ts,
                                ..items[v].1
                            },
                        )
                    })
                    .collect::<Vec<_>>()
            },
            |updates| black_box(shared.upsert_many(updates)),
            criterion::BatchSize::SmallInput,
        )
    });
    // Replays: older readings, all ignored.
    group.bench_function("replayed/shared", |b| {
        b.iter_batched(
            || {
                (0..BATCH)
                    .map(|_| {
                        let (v, _, _) = moves[at % moves.len()];
                        at += 1;
                        (ids[v], items[v].1)
                    })
                    .collect::<Vec<_>>()
            },
            |updates| black_box(shared.upsert_many(updates)),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, nearest, updates);
criterion_main!(benches);
