//! The reading-driven rules on the stream: OBD and GPS readings published over MQTT open,
//! count and resolve exactly the alerts their conditions say (overheating for long enough, a
//! drop and a low level of fuel while parked, trouble codes, speeding over a fence's limit,
//! crossings of a fence), each transition an event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::common::api::{vehicle, Api};
use crate::common::dispatch::eventually;
use crate::common::{count, Publisher};

const A: (f64, f64) = (48.85, 2.35);

/// An alert as compared: rule kind, status, count, opened, last seen, resolved, resolution.
type Row = (
    &'static str,
    String,
    i32,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn ts(base: i64, k: i64) -> String {
    DateTime::from_timestamp_millis(base + k * 5_000)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_open_count_and_resolve_exactly_the_alerts_their_conditions_say() {
    let api = Api::start_with(|c| {
        c.trips.settle_s = 0;
        c.trips.interval_ms = 100;
    })
    .await;
    let a = &api.admin;
    vehicle(a, "al-1", 1).await;
    let r = a
        .post(
            "/v1/geofences",
            json!({"name": "school", "center": {"lat": A.0, "lon": A.1}, "radius_m": 200,
                   "speed_limit_kmh": 30}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let school = r.json()["id"].as_str().unwrap().to_string();
    let mut rules = BTreeMap::new();
    for (kind, params, scope, clear_s) in [
        (
            "overheat",
            json!({"coolant_c": 110, "min_duration_s": 10}),
            json!({}),
            30,
        ),
        (
            "fuel_drop",
            json!({"drop_pct": 10, "within_s": 600}),
            json!({}),
            0,
        ),
        ("low_fuel", json!({"below_pct": 15}), json!({}), 0),
        ("dtc", json!({"families": ["P"]}), json!({}), 0),
        ("speeding", json!({}), json!({"geofence_ids": [school]}), 0),
        (
            "geofence",
            json!({"on": "both"}),
            json!({"geofence_ids": [school]}),
            0,
        ),
    ] {
        let body = json!({"name": kind, "kind": kind, "params": params, "scope": scope,
                          "clear_s": clear_s});
        let r = a.post("/v1/alert-rules", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        rules.insert(r.json()["id"].as_str().unwrap().to_string(), kind);
    }

    // A reading every 5 s for 200 s, ending a minute ago, parked (rpm 0): coolant at 115 °C
    // from k = 4 to 8, trouble codes at k = 10 and 11 (none at 12), fuel 50 % until k = 19
    // then 2 points less each reading.
    let base = crate::common::now_ms() / 1_000 * 1_000 - 260_000;
    let obd: Vec<Value> = (0..40i64)
        .map(|k| {
            let fuel = if k < 20 { 50 } else { 50 - (k - 19) * 2 };
            let mut r = json!({"ts": base + k * 5_000, "rpm": 0, "speed_kmh": 0,
                               "coolant_c": if (4..=8).contains(&k) { 115 } else { 90 },
                               "fuel_pct": fuel});
            match k {
                10 => r["dtc"] = json!(["P0300"]),
                11 => r["dtc"] = json!(["P0300", "B1000"]),
                12 => r["dtc"] = json!([]),
                _ => {}
            }
            r
        })
        .collect();
    // GPS: 1 km east of the school, inside it from k = 10 (50 km/h, then 20 from k = 15),
    // out again from k = 20.
    let gps: Vec<Value> = (0..30i64)
        .map(|k| {
            let inside = (10..20).contains(&k);
            let (lat, lon) =
                fleetd::geofences::destination(A.0, A.1, 90.0, if inside { 0.0 } else { 1_000.0 });
            let speed = if (15..20).contains(&k) { 20 } else { 50 };
            json!({"ts": base + k * 5_000, "lat": lat, "lon": lon, "speed_kmh": speed})
        })
        .collect();
    let p = Publisher::connect(&api.broker).await;
    p.publish("fleet/al-1/obd", serde_json::to_vec(&obd).unwrap())
        .await;
    p.publish("fleet/al-1/gps", serde_json::to_vec(&gps).unwrap())
        .await;
    p.wait_acked(2).await;
    let db = api.db.client().await;
    eventually("every reading judged", || async {
        let q = "SELECT (SELECT count(*) FROM obd_readings) + (SELECT count(*) FROM gps_readings)
                      - (SELECT count(*) FROM segment_state
                          WHERE dirty_from IS NOT NULL OR obd_dirty_from IS NOT NULL)
                      - (SELECT count(*) FROM segment_marks)";
        (count(&db, q).await == 70).then_some(())
    })
    .await;

    let rows = db
        .query(
            "SELECT rule_id::text, status, count, opened_at, last_seen_at, resolved_at, resolution,
                    details
               FROM alerts ORDER BY kind, opened_at",
            &[],
        )
        .await
        .unwrap();
    let us = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    let got: Vec<Row> = rows
        .iter()
        .map(|r| {
            (
                rules[&r.get::<_, String>(0)],
                r.get(1),
                r.get(2),
                us(r.get(3)).unwrap(),
                us(r.get(4)).unwrap(),
                us(r.get(5)),
                r.get(6),
            )
        })
        .collect();
    let t = |k| ts(base, k);
    let resolved = |k| (Some(t(k)), Some("auto".to_string()));
    let want = vec![
        (
            "dtc",
            "resolved".into(),
            2,
            t(10),
            t(11),
            resolved(12).0,
            resolved(12).1,
        ),
        ("fuel_drop", "open".into(), 16, t(24), t(39), None, None),
        (
            "geofence",
            "resolved".into(),
            1,
            t(10),
            t(10),
            resolved(11).0,
            resolved(11).1,
        ),
        (
            "geofence",
            "resolved".into(),
            1,
            t(20),
            t(20),
            resolved(21).0,
            resolved(21).1,
        ),
        ("low_fuel", "open".into(), 3, t(37), t(39), None, None),
        (
            "overheat",
            "resolved".into(),
            3,
            t(6),
            t(8),
            resolved(14).0,
            resolved(14).1,
        ),
        (
            "speeding",
            "resolved".into(),
            5,
            t(10),
            t(14),
            resolved(15).0,
            resolved(15).1,
        ),
    ];
    assert_eq!(got, want);
    // What the latest sighting saw.
    let details: BTreeMap<&str, Value> = rows
        .iter()
        .map(|r| (rules[&r.get::<_, String>(0)], r.get(7)))
        .collect();
    assert_eq!(details["fuel_drop"]["from_pct"], 50.0);
    assert_eq!(details["fuel_drop"]["to_pct"], 10.0);
    assert_eq!(details["low_fuel"]["fuel_pct"], 10.0);
    assert_eq!(details["speeding"]["limit_kmh"], 30.0);
    assert_eq!(details["speeding"]["speed_kmh"], 50.0);
    assert_eq!(details["overheat"]["peak"], 115.0);
    // At k = 11: P0300 still there (B1000 is not a watched family), nothing new.
    let p0300 = json!([{"code": "P0300", "family": "powertrain"}]);
    assert_eq!(details["dtc"]["codes"], p0300);
    assert_eq!(details["dtc"]["new"], json!([]));
    assert_eq!(details["geofence"]["crossing"], "exited");
    // Each opening and each resolution is an event.
    let events = "SELECT (SELECT count(*) FROM event_outbox WHERE type = $1)
                        + (SELECT count(*) FROM events WHERE type = $1)";
    for (kind, n) in [("alert.opened", 7i64), ("alert.resolved", 5)] {
        let got: i64 = db.query_one(events, &[&kind]).await.unwrap().get(0);
        assert_eq!(got, n, "{kind}");
    }
    api.daemon.shutdown().await;
}
