use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::config::Faults;
use crate::payload::{Format, FUTURE_SKEW_MS};
use crate::spec::check_payload;
use crate::spec::MAX_BATCH;
use crate::vehicle::Region;

const NOW: i64 = 1_750_000_000_000;

pub(crate) fn config(format: Format, faults: Faults) -> SimConfig {
    SimConfig {
        vehicles: 20,
        region: Region::BERLIN,
        seed: 7,
        gps_period_ms: Some(1000),
        obd_period_ms: Some(5000),
        format,
        batch: 10,
        batch_linger_ms: 0,
        faults,
        prefix: "fleet".into(),
        id_prefix: "veh-".into(),
    }
}

struct Run {
    messages: Vec<Message>,
    manifest: Vec<VehicleExpect>,
    counters: Arc<GenCounters>,
}

const T0: i64 = NOW - 3_600_000;

/// Runs `shards` shards for `readings_per_shard` readings each, or until the next reading
/// would be stamped after `until`.
fn run(cfg: &SimConfig, shards: u32, readings_per_shard: usize, until: i64) -> Run {
    let counters = Arc::new(GenCounters::default());
    let mut messages = Vec::new();
    let mut manifest = Vec::new();
    for c in 0..shards {
        let mut shard = Shard::new(
            cfg,
            (0..cfg.vehicles).filter(|v| v % shards == c),
            T0,
            counters.clone(),
            true,
        );
        for _ in 0..readings_per_shard {
            if shard.peek_ts().unwrap() > until {
                break;
            }
            assert!(shard.peek_ts().unwrap() <= NOW);
            shard.step(NOW, &mut messages);
        }
        shard.finish(NOW, &mut messages);
        manifest.extend(shard.take_manifest());
    }
    manifest.sort_by(|a, b| a.id.cmp(&b.id));
    Run {
        messages,
        manifest,
        counters,
    }
}

fn run_shards(cfg: &SimConfig, shards: u32, readings_per_shard: usize) -> Run {
    run(cfg, shards, readings_per_shard, NOW)
}

fn per_vehicle(messages: &[Message]) -> BTreeMap<(u32, Kind), Vec<Vec<u8>>> {
    let mut m: BTreeMap<(u32, Kind), Vec<Vec<u8>>> = BTreeMap::new();
    for msg in messages.iter().filter(|m| !m.duplicate) {
        m.entry((msg.vehicle, msg.kind))
            .or_default()
            .push(msg.payload.clone());
    }
    m
}

#[test]
fn same_seed_same_readings_and_another_seed_differs() {
    let cfg = config(
        Format::Json,
        Faults {
            malformed: 2.0,
            out_of_order: 3.0,
            offline: 2.0,
            ..Faults::default()
        },
    );
    let a = run_shards(&cfg, 1, 3_000);
    let b = run_shards(&cfg, 1, 3_000);
    assert_eq!(a.messages, b.messages);
    let c = run_shards(&SimConfig { seed: 8, ..cfg }, 1, 3_000);
    assert_ne!(a.messages, c.messages);
}

#[test]
fn a_vehicle_reports_the_same_whatever_the_number_of_connections() {
    for format in Format::ALL {
        let cfg = config(
            format,
            Faults {
                duplicate: 5.0,
                out_of_range: 5.0,
                ..Faults::default()
            },
        );
        let until = T0 + 300_000;
        let one = per_vehicle(&run(&cfg, 1, usize::MAX, until).messages);
        let four = per_vehicle(&run(&cfg, 4, usize::MAX, until).messages);
        assert_eq!(one.len(), 40);
        assert_eq!(one, four, "{format:?}");
    }
}

#[test]
fn good_readings_are_valid_on_their_grid_and_in_order() {
    for format in Format::ALL {
        let run = run_shards(&config(format, Faults::default()), 2, 2_000);
        let mut last: BTreeMap<(u32, Kind), i64> = BTreeMap::new();
        let mut total = 0;
        for m in &run.messages {
            let readings = check_payload(m.kind, &m.payload).unwrap();
            assert_eq!(readings.len() as u32, m.readings);
            assert!(format == Format::Json && m.readings == 1 || m.readings as usize <= 10);
            for r in readings {
                let ts = r.unwrap().ts_ms();
                let prev = last.insert((m.vehicle, m.kind), ts);
                let period = if m.kind == Kind::Gps { 1000 } else { 5000 };
                assert!(prev.is_none_or(|p| ts == p + period), "{format:?} {m:?}");
                assert!(ts <= NOW);
                total += 1;
            }
        }
        assert_eq!(total, 4_000, "{format:?}");
        let s = run.counters.snapshot();
        assert_eq!(s.total_readings(), 4_000);
        assert_eq!(s.expected.iter().sum::<u64>(), 4_000);
        assert_eq!(
            s.by_format[0][format.index()] + s.by_format[1][format.index()],
            4_000
        );
        // One OBD reading per five GPS readings.
        assert!(
            (s.readings[0] as f64 / s.readings[1] as f64 - 5.0).abs() < 0.1,
            "{s:?}"
        );
    }
}

fn only(fault: fn(f64) -> Faults, format: Format) -> Run {
    run_shards(&config(format, fault(100.0)), 1, 500)
}

#[test]
fn each_fault_produces_what_it_claims() {
    for format in Format::ALL {
        let run = only(
            |p| Faults {
                malformed: p,
                ..Faults::default()
            },
            format,
        );
        assert!(run
            .messages
            .iter()
            .all(|m| check_payload(m.kind, &m.payload).is_err()));
        assert_eq!(run.counters.snapshot().faults[0], 500);

        let run = only(
            |p| Faults {
                out_of_range: p,
                ..Faults::default()
            },
            format,
        );
        for m in &run.messages {
            assert!(
                check_payload(m.kind, &m.payload)
                    .unwrap()
                    .iter()
                    .all(Result::is_err),
                "{format:?}"
            );
        }

        let run = only(
            |p| Faults {
                future_skew: p,
                ..Faults::default()
            },
            format,
        );
        for m in &run.messages {
            for r in check_payload(m.kind, &m.payload).unwrap() {
                assert_eq!(r.unwrap().ts_ms(), NOW + FUTURE_SKEW_MS);
            }
        }

        let run = only(
            |p| Faults {
                duplicate: p,
                ..Faults::default()
            },
            format,
        );
        let mut seen: BTreeMap<&[u8], u32> = BTreeMap::new();
        for m in &run.messages {
            *seen.entry(&m.payload).or_default() += 1;
            assert_eq!(m.readings, 1);
        }
        assert_eq!(seen.len(), 500);
        assert!(seen.values().all(|&n| n == 2));
        assert_eq!(run.counters.snapshot().duplicates_sent, 500);
    }
}

#[test]
fn out_of_order_readings_follow_their_successor() {
    let run = run_shards(
        &config(
            Format::Json,
            Faults {
                out_of_order: 30.0,
                ..Faults::default()
            },
        ),
        1,
        2_000,
    );
    let mut last: BTreeMap<(u32, Kind), i64> = BTreeMap::new();
    let mut backwards = 0;
    for m in &run.messages {
        let ts = check_payload(m.kind, &m.payload).unwrap()[0]
            .clone()
            .unwrap()
            .ts_ms();
        if let Some(prev) = last.insert((m.vehicle, m.kind), ts) {
            let period = if m.kind == Kind::Gps { 1000 } else { 5000 };
            if ts < prev {
                assert_eq!(ts, prev - period, "swapped with its direct successor");
                backwards += 1;
            }
        }
    }
    let counted = run.counters.snapshot().faults[3];
    assert!(backwards > 300, "{backwards}");
    assert_eq!(backwards, counted);
}

#[test]
fn offline_vehicles_flush_one_json_batch_per_kind() {
    let run = run_shards(
        &config(
            Format::Binary,
            Faults {
                offline: 40.0,
                ..Faults::default()
            },
        ),
        1,
        20_000,
    );
    let s = run.counters.snapshot();
    let share = s.faults[5] as f64 / s.total_readings() as f64;
    assert!((0.3..0.5).contains(&share), "offline share {share}");
    let arrays: Vec<&Message> = run
        .messages
        .iter()
        .filter(|m| m.payload[0] == b'[')
        .collect();
    assert!(!arrays.is_empty());
    let in_arrays: u32 = arrays.iter().map(|m| m.readings).sum();
    assert_eq!(u64::from(in_arrays), s.faults[5]);
    for m in arrays {
        assert!(m.readings as usize <= MAX_BATCH);
        assert!(check_payload(m.kind, &m.payload)
            .unwrap()
            .iter()
            .all(Result::is_ok));
    }
}

#[test]
fn linger_flushes_partial_batches() {
    let mut cfg = config(Format::JsonBatch, Faults::default());
    cfg.batch = 1000;
    cfg.batch_linger_ms = 5_000;
    let counters = Arc::new(GenCounters::default());
    let mut shard = Shard::new(&cfg, 0..20, NOW, counters, false);
    let mut out = Vec::new();
    // Real time: the wall clock follows the readings' ts.
    while out.is_empty() {
        let ts = shard.peek_ts().unwrap();
        shard.step(ts, &mut out);
    }
    let first = check_payload(out[0].kind, &out[0].payload).unwrap();
    assert!((5..=7).contains(&first.len()), "{}", first.len());
}

#[test]
fn the_manifest_is_exactly_the_good_readings_published() {
    let faults = Faults {
        malformed: 3.0,
        out_of_range: 3.0,
        duplicate: 3.0,
        out_of_order: 3.0,
        future_skew: 3.0,
        offline: 5.0,
    };
    for format in Format::ALL {
        let run = run_shards(&config(format, faults), 3, 3_000);
        // What a correct daemon would store: valid, in window, once.
        let mut stored: BTreeMap<(String, Kind), BTreeSet<i64>> = BTreeMap::new();
        let mut sums: BTreeMap<(String, Kind), u64> = BTreeMap::new();
        for m in &run.messages {
            let Ok(readings) = check_payload(m.kind, &m.payload) else {
                continue;
            };
            let id = payload::vehicle_id("veh-", 6, m.vehicle);
            for r in readings.into_iter().flatten() {
                if !crate::spec::in_window(r.ts_ms(), NOW, 30 * 86_400_000) {
                    continue;
                }
                if stored
                    .entry((id.clone(), m.kind))
                    .or_default()
                    .insert(r.ts_ms())
                {
                    let d = r.digest();
                    let s = sums.entry((id.clone(), m.kind)).or_default();
                    *s = s.wrapping_add(d);
                }
            }
        }
        let mut expected: BTreeMap<(String, Kind), BTreeSet<i64>> = BTreeMap::new();
        for v in &run.manifest {
            for (kind, set) in [(Kind::Gps, &v.gps), (Kind::Obd, &v.obd)] {
                let Some(set) = set.as_ref().filter(|s| !s.is_empty()) else {
                    continue;
                };
                expected.insert((v.id.clone(), kind), set.iter().collect());
                assert_eq!(
                    sums.get(&(v.id.clone(), kind)),
                    Some(&set.sum),
                    "{format:?} {} {kind:?}",
                    v.id
                );
            }
        }
        assert_eq!(stored, expected, "{format:?}");
        let s = run.counters.snapshot();
        assert_eq!(
            s.expected.iter().sum::<u64>(),
            expected.values().map(|s| s.len() as u64).sum::<u64>()
        );
        assert!(
            s.faults.iter().all(|&n| n > 0),
            "{format:?} every fault happened: {s:?}"
        );
        let per_vehicle: u64 = run
            .manifest
            .iter()
            .map(|v| v.faults.iter().sum::<u64>())
            .sum();
        assert_eq!(per_vehicle, s.faults.iter().sum::<u64>());
    }
}

#[test]
fn forgotten_payloads_leave_the_manifest() {
    let faults = Faults {
        future_skew: 5.0,
        out_of_range: 5.0,
        duplicate: 5.0,
        ..Faults::default()
    };
    let cfg = config(Format::JsonBatch, faults);
    let counters = Arc::new(GenCounters::default());
    let mut shard = Shard::new(&cfg, 0..cfg.vehicles, T0, counters.clone(), true);
    let mut messages = Vec::new();
    for _ in 0..3_000 {
        shard.step(NOW, &mut messages);
    }
    shard.finish(NOW, &mut messages);
    // The generator abandons everything from some point on.
    let (mut kept, mut stored) = (Vec::new(), BTreeMap::new());
    let cut = messages.len() / 2;
    for (i, m) in messages.into_iter().enumerate() {
        if i < cut {
            kept.push(m);
        } else if !m.duplicate {
            shard.forget(&m, NOW);
        }
    }
    for m in &kept {
        for r in check_payload(m.kind, &m.payload)
            .unwrap()
            .into_iter()
            .flatten()
        {
            if crate::spec::in_window(r.ts_ms(), NOW, 30 * 86_400_000) {
                let e: &mut (BTreeSet<i64>, u64) = stored.entry((m.vehicle, m.kind)).or_default();
                if e.0.insert(r.ts_ms()) {
                    e.1 = e.1.wrapping_add(r.digest());
                }
            }
        }
    }
    let manifest = shard.take_manifest();
    let mut total = 0;
    for (i, v) in manifest.iter().enumerate() {
        for (kind, set) in [(Kind::Gps, &v.gps), (Kind::Obd, &v.obd)] {
            let set = set.as_ref().unwrap();
            let want = stored.get(&(i as u32, kind)).cloned().unwrap_or_default();
            assert_eq!(set.iter().collect::<BTreeSet<_>>(), want.0);
            assert_eq!(set.sum, want.1);
            total += set.len();
        }
    }
    assert_eq!(counters.snapshot().expected.iter().sum::<u64>(), total);
}
