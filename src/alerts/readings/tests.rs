//! Each condition, stepped reading by reading with its state persisted (a JSON round trip)
//! at random points, gives at every reading the verdict of a brute-force recomputation from
//! the readings up to it; and hand-made cases.

use proptest::prelude::*;
use serde_json::json;

use super::dtc::Filter;
use super::{rfc3339, Condition, Sample, State, Verdict, MICROS};

fn obd(ts: i64) -> Sample {
    Sample::Obd {
        ts: ts * MICROS,
        rpm: None,
        speed_kmh: None,
        coolant_c: None,
        fuel_pct: None,
        dtc: None,
    }
}

fn with(mut s: Sample, f: impl FnOnce(&mut Sample)) -> Sample {
    f(&mut s);
    s
}

fn run(c: &Condition, samples: &[Sample], persist: &[bool]) -> Vec<Verdict> {
    let mut state = State::default();
    let mut out = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        out.push(c.step(&mut state, s));
        if persist[i % persist.len()] {
            let json = serde_json::to_string(&state).unwrap();
            state = serde_json::from_str(&json).unwrap();
        }
    }
    out
}

#[test]
fn overheating_for_long_enough() {
    let c = Condition::Overheat {
        coolant_c: 110.0,
        min_duration_s: 60,
    };
    let hot = |ts, v| {
        with(obd(ts), |s| {
            if let Sample::Obd { coolant_c, .. } = s {
                *coolant_c = Some(v)
            }
        })
    };
    let got = run(
        &c,
        &[
            hot(0, 112.0),
            obd(30),
            hot(59, 115.0),
            hot(60, 111.0),
            hot(61, 90.0),
            hot(62, 120.0),
        ],
        &[false],
    );
    assert_eq!(
        got,
        [
            Verdict::Quiet,
            Verdict::Quiet,
            Verdict::Quiet,
            Verdict::Raise(json!({"coolant_c": 111.0, "threshold_c": 110.0,
                                  "since": rfc3339(0), "peak": 115.0})),
            Verdict::Clear,
            Verdict::Quiet,
        ]
    );
}

#[test]
fn speeding_needs_a_limit_and_old_readings_change_nothing() {
    let c = Condition::Speeding { min_duration_s: 0 };
    let gps = |ts: i64, v: f64, l: Option<f64>| Sample::Gps {
        ts: ts * MICROS,
        speed_kmh: Some(v),
        limit_kmh: l,
    };
    let mut st = State::default();
    // No limit where the vehicle is: not speeding.
    assert_eq!(c.step(&mut st, &gps(1, 80.0, None)), Verdict::Clear);
    assert!(matches!(
        c.step(&mut st, &gps(2, 80.0, Some(50.0))),
        Verdict::Raise(_)
    ));
    assert_eq!(c.step(&mut st, &gps(2, 10.0, Some(50.0))), Verdict::Quiet);
    assert_eq!(c.step(&mut st, &gps(1, 10.0, Some(50.0))), Verdict::Quiet);
    assert_eq!(c.step(&mut st, &gps(3, 50.0, Some(50.0))), Verdict::Clear);
    // OBD readings are not this condition's.
    assert_eq!(c.step(&mut st, &obd(4)), Verdict::Quiet);
}

#[test]
fn fuel_drop_while_parked_not_while_driving() {
    let c = Condition::FuelDrop {
        drop_pct: 10.0,
        within_s: 600,
    };
    let f = |ts, rpm: f64, fuel: f64| {
        with(obd(ts), |s| {
            if let Sample::Obd {
                rpm: r, fuel_pct, ..
            } = s
            {
                *r = Some(rpm);
                *fuel_pct = Some(fuel);
            }
        })
    };
    let got = run(
        &c,
        &[
            f(0, 2000.0, 80.0), // driving: no window
            f(10, 0.0, 60.0),   // parked at 60
            f(100, 0.0, 55.0),
            f(200, 0.0, 49.0), // 11 below 60 within 600 s
            f(900, 0.0, 45.0), // 60 and 55 are out of the window; 49 is not 10 above
            f(901, 1500.0, 30.0),
        ],
        &[false],
    );
    assert_eq!(got[0], Verdict::Clear);
    assert_eq!(got[1], Verdict::Clear);
    assert_eq!(got[2], Verdict::Clear);
    assert_eq!(
        got[3],
        Verdict::Raise(
            json!({"from_pct": 60.0, "to_pct": 49.0, "from_ts": rfc3339(10 * MICROS),
                              "drop_pct": 10.0})
        )
    );
    assert_eq!(got[4], Verdict::Clear);
    assert_eq!(got[5], Verdict::Clear);
}

#[test]
fn trouble_codes_new_and_present() {
    let filter = Filter {
        families: ['P'].into(),
        codes: Default::default(),
    };
    let c = Condition::Dtc(filter);
    let d = |ts, codes: &[&str]| {
        with(obd(ts), |s| {
            if let Sample::Obd { dtc, .. } = s {
                *dtc = Some(codes.iter().map(|c| c.to_string()).collect())
            }
        })
    };
    let got = run(
        &c,
        &[
            d(1, &["P0300", "B1000"]),
            obd(2),
            d(3, &["P0300", "P0171"]),
            d(4, &["U0100"]),
        ],
        &[true],
    );
    let code = |c: &str, f: &str| json!({"code": c, "family": f});
    assert_eq!(
        got,
        [
            Verdict::Raise(json!({"codes": [code("P0300", "powertrain")],
                                  "new": [code("P0300", "powertrain")]})),
            Verdict::Quiet,
            Verdict::Raise(
                json!({"codes": [code("P0171", "powertrain"), code("P0300", "powertrain")],
                                  "new": [code("P0171", "powertrain")]})
            ),
            Verdict::Clear,
        ]
    );
}

/// The reference for one reading `i` of `samples` (sorted, distinct `ts`).
fn brute(c: &Condition, samples: &[Sample], i: usize) -> Verdict {
    let obd_field = |s: &Sample, f: &dyn Fn(&Sample) -> Option<f64>| f(s);
    let coolant = |s: &Sample| match s {
        Sample::Obd { coolant_c, .. } => *coolant_c,
        _ => None,
    };
    let fuel = |s: &Sample| match s {
        Sample::Obd { fuel_pct, .. } => *fuel_pct,
        _ => None,
    };
    let parked = |s: &Sample| match s {
        Sample::Obd { rpm, speed_kmh, .. } => super::fuel::is_parked(*rpm, *speed_kmh),
        _ => None,
    };
    let ts = |k: usize| samples[k].ts();
    match c {
        Condition::Overheat {
            coolant_c,
            min_duration_s,
        } => {
            let Some(v) = obd_field(&samples[i], &coolant) else {
                return Verdict::Quiet;
            };
            if v < *coolant_c {
                return Verdict::Clear;
            }
            // The run: back over readings with a value, while they are hot.
            let mut start = i;
            let mut peak = v;
            for k in (0..i).rev() {
                match coolant(&samples[k]) {
                    None => continue,
                    Some(x) if x >= *coolant_c => {
                        start = k;
                        peak = peak.max(x);
                    }
                    Some(_) => break,
                }
            }
            if ts(i) - ts(start) < i64::from(*min_duration_s) * MICROS {
                return Verdict::Quiet;
            }
            Verdict::Raise(json!({"coolant_c": v, "threshold_c": coolant_c,
                                  "since": rfc3339(ts(start)), "peak": peak}))
        }
        Condition::FuelDrop { drop_pct, within_s } => {
            match parked(&samples[i]) {
                None => return Verdict::Quiet,
                Some(false) => return Verdict::Clear,
                Some(true) => {}
            }
            let Some(f) = fuel(&samples[i]) else {
                return Verdict::Quiet;
            };
            // Parked readings with a level since the last reading that was not parked.
            let mut best: Option<(i64, f64)> = None;
            for k in (0..i).rev() {
                match parked(&samples[k]) {
                    Some(false) => break,
                    None => continue,
                    Some(true) => {}
                }
                if ts(k) < ts(i) - i64::from(*within_s) * MICROS {
                    break;
                }
                if let Some(x) = fuel(&samples[k]) {
                    if best.is_none_or(|(_, b)| x > b) {
                        best = Some((ts(k), x));
                    }
                }
            }
            match best {
                Some((from_ts, from)) if from - f >= *drop_pct => Verdict::Raise(json!({
                    "from_pct": from, "to_pct": f, "from_ts": rfc3339(from_ts),
                    "drop_pct": drop_pct})),
                _ => Verdict::Clear,
            }
        }
        _ => unreachable!(),
    }
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    let one = (
        1i64..30,
        prop::option::of(prop::sample::select(vec![0.0, 800.0])),
        prop::option::of(prop::sample::select(vec![0.0, 20.0])),
        prop::option::of(80.0..130.0f64),
        prop::option::of(0.0..100.0f64),
    );
    prop::collection::vec(one, 1..60).prop_map(|v| {
        let mut ts = 0;
        v.into_iter()
            .map(|(gap, rpm, speed, coolant, fuel)| {
                ts += gap;
                Sample::Obd {
                    ts: ts * MICROS,
                    rpm,
                    speed_kmh: speed,
                    coolant_c: coolant,
                    fuel_pct: fuel,
                    dtc: None,
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn overheat_equals_brute_force(
        samples in samples(),
        threshold in 90.0..120.0f64,
        min in 0u32..60,
        persist in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let c = Condition::Overheat { coolant_c: threshold, min_duration_s: min };
        let got = run(&c, &samples, &persist);
        let want: Vec<Verdict> = (0..samples.len()).map(|i| brute(&c, &samples, i)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn fuel_drop_equals_brute_force(
        samples in samples(),
        drop in 1.0..40.0f64,
        within in 10u32..300,
        persist in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let c = Condition::FuelDrop { drop_pct: drop, within_s: within };
        let got = run(&c, &samples, &persist);
        let want: Vec<Verdict> = (0..samples.len()).map(|i| brute(&c, &samples, i)).collect();
        prop_assert_eq!(got, want);
    }
}
