//! `trips_compare` against fleetd's own segmenter, offline: simulated vehicles (shards with
//! their truth recorded) → their GPS readings → `fleetd::trips::batch::segment` (what fleetd
//! stores, docs/trips.md: "always equal to a recomputation") → `compare`. The result must
//! pass, and every kind of tampering with the stored rows must fail it.

use std::collections::HashMap;
use std::sync::Arc;

use fleetd::trips::machine::Kind as SegKind;
use fleetd::trips::{batch, Fix, Params};

use std::path::PathBuf;

use super::*;
use crate::config::{Faults, SimConfig};
use crate::payload::{Format, Kind};
use crate::shard::Shard;
use crate::spec::{check_payload, Checked};
use crate::stats::GenCounters;
use crate::trips_report::TripsReport;
use crate::truth::{Truth, TruthHeader, TRUTH_VERSION};
use crate::vehicle::{Region, ACCEL_MS2};
use crate::verify_trips::TripsVerifyConfig;

const T0: i64 = 1_750_000_000_000;

fn defaults(truth: PathBuf) -> TripsVerifyConfig {
    TripsVerifyConfig {
        truth,
        database_url: String::new(),
        examples: 10,
        min_speed_kmh: 5.0,
        min_stop_s: 300,
        min_trip_m: 500.0,
        min_trip_s: 300,
        jitter_m: 30.0,
        margin_ms: None,
        tolerance_ms: None,
        distance_pct: 1.0,
    }
}

/// `vehicles` vehicles for `hours` simulated hours: the truth, and what fleetd derives from
/// their readings.
fn simulate(vehicles: u32, hours: i64, seed: u64) -> (Truth, HashMap<String, Stored>) {
    let cfg = SimConfig {
        vehicles,
        region: Region::BERLIN,
        seed,
        gps_period_ms: Some(1000),
        obd_period_ms: Some(5000),
        format: Format::Json,
        batch: 1,
        batch_linger_ms: 0,
        faults: Faults::default(),
        prefix: "fleet".into(),
        id_prefix: "veh-".into(),
    };
    let end = T0 + hours * 3_600_000;
    let counters = Arc::new(GenCounters::default());
    let mut shard = Shard::new(&cfg, 0..vehicles, T0, counters, false).with_truth();
    let (mut out, mut fixes) = (Vec::new(), HashMap::<u32, Vec<Fix>>::new());
    while shard.peek_ts().is_some_and(|ts| ts <= end) {
        shard.step(end, &mut out);
        for m in out.drain(..).filter(|m| m.kind == Kind::Gps) {
            for r in check_payload(m.kind, &m.payload).unwrap() {
                let Ok(Checked::Gps(g)) = r else {
                    panic!("{r:?}")
                };
                fixes.entry(m.vehicle).or_default().push(Fix {
                    ts_us: g.ts_ms * 1000,
                    lat: g.lat,
                    lon: g.lon,
                    speed_kmh: g.speed_kmh.map(|v| v as f32),
                    ignition: None,
                });
            }
        }
    }
    let header = TruthHeader {
        fleet_sim_truth: TRUTH_VERSION,
        seed,
        id_prefix: "veh-".into(),
        vehicles,
        gps_period_ms: Some(1000),
        obd_period_ms: Some(5000),
        accel_ms2: ACCEL_MS2,
        t0_ms: T0,
        end_ms: end,
    };
    let truth = Truth {
        header,
        vehicles: shard.take_truth(),
    };
    let mut stored = HashMap::new();
    for (v, mut f) in fixes {
        f.sort_by_key(|f| f.ts_us);
        let mut s = Stored::default();
        for seg in batch::segment(&Params::default(), &f, end * 1000) {
            let (start, end) = (seg.start.ts_us / 1000, seg.end.ts_us / 1000);
            match seg.kind {
                SegKind::Trip => s.trips.push(StoredTrip {
                    start,
                    end,
                    distance_m: seg.stats.unwrap().distance_m,
                }),
                SegKind::Stop => s.stops.push(StoredStop {
                    start,
                    end,
                    lat: seg.start.lat,
                    lon: seg.start.lon,
                }),
            }
        }
        stored.insert(format!("veh-{:06}", v + 1), s);
    }
    (truth, stored)
}

/// The comparison with the default rules and tolerances (distance within 1 %).
fn check(truth: &Truth, stored: &HashMap<String, Stored>) -> TripsReport {
    compare(truth, stored, &defaults(PathBuf::new()).options(truth))
}

#[test]
fn fleetds_segmentation_of_simulated_drives_matches_the_truth() {
    let (truth, stored) = simulate(4, 4, 11);
    let r = check(&truth, &stored);
    assert!(r.ok, "{}", r.text());
    assert_eq!(r.vehicles, 4);
    assert!(
        r.expected.trips >= 12 && r.expected.stops >= 8,
        "{}",
        r.text()
    );
    assert_eq!(r.matched, r.expected);
    assert!(
        r.long_dwells_required > 0 && r.dwells.short > 0,
        "{}",
        r.text()
    );
    assert!(
        r.max_error.trip_start_s > 0.0,
        "a start is seen late: {}",
        r.text()
    );
    assert!(r.text().ends_with("OK\n"));
    assert_eq!(r.off_distance, 0, "{}", r.text());
    assert!(r.max_error.distance_pct < 1.0, "{}", r.text());
}

/// A vehicle with a required stop and a trip after it, with its rows.
fn sample() -> (Truth, HashMap<String, Stored>, String) {
    let (truth, stored) = simulate(3, 4, 12);
    assert!(check(&truth, &stored).ok);
    // Stops 0 to 2 and trips 0 to 3 are then settled: later ones exist.
    let id = stored
        .iter()
        .filter(|(_, s)| s.stops.len() >= 3 && s.trips.len() >= 4)
        .map(|(id, _)| id.clone())
        .min()
        .expect("a vehicle with stops");
    (truth, stored, id)
}

#[test]
fn a_missing_stop_fails() {
    let (truth, mut stored, id) = sample();
    let s = stored.get_mut(&id).unwrap();
    s.stops.remove(1);
    let r = check(&truth, &stored);
    assert!(!r.ok);
    assert_eq!(
        (r.missing.stops, r.unexpected.stops),
        (1, 0),
        "{}",
        r.text()
    );
    assert!(r.long_dwells_in_a_stop < r.long_dwells_required);
    assert!(
        r.text().contains(&format!("missing stop: {id}")),
        "{}",
        r.text()
    );
    assert!(r.text().ends_with("MISMATCH\n"));
}

#[test]
fn late_ends_wrong_distances_and_merged_trips_fail() {
    let (truth, stored, id) = sample();
    let mut late = stored.clone();
    late.get_mut(&id).unwrap().trips[1].end += 1_500;
    let r = check(&truth, &late);
    assert_eq!((r.ok, r.off_time.trips), (false, 1), "{}", r.text());

    let mut long = stored.clone();
    long.get_mut(&id).unwrap().trips[1].distance_m *= 1.02;
    let r = check(&truth, &long);
    assert_eq!((r.ok, r.off_distance), (false, 1), "{}", r.text());

    let mut merged = stored.clone();
    let s = merged.get_mut(&id).unwrap();
    let second = s.trips.remove(2);
    s.trips[1].end = second.end;
    s.trips[1].distance_m += second.distance_m;
    s.stops.retain(|st| st.end != second.start);
    let r = check(&truth, &merged);
    assert!(!r.ok, "{}", r.text());
    assert_eq!(
        (r.missing.trips, r.off_time.trips, r.missing.stops),
        (1, 1, 1),
        "{}",
        r.text()
    );

    let mut moved = stored.clone();
    moved.get_mut(&id).unwrap().stops[0].lat += 0.001;
    let r = check(&truth, &moved);
    assert_eq!((r.ok, r.off_position), (false, 1), "{}", r.text());
}

#[test]
fn a_stop_at_a_short_dwell_and_strangers_fail() {
    let (truth, mut stored, id) = sample();
    let vt = truth.vehicles.iter().find(|v| v.v == id).unwrap();
    let short = vt
        .dwells
        .iter()
        .skip(1)
        .find(|d| d.to.is_some_and(|to| to - d.from < 60_000))
        .unwrap();
    let s = stored.get_mut(&id).unwrap();
    s.stops.push(StoredStop {
        start: short.from,
        end: short.to.unwrap(),
        lat: short.lat,
        lon: short.lon,
    });
    s.stops.sort_by_key(|s| s.start);
    let r = check(&truth, &stored);
    assert!(!r.ok);
    assert_eq!(
        (r.unexpected.stops, r.short_dwells_starting_a_stop),
        (1, 1),
        "{}",
        r.text()
    );

    let (truth, mut stored, _) = sample();
    stored.insert("veh-000099".into(), Stored::default());
    assert!(
        check(&truth, &stored).ok,
        "a stranger without rows is harmless"
    );
    stored
        .get_mut("veh-000099")
        .unwrap()
        .trips
        .push(StoredTrip {
            start: T0,
            end: T0 + 60_000,
            distance_m: 1_000.0,
        });
    let r = check(&truth, &stored);
    assert_eq!((r.ok, r.unexpected.trips), (false, 1), "{}", r.text());
}

#[test]
fn the_leeway_follows_the_interval_and_flags() {
    let (truth, _) = simulate(1, 1, 3);
    let mut cfg = defaults(PathBuf::new());
    let o = cfg.options(&truth);
    assert_eq!((o.tolerance_ms, o.rules.margin_ms), (1_000, 2_000));
    assert_eq!(o.rules.ramp_ms, 772, "5 km/h at 1.8 m/s²");
    cfg.margin_ms = Some(10_000);
    cfg.tolerance_ms = Some(250);
    let o = cfg.options(&truth);
    assert_eq!((o.tolerance_ms, o.rules.margin_ms), (250, 10_000));
}
