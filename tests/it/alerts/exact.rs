//! The reading-driven rules across two daemons sharing the subscription, readings shuffled,
//! replayed and late, over two rounds: the alerts stored (opened, last seen, count, resolved)
//! equal a sequential run of each rule's condition ([`fleetd::alerts::readings`], itself
//! checked against a brute-force recomputation) over each vehicle's stored readings in
//! timestamp order, the late ones left out, with the alerts' rules applied by hand.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use fleetd::alerts::readings::{Condition, Sample, State, Verdict};
use serde_json::{json, Value};

use crate::common::dispatch::seed_fleet;
use crate::common::pass::{Pair, Rng};
use crate::common::{wait_count, Publisher};

const S: i64 = 1_000_000;
const VEHICLES: usize = 4;
const CODES: [&str; 4] = ["P0300", "P0171", "C1234", "U0100"];

/// One reading: vehicle, ts (µs), and its JSON as published.
#[derive(Clone)]
struct Reading {
    vehicle: usize,
    ts: i64,
    gps: bool,
    body: Value,
}

/// Per vehicle, a reading a second of each stream from `from` for `secs`: the engine turning
/// on and off, the coolant and the speed wandering over their thresholds, fuel falling faster
/// while parked, trouble codes now and then.
fn drive(rng: &mut Rng, from: i64, secs: i64, offset_us: i64) -> Vec<Reading> {
    let mut out = Vec::new();
    for v in 0..VEHICLES {
        let (mut on, mut coolant, mut fuel, mut speed) = (rng.next() < 0.5, 100.0, 40.0, 60.0);
        for k in 0..secs {
            let ts = from + k * S + offset_us;
            if rng.next() < 0.1 {
                on = !on;
            }
            coolant = f64::clamp(coolant + (rng.next() - 0.45) * 6.0, 80.0, 130.0);
            fuel = f64::max(0.0, fuel - if on { 0.2 } else { rng.next() * 2.0 });
            if rng.next() < 0.03 {
                fuel = 60.0; // refuelled
            }
            speed = f64::clamp(speed + (rng.next() - 0.5) * 30.0, 0.0, 130.0);
            let mut obd = json!({"ts": ts / 1_000, "rpm": if on { 1500 } else { 0 },
                                 "coolant_c": (coolant * 10.0f64).round() / 10.0,
                                 "fuel_pct": (fuel * 10.0f64).round() / 10.0});
            let roll = rng.next();
            if roll < 0.1 {
                let codes: Vec<&str> = CODES.iter().copied().filter(|_| rng.next() < 0.5).collect();
                obd["dtc"] = json!(codes);
            }
            out.push(Reading {
                vehicle: v,
                ts,
                gps: false,
                body: obd,
            });
            let gps = json!({"ts": ts / 1_000, "lat": 10.0 + v as f64, "lon": 20.0,
                             "speed_kmh": speed.round()});
            out.push(Reading {
                vehicle: v,
                ts,
                gps: true,
                body: gps,
            });
        }
    }
    out
}

async fn publish_shuffled(p: &Publisher, rng: &mut Rng, readings: &[Reading]) -> usize {
    let mut order: Vec<&Reading> = readings.iter().collect();
    rng.shuffle(&mut order);
    let mut messages = Vec::new();
    for chunk in order.chunks(5) {
        for r in chunk {
            let stream = if r.gps { "gps" } else { "obd" };
            let topic = format!("fleet/ax-{}/{stream}", r.vehicle);
            messages.push((topic, serde_json::to_vec(&[&r.body]).unwrap()));
        }
    }
    for (topic, body) in &messages {
        p.publish(topic, body.clone()).await;
    }
    messages.len()
}

/// The rules: (kind, params, clear_s).
fn rules() -> Vec<(&'static str, Value, i64)> {
    vec![
        (
            "overheat",
            json!({"coolant_c": 110, "min_duration_s": 5}),
            10,
        ),
        ("low_fuel", json!({"below_pct": 30}), 0),
        ("fuel_drop", json!({"drop_pct": 5, "within_s": 60}), 20),
        ("dtc", json!({"families": ["P", "U"]}), 5),
        ("speeding", json!({"limit_kmh": 90, "min_duration_s": 3}), 5),
    ]
}

/// An alert as compared: opened, last seen, count, resolved (µs).
type Alert = (i64, i64, i32, Option<i64>);

/// The reference: each rule's condition over each vehicle's sorted stored samples (the late
/// ones left out), the verdicts applied to alerts by the store's rules.
fn reference(
    stored: &BTreeMap<String, Vec<Sample>>,
    late: &BTreeSet<(String, i64, bool)>,
    rules: &[(String, Condition, i64)],
) -> BTreeMap<(String, String), Vec<Alert>> {
    let mut out: BTreeMap<(String, String), Vec<Alert>> = BTreeMap::new();
    for (kind, condition, clear_s) in rules {
        for (v, samples) in stored {
            let mut state = State::default();
            let mut alerts: Vec<Alert> = Vec::new();
            let mut open: Option<Alert> = None;
            for s in samples {
                let gps = matches!(s, Sample::Gps { .. });
                if late.contains(&(v.clone(), s.ts(), gps)) {
                    continue;
                }
                match condition.step(&mut state, s) {
                    Verdict::Raise(_) => match open.as_mut() {
                        Some(a) => {
                            a.1 = a.1.max(s.ts());
                            a.2 += 1;
                        }
                        None => open = Some((s.ts(), s.ts(), 1, None)),
                    },
                    Verdict::Clear => {
                        if let Some(mut a) = open.filter(|a| s.ts() - a.1 >= clear_s * S) {
                            a.3 = Some(s.ts());
                            alerts.push(a);
                            open = None;
                        }
                    }
                    Verdict::Quiet => {}
                }
            }
            alerts.extend(open);
            if !alerts.is_empty() {
                out.insert((kind.clone(), v.clone()), alerts);
            }
        }
    }
    out
}

/// Each vehicle's stored readings as samples, GPS and OBD merged in time order.
async fn samples(db: &tokio_postgres::Client) -> BTreeMap<String, Vec<Sample>> {
    let mut out: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    let gps = db
        .query(
            "SELECT vehicle_id, ts, speed_kmh::float8 FROM gps_readings",
            &[],
        )
        .await
        .unwrap();
    for r in &gps {
        let ts: DateTime<Utc> = r.get(1);
        out.entry(r.get(0)).or_default().push(Sample::Gps {
            ts: ts.timestamp_micros(),
            speed_kmh: r.get(2),
            limit_kmh: Some(90.0),
        });
    }
    let obd = db
        .query(
            "SELECT vehicle_id, ts, rpm::float8, speed_kmh::float8, coolant_c::float8,
                    fuel_pct::float8, dtc FROM obd_readings",
            &[],
        )
        .await
        .unwrap();
    for r in &obd {
        let ts: DateTime<Utc> = r.get(1);
        out.entry(r.get(0)).or_default().push(Sample::Obd {
            ts: ts.timestamp_micros(),
            rpm: r.get(2),
            speed_kmh: r.get(3),
            coolant_c: r.get(4),
            fuel_pct: r.get(5),
            dtc: r.get(6),
        });
    }
    for s in out.values_mut() {
        s.sort_by_key(|s| (s.ts(), matches!(s, Sample::Obd { .. })));
    }
    out
}

async fn stored(db: &tokio_postgres::Client) -> BTreeMap<(String, String), Vec<Alert>> {
    let rows = db
        .query(
            "SELECT kind, subject_id, opened_at, last_seen_at, count, resolved_at FROM alerts
              ORDER BY kind, subject_id, opened_at",
            &[],
        )
        .await
        .unwrap();
    let mut out: BTreeMap<(String, String), Vec<Alert>> = BTreeMap::new();
    let us = |t: DateTime<Utc>| t.timestamp_micros();
    for r in &rows {
        let resolved: Option<DateTime<Utc>> = r.get(5);
        out.entry((r.get(0), r.get(1))).or_default().push((
            us(r.get(2)),
            us(r.get(3)),
            r.get(4),
            resolved.map(us),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_shuffled_replayed_and_late_readings_equal_a_sequential_run() {
    shuffled_replayed_and_late_readings_equal_a_sequential_run(Pair::start().await).await
}

/// The same with three daemons sharing a NATS JetStream consumer (issue 18).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_jetstream_nodes_shuffled_replayed_and_late_readings_equal_a_sequential_run() {
    shuffled_replayed_and_late_readings_equal_a_sequential_run(Pair::start_jetstream().await).await
}

async fn shuffled_replayed_and_late_readings_equal_a_sequential_run(pair: Pair) {
    let client = pair.db.client().await;
    seed_fleet(&client, "ax", VEHICLES as i32, None).await;
    let mut conditions = Vec::new();
    for (kind, params, clear_s) in rules() {
        let body = json!({"name": kind, "kind": kind, "params": params, "clear_s": clear_s});
        let r = pair.admin.post("/v1/alert-rules", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let rule = super::load(&client, r.json()["id"].as_str().unwrap()).await;
        conditions.push((
            kind.to_string(),
            Condition::of(&rule.params).unwrap(),
            clear_s,
        ));
    }

    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let publisher = pair.publisher().await;
    let t0_us = pair.t0.timestamp_micros();
    let first = drive(&mut rng, t0_us + S, 90, 0);
    let mut sent = publish_shuffled(&publisher, &mut rng, &first).await;
    publisher.wait_acked(sent).await;
    let rows = "SELECT (SELECT count(*) FROM gps_readings) + (SELECT count(*) FROM obd_readings)";
    wait_count(&client, rows, first.len() as i64).await;
    // Up to round 1's last reading (t0 + 90 s), not to round 2's first (t0 + 91 s): round 2
    // then waits for the next move, whatever order it arrives in.
    pair.run(chrono::Duration::seconds(90)).await;

    // Round 2: the next 90 s, a fifth of round 1 again, and late readings between round 1's.
    let mut second = drive(&mut rng, t0_us + 91 * S, 90, 0);
    second.extend(first.iter().filter(|_| rng.next() < 0.2).cloned());
    let late: Vec<Reading> = drive(&mut rng, t0_us + S, 89, S / 2)
        .into_iter()
        .filter(|_| rng.next() < 0.1)
        .collect();
    second.extend(late.iter().cloned());
    sent += publish_shuffled(&publisher, &mut rng, &second).await;
    publisher.wait_acked(sent).await;
    wait_count(&client, rows, (first.len() * 2 + late.len()) as i64).await;
    pair.run(chrono::Duration::seconds(200)).await;

    let late: BTreeSet<(String, i64, bool)> = late
        .iter()
        .map(|r| (format!("ax-{}", r.vehicle), r.ts, r.gps))
        .collect();
    let want = reference(&samples(&client).await, &late, &conditions);
    let kinds: BTreeSet<&str> = want.keys().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.len(), 5, "every rule should raise: {kinds:?}");
    let resolved = want.values().flatten().filter(|a| a.3.is_some()).count();
    assert!(resolved > 10, "{resolved} resolved");
    let got = stored(&client).await;
    for (k, w) in &want {
        assert_eq!(got.get(k), Some(w), "{k:?}");
    }
    assert_eq!(got.len(), want.len(), "alerts where none should be");
    // Each opening and each resolution is an event, once.
    let opened: usize = want.values().map(Vec::len).sum();
    let q = "SELECT count(*) FROM events WHERE type = $1";
    for (kind, n) in [("alert.opened", opened), ("alert.resolved", resolved)] {
        let got: i64 = client.query_one(q, &[&kind]).await.unwrap().get(0);
        assert_eq!(got as usize, n, "{kind}");
    }
    pair.shutdown().await;
}
