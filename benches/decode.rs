//! Payload decoding: pure CPU, no I/O. Throughput is reported in readings per second for
//! every case, and additionally in bytes per second for the large batches, where the wire
//! size of JSON and binary differs the most.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use fleetd::ingest::decode::decode;
use fleetd::ingest::reading::{Kind, Window};
use fleetd::wire::{encode_gps, GpsV1};

/// 2023-11-14T22:13:20Z
const NOW: i64 = 1_700_000_000_000_000;
const NOW_MS: i64 = NOW / 1000;

const WINDOW: Window = Window {
    max_future: Duration::from_secs(300),
    max_age: Duration::from_secs(30 * 86_400),
};

/// A plausible tracker reading, different for every `i` so no two elements parse alike.
fn gps_v1(i: usize) -> GpsV1 {
    let f = i as f64;
    GpsV1 {
        ts_ms: NOW_MS - 1000 * i as i64,
        lat: 52.520_008 + f * 1.3e-5,
        lon: 13.404_954 - f * 2.1e-5,
        speed_kmh: Some((42.5 + (i % 40) as f64) as f32),
        heading_deg: Some((i * 7 % 360) as f32 + 0.25),
        alt_m: Some(34.0 + (i % 10) as f32),
        accuracy_m: Some(3.5),
    }
}

/// The same reading as JSON, with an RFC 3339 `ts` as most trackers send it.
fn gps_json(i: usize) -> String {
    let r = gps_v1(i);
    let ts = chrono::DateTime::from_timestamp_millis(r.ts_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    format!(
        r#"{{"ts":"{ts}","lat":{},"lon":{},"speed_kmh":{},"heading_deg":{},"alt_m":{},"accuracy_m":{},"sats":9}}"#,
        r.lat,
        r.lon,
        r.speed_kmh.unwrap_or_default(),
        r.heading_deg.unwrap_or_default(),
        r.alt_m.unwrap_or_default(),
        r.accuracy_m.unwrap_or_default(),
    )
}

fn json_batch(n: usize) -> String {
    let items: Vec<String> = (0..n).map(gps_json).collect();
    format!("[{}]", items.join(","))
}

fn binary_batch(n: usize) -> Vec<u8> {
    encode_gps(&(0..n).map(gps_v1).collect::<Vec<_>>())
}

const OBD_JSON: &str = r#"{"ts":1699999999000,"rpm":2450,"speed_kmh":87.5,"coolant_c":91,"fuel_pct":63.2,"engine_load_pct":41.5,"odometer_km":128734.6,"dtc":["P0301","U0100"]}"#;

/// Benchmarks one payload, checking first that it decodes to `readings` good readings.
fn case<M: criterion::measurement::Measurement>(
    group: &mut BenchmarkGroup<'_, M>,
    name: &str,
    kind: Kind,
    payload: &[u8],
    readings: usize,
) {
    let decoded = decode(kind, payload, NOW, &WINDOW);
    assert!(decoded.rejects.is_empty(), "{name}: {:?}", decoded.rejects);
    assert_eq!(decoded.gps.len() + decoded.obd.len(), readings, "{name}");
    group.bench_function(name, |b| {
        b.iter(|| decode(kind, black_box(payload), NOW, &WINDOW))
    });
}

fn readings(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_readings");
    let single = gps_json(0);
    let cases: [(&str, Kind, Vec<u8>, usize); 6] = [
        ("json_gps_single", Kind::Gps, single.into_bytes(), 1),
        (
            "json_obd_single",
            Kind::Obd,
            OBD_JSON.as_bytes().to_vec(),
            1,
        ),
        (
            "json_gps_batch_100",
            Kind::Gps,
            json_batch(100).into_bytes(),
            100,
        ),
        (
            "json_gps_batch_1000",
            Kind::Gps,
            json_batch(1000).into_bytes(),
            1000,
        ),
        ("binary_gps_batch_100", Kind::Gps, binary_batch(100), 100),
        ("binary_gps_batch_1000", Kind::Gps, binary_batch(1000), 1000),
    ];
    for (name, kind, payload, n) in &cases {
        group.throughput(Throughput::Elements(*n as u64));
        case(&mut group, name, *kind, payload, *n);
    }
    group.finish();
}

fn bytes(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_bytes");
    let json = json_batch(1000).into_bytes();
    let binary = binary_batch(1000);
    for (name, payload) in [
        ("json_gps_batch_1000", json),
        ("binary_gps_batch_1000", binary),
    ] {
        group.throughput(Throughput::Bytes(payload.len() as u64));
        case(&mut group, name, Kind::Gps, &payload, 1000);
    }
    group.finish();
}

criterion_group!(benches, readings, bytes);
criterion_main!(benches);
