//! The engine on the stream: readings published over MQTT to two daemons sharing the
//! subscription, shuffled, replayed and late, raise exactly the events (and leave exactly the
//! memberships) of a brute-force replay of each vehicle's stored readings in timestamp order
//! against every fence.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use fleetd::geofences::{Fence, Point, Selector, Shape};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::api::Client;
use crate::common::dispatch::seed_fleet;
use crate::common::pass::{Pair, Rng};
use crate::common::{wait_count, Publisher};

const S: i64 = 1_000_000;
/// A site near Paris.
pub(super) const A: (f64, f64) = (48.85, 2.35);
/// On the antimeridian.
const B: (f64, f64) = (-16.8, 179.999);

/// A fence as the API takes it, and as the reference evaluates it.
struct Def {
    body: Value,
    fence: Fence,
}

fn square(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Vec<[f64; 2]> {
    vec![
        [lon0, lat0],
        [lon1, lat0],
        [lon1, lat1],
        [lon0, lat1],
        [lon0, lat0],
    ]
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A circle and a holed square around A, a circle and a square across the antimeridian at
/// B; with hysteresis, dwell and selectors.
fn defs() -> Vec<Def> {
    let holed = json!({"type": "Polygon", "coordinates": [
        square(A.1 - 0.006, A.0 - 0.004, A.1 + 0.006, A.0 + 0.004),
        square(A.1 - 0.002, A.0 - 0.001, A.1 + 0.002, A.0 + 0.001),
    ]});
    let across = json!({"type": "Polygon", "coordinates": [
        square(179.996, B.0 - 0.003, -179.997, B.0 + 0.003),
    ]});
    let circle = |(lat, lon): (f64, f64), r: f64| Shape::circle(Point::new(lat, lon), r).unwrap();
    let fence = |shape: Shape, h: f64, dwell: Option<u32>, sel: Selector| {
        Fence::new(Uuid::nil(), shape)
            .with_hysteresis(h)
            .unwrap()
            .with_dwell(dwell)
            .with_selector(sel)
    };
    vec![
        Def {
            body: json!({"name": "a-circle", "center": {"lat": A.0, "lon": A.1}, "radius_m": 300,
                         "hysteresis_m": 40, "dwell_s": 5}),
            fence: fence(circle(A, 300.0), 40.0, Some(5), Selector::all()),
        },
        Def {
            body: json!({"name": "a-holed", "geometry": holed.clone(),
                         "selector": {"vehicle_ids": ["gf-0", "gf-1"]}}),
            fence: fence(
                Shape::from_geojson(&holed).unwrap(),
                0.0,
                None,
                Selector {
                    vehicle_types: set(&[]),
                    vehicle_ids: set(&["gf-0", "gf-1"]),
                },
            ),
        },
        Def {
            body: json!({"name": "b-across", "geometry": across.clone(), "hysteresis_m": 20,
                         "dwell_s": 10, "selector": {"vehicle_types": ["van"]}}),
            fence: fence(
                Shape::from_geojson(&across).unwrap(),
                20.0,
                Some(10),
                Selector {
                    vehicle_types: set(&["van"]),
                    vehicle_ids: set(&[]),
                },
            ),
        },
        Def {
            body: json!({"name": "b-circle", "center": {"lat": B.0, "lon": B.1}, "radius_m": 250}),
            fence: fence(circle(B, 250.0), 0.0, None, Selector::all()),
        },
    ]
}

/// `(vehicle, ts µs, lat, lon)`.
type Reading = (String, i64, f64, f64);

/// Each vehicle wanders about its site (gf-0 and gf-2 at A, gf-1 and gf-3 at B), up to 700 m
/// out: a step of up to 60 m every 500 ms from `from` (µs) for `secs`, and now and then a
/// jump to anywhere in that range.
fn wander(rng: &mut Rng, from: i64, secs: i64) -> Vec<Reading> {
    let mut out = Vec::new();
    for v in 0..4 {
        let site = if v % 2 == 0 { A } else { B };
        let mut at = site;
        for k in 0..secs * 2 {
            let (from_here, reach) = if rng.next() < 0.15 {
                (site, 700.0)
            } else {
                (at, 60.0)
            };
            at = fleetd::geofences::destination(
                from_here.0,
                from_here.1,
                rng.next() * 360.0,
                rng.next() * reach,
            );
            out.push((format!("gf-{v}"), from + k * S / 2, at.0, at.1));
        }
    }
    out
}

/// Publishes `readings` shuffled, in messages of 1 to 6 readings of one vehicle.
async fn publish_shuffled(p: &Publisher, rng: &mut Rng, readings: &[Reading]) -> usize {
    let mut order: Vec<&Reading> = readings.iter().collect();
    rng.shuffle(&mut order);
    let mut by_vehicle: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for r in order {
        by_vehicle
            .entry(&r.0)
            .or_default()
            .push(json!({"ts": r.1 / 1_000, "lat": r.2, "lon": r.3}));
    }
    let mut messages = Vec::new();
    for (v, items) in by_vehicle {
        let mut rest = &items[..];
        while !rest.is_empty() {
            let n = (1 + (rng.next() * 6.0) as usize).min(rest.len());
            messages.push((
                format!("fleet/{v}/gps"),
                serde_json::to_vec(&rest[..n]).unwrap(),
            ));
            rest = &rest[n..];
        }
    }
    rng.shuffle(&mut messages);
    for (topic, body) in &messages {
        p.publish(topic, body.clone()).await;
    }
    messages.len()
}

/// Each vehicle's stored readings, sorted.
async fn stored(db: &tokio_postgres::Client) -> BTreeMap<String, Vec<(i64, Point)>> {
    let rows = db
        .query(
            "SELECT vehicle_id, ts, ST_Y(position), ST_X(position) FROM gps_readings
              ORDER BY vehicle_id, ts",
            &[],
        )
        .await
        .unwrap();
    let mut out: BTreeMap<String, Vec<(i64, Point)>> = BTreeMap::new();
    for r in &rows {
        let ts: DateTime<Utc> = r.get(1);
        out.entry(r.get(0))
            .or_default()
            .push((ts.timestamp_micros(), Point::new(r.get(2), r.get(3))));
    }
    out
}

/// An event as compared: (ts µs, type, fence name, entered_at µs).
type Ev = (i64, String, String, i64);
/// Who is inside: (vehicle, fence name, entered_at µs).
type Members = BTreeSet<(String, String, i64)>;

/// The reference: every fence tested at each reading, in timestamp order, skipping
/// `late` readings; the events per vehicle and who is inside at the end.
fn replay(
    fences: &[(String, Fence)],
    types: &BTreeMap<String, String>,
    readings: &BTreeMap<String, Vec<(i64, Point)>>,
    late: &BTreeSet<(String, i64)>,
) -> (BTreeMap<String, Vec<Ev>>, Members) {
    let mut events: BTreeMap<String, Vec<Ev>> = BTreeMap::new();
    let mut members = BTreeSet::new();
    for (v, track) in readings {
        let mut inside: BTreeMap<&str, (i64, bool)> = BTreeMap::new();
        let applies = |f: &Fence| {
            f.selector.is_all()
                || f.selector.vehicle_ids.contains(v)
                || types
                    .get(v)
                    .is_some_and(|t| f.selector.vehicle_types.contains(t))
        };
        for &(ts, p) in track {
            if late.contains(&(v.clone(), ts)) {
                continue;
            }
            for (name, f) in fences.iter().filter(|(_, f)| applies(f)) {
                let was = inside.get(name.as_str()).copied();
                let now = match was {
                    Some(_) => f.shape.distance_outside_m(p) <= f.hysteresis_m,
                    None => f.shape.contains(p),
                };
                let out = events.entry(v.clone()).or_default();
                match (was, now) {
                    (Some((entered, _)), false) => {
                        inside.remove(name.as_str());
                        out.push((ts, "geofence.exited".into(), name.clone(), entered));
                    }
                    (None, true) => {
                        inside.insert(name, (ts, false));
                        out.push((ts, "geofence.entered".into(), name.clone(), ts));
                    }
                    _ => {}
                }
                if let (Some(visit), Some(d)) = (inside.get_mut(name.as_str()), f.dwell_s) {
                    if !visit.1 && ts - visit.0 >= i64::from(d) * S {
                        visit.1 = true;
                        out.push((ts, "geofence.dwell".into(), name.clone(), visit.0));
                    }
                }
            }
        }
        for (name, (entered, _)) in inside {
            members.insert((v.clone(), name.to_string(), entered));
        }
    }
    for evs in events.values_mut() {
        evs.sort();
    }
    (events, members)
}

/// The `geofence.*` events numbered so far, per vehicle, sorted as [`replay`] sorts.
async fn raised(db: &tokio_postgres::Client) -> BTreeMap<String, Vec<Ev>> {
    let rows = db
        .query(
            "SELECT type, payload FROM events WHERE type LIKE 'geofence.%' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let us = |v: &Value| {
        DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_micros()
    };
    let mut out: BTreeMap<String, Vec<Ev>> = BTreeMap::new();
    for r in &rows {
        let p: Value = r.get(1);
        out.entry(p["vehicle_id"].as_str().unwrap().to_string())
            .or_default()
            .push((
                us(&p["ts"]),
                r.get(0),
                p["geofence_name"].as_str().unwrap().to_string(),
                us(&p["entered_at"]),
            ));
    }
    for evs in out.values_mut() {
        evs.sort();
    }
    out
}

/// Who the database says is inside, by fence name.
async fn members(db: &tokio_postgres::Client) -> Members {
    let rows = db
        .query(
            "SELECT m.vehicle_id, g.name, m.entered_at FROM geofence_members m
               JOIN geofences g ON g.id = m.geofence_id",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let at: DateTime<Utc> = r.get(2);
            (r.get(0), r.get(1), at.timestamp_micros())
        })
        .collect()
}

/// Who the API says is inside, asked both ways (a page of 1 vehicle at a time for fences).
async fn answered(admin: &Client) -> Members {
    let us = |v: &Value| {
        DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_micros()
    };
    let r = admin.get("/v1/geofences").await;
    let mut by_fence = BTreeSet::new();
    for f in r.json()["items"].as_array().unwrap() {
        let (id, name) = (f["id"].as_str().unwrap(), f["name"].as_str().unwrap());
        let mut cursor = String::new();
        loop {
            let r = admin
                .get(&format!(
                    "/v1/geofences/{id}/vehicles?limit=1&cursor={cursor}"
                ))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let page = r.json();
            for m in page["items"].as_array().unwrap() {
                let v = m["vehicle_id"].as_str().unwrap().to_string();
                by_fence.insert((v, name.to_string(), us(&m["entered_at"])));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
    }
    let mut by_vehicle = BTreeSet::new();
    for v in 0..4 {
        let r = admin.get(&format!("/v1/vehicles/gf-{v}/geofences")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for m in r.json().as_array().unwrap() {
            let name = m["name"].as_str().unwrap().to_string();
            by_vehicle.insert((format!("gf-{v}"), name, us(&m["entered_at"])));
        }
    }
    assert_eq!(by_fence, by_vehicle);
    // Unknown fences and vehicles, and bad pages.
    let nil = Uuid::nil();
    for (path, status) in [
        (format!("/v1/geofences/{nil}/vehicles"), 404),
        ("/v1/geofences/x/vehicles".to_string(), 404),
        ("/v1/vehicles/nobody/geofences".to_string(), 404),
        (format!("/v1/geofences/{nil}/vehicles?limit=0"), 422),
        (format!("/v1/geofences/{nil}/vehicles?cursor=%00"), 422),
    ] {
        let r = admin.get(&path).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
    }
    by_fence
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_shuffled_replayed_and_late_readings_equal_a_brute_force_replay() {
    shuffled_replayed_and_late_readings_equal_a_brute_force_replay(Pair::start().await).await
}

/// The same with three daemons sharing a NATS JetStream consumer (issue 18).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_jetstream_nodes_shuffled_replayed_and_late_readings_equal_a_brute_force_replay() {
    shuffled_replayed_and_late_readings_equal_a_brute_force_replay(Pair::start_jetstream().await)
        .await
}

async fn shuffled_replayed_and_late_readings_equal_a_brute_force_replay(pair: Pair) {
    let (client, admin, t0) = (pair.db.client().await, &pair.admin, pair.t0);
    seed_fleet(&client, "gf", 4, None).await;
    client
        .execute(
            "UPDATE vehicles SET type = 'van' WHERE id IN ('gf-2', 'gf-3')",
            &[],
        )
        .await
        .unwrap();
    let types: BTreeMap<String, String> = client
        .query("SELECT id, type FROM vehicles", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut fences = Vec::new();
    for d in defs() {
        let r = admin.post("/v1/geofences", d.body.clone()).await;
        assert_eq!(r.status, 201, "{}", r.body);
        fences.push((d.body["name"].as_str().unwrap().to_string(), d.fence));
    }

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let publisher = pair.publisher().await;
    let t0_us = t0.timestamp_micros();
    // Round 1: a minute of readings, shuffled.
    let first = wander(&mut rng, t0_us + S, 60);
    let mut sent = publish_shuffled(&publisher, &mut rng, &first).await;
    publisher.wait_acked(sent).await;
    wait_count(
        &client,
        "SELECT count(*) FROM gps_readings",
        first.len() as i64,
    )
    .await;
    // Up to round 1's last reading (t0 + 60.5 s), not to round 2's first (t0 + 61 s): round 2
    // then waits for the next move, whatever order it arrives in.
    pair.run(chrono::Duration::milliseconds(60_500)).await;

    // Round 2: the next minute, with a fifth of round 1 again (replays) and readings between
    // round 1's (late: stored, never evaluated).
    let mut second = wander(&mut rng, t0_us + 61 * S, 60);
    second.extend(first.iter().filter(|_| rng.next() < 0.2).cloned());
    let late: Vec<Reading> = wander(&mut rng, t0_us + S + S / 4, 59)
        .into_iter()
        .filter(|_| rng.next() < 0.1)
        .collect();
    second.extend(late.iter().cloned());
    sent += publish_shuffled(&publisher, &mut rng, &second).await;
    publisher.wait_acked(sent).await;
    let total = (first.len() * 2 + late.len()) as i64;
    wait_count(&client, "SELECT count(*) FROM gps_readings", total).await;
    pair.run(chrono::Duration::seconds(120)).await;

    let late: BTreeSet<(String, i64)> = late.into_iter().map(|r| (r.0, r.1)).collect();
    let (want, inside) = replay(&fences, &types, &stored(&client).await, &late);
    let got = raised(&client).await;
    let n: usize = want.values().map(Vec::len).sum();
    assert!(
        n > 100,
        "the walk should cross boundaries often: {n} events"
    );
    for kind in ["geofence.entered", "geofence.exited", "geofence.dwell"] {
        assert!(want.values().flatten().any(|e| e.1 == kind), "no {kind}");
    }
    assert_eq!(got, want);
    assert_eq!(members(&client).await, inside);
    assert_eq!(answered(admin).await, inside);
    // The daemons counted what they raised.
    let counted = |addr| crate::common::metric(addr, "fleetd_geofence_events_total", "");
    let mut each = Vec::new();
    for addr in pair.addrs() {
        each.push(counted(addr).await);
    }
    assert_eq!(each.iter().sum::<f64>() as usize, n, "{each:?}");
    pair.shutdown().await;
}
