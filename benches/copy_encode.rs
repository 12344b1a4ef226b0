//! COPY row encoding throughput: the per-reading work the decoder threads do after decoding.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fleetd::ingest::copy;
use fleetd::ingest::reading::{Dtc, GpsReading, ObdReading};

fn gps(i: usize) -> GpsReading {
    GpsReading {
        ts: 1_795_000_000_000_000 + i as i64 * 1_000_000,
        lat: 52.52 + i as f64 * 1e-5,
        lon: 13.405 - i as f64 * 1e-5,
        speed_kmh: Some(42.0),
        heading_deg: Some(180.0),
        alt_m: (i % 2 == 0).then_some(34.0),
        accuracy_m: Some(4.0),
    }
}

fn obd(i: usize) -> ObdReading {
    ObdReading {
        ts: 1_795_000_000_000_000 + i as i64 * 1_000_000,
        rpm: Some(2200.0),
        speed_kmh: Some(60.0),
        coolant_c: Some(90.0),
        fuel_pct: Some(55.0),
        engine_load_pct: Some(30.0),
        odometer_km: Some(123_456.7),
        dtc: (i % 10 == 0).then(|| vec![Dtc(*b"P0301")]),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("copy_encode");
    for n in [1usize, 1000] {
        let rows: Vec<_> = (0..n).map(gps).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("gps", n), &rows, |b, rows| {
            let mut buf = Vec::with_capacity(128 * n);
            b.iter(|| {
                buf.clear();
                for r in rows {
                    copy::gps_tuple(&mut buf, "veh-000123", r, 1_795_000_000_000_000);
                }
                black_box(buf.len())
            })
        });
        let rows: Vec<_> = (0..n).map(obd).collect();
        g.bench_with_input(BenchmarkId::new("obd", n), &rows, |b, rows| {
            let mut buf = Vec::with_capacity(128 * n);
            b.iter(|| {
                buf.clear();
                for r in rows {
                    copy::obd_tuple(&mut buf, "veh-000123", r, 1_795_000_000_000_000);
                }
                black_box(buf.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
