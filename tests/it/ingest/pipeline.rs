//! End-to-end ingestion against real PostgreSQL/PostGIS and Mosquitto: publish with a real
//! MQTT client, assert the rows.

use crate::common::*;
use fleetd::wire::{self, GpsV1, ObdV1};
use serde_json::json;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_single_batched_and_binary_payloads_with_both_ts_forms() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let daemon = InProcess::start(config(&db, &broker)).await;
    let publisher = Publisher::connect(&broker).await;
    let sql = db.client().await;
    let t = now_ms() - 60_000;

    // Single object, RFC 3339 ts.
    publisher
        .publish(
            "fleet/veh-1/gps",
            json!({"ts": rfc3339(t), "lat": 52.52, "lon": 13.405, "speed_kmh": 42.5,
                   "heading_deg": 359.5, "alt_m": 34.0, "accuracy_m": 4.0, "extra": "ignored"})
            .to_string(),
        )
        .await;
    // Single object, epoch ms ts, only required fields.
    publisher
        .publish(
            "fleet/veh-1/gps",
            json!({"ts": t + 1000, "lat": -33.9, "lon": 151.2}).to_string(),
        )
        .await;
    // A batch of 300.
    let batch: Vec<_> = (0..300)
        .map(|i| json!({"ts": t + 10_000 + i, "lat": 10.0, "lon": -179.9999}))
        .collect();
    publisher
        .publish("fleet/veh.2/gps", serde_json::to_vec(&batch).unwrap())
        .await;
    // Binary GPS and OBD.
    let bin: Vec<GpsV1> = (0..50)
        .map(|i| GpsV1 {
            ts_ms: t + i,
            lat: 89.999,
            lon: 180.0,
            speed_kmh: Some(1.5),
            heading_deg: None,
            alt_m: None,
            accuracy_m: None,
        })
        .collect();
    publisher
        .publish("fleet/VEH_3/gps", wire::encode_gps(&bin))
        .await;
    let obd = vec![ObdV1 {
        ts_ms: t,
        rpm: Some(2500.0),
        speed_kmh: None,
        coolant_c: Some(-40.0),
        fuel_pct: Some(55.5),
        engine_load_pct: None,
        odometer_km: Some(123_456.7),
        dtc: Some(vec!["P0301", "U0100"]),
    }];
    publisher
        .publish("fleet/VEH_3/obd", wire::encode_obd(&obd))
        .await;
    publisher
        .publish(
            "fleet/veh-1/obd",
            json!({"ts": rfc3339(t), "dtc": []}).to_string(),
        )
        .await;

    wait_count(&sql, "SELECT count(*) FROM gps_readings", 352).await;
    wait_count(&sql, "SELECT count(*) FROM obd_readings", 2).await;

    let row = sql
        .query_one(
            "SELECT ST_Y(position), ST_X(position), ST_SRID(position), speed_kmh, heading_deg,
                    alt_m, accuracy_m, (extract(epoch from ts) * 1000)::bigint, received_at > ts
               FROM gps_readings WHERE vehicle_id = 'veh-1' ORDER BY ts LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, f64>(0), 52.52);
    assert_eq!(row.get::<_, f64>(1), 13.405);
    assert_eq!(row.get::<_, i32>(2), 4326);
    assert_eq!(row.get::<_, Option<f32>>(3), Some(42.5));
    assert_eq!(row.get::<_, Option<f32>>(4), Some(359.5));
    assert_eq!(row.get::<_, Option<f32>>(5), Some(34.0));
    assert_eq!(row.get::<_, Option<f32>>(6), Some(4.0));
    assert_eq!(row.get::<_, i64>(7), t);
    assert!(row.get::<_, bool>(8));

    let row = sql
        .query_one(
            "SELECT speed_kmh, (extract(epoch from ts) * 1000)::bigint FROM gps_readings
              WHERE vehicle_id = 'veh-1' ORDER BY ts DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<f32>>(0), None);
    assert_eq!(row.get::<_, i64>(1), t + 1000);

    let row = sql
        .query_one(
            "SELECT rpm, coolant_c, fuel_pct, engine_load_pct, odometer_km, dtc
               FROM obd_readings WHERE vehicle_id = 'VEH_3'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<f32>>(0), Some(2500.0));
    assert_eq!(row.get::<_, Option<f32>>(1), Some(-40.0));
    assert_eq!(row.get::<_, Option<f32>>(2), Some(55.5));
    assert_eq!(row.get::<_, Option<f32>>(3), None);
    assert_eq!(row.get::<_, Option<f64>>(4), Some(123_456.7));
    assert_eq!(
        row.get::<_, Option<Vec<String>>>(5),
        Some(vec!["P0301".to_string(), "U0100".to_string()])
    );
    let empty: Option<Vec<String>> = sql
        .query_one(
            "SELECT dtc FROM obd_readings WHERE vehicle_id = 'veh-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(empty, Some(vec![]));
    assert_eq!(
        count(&sql, "SELECT count(*) FROM telemetry_rejects").await,
        0
    );
    assert_eq!(
        metric(daemon.addr, "fleetd_readings_stored_total", "gps").await,
        352.0
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_stored_once() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let daemon = InProcess::start(config(&db, &broker)).await;
    let publisher = Publisher::connect(&broker).await;
    let sql = db.client().await;
    let t = now_ms() - 1000;
    let one = json!({"ts": t, "lat": 1.0, "lon": 2.0}).to_string();
    publisher.publish("fleet/d1/gps", one.clone()).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 1).await;
    // A re-send, a batch repeating it, and a batch with an internal duplicate.
    publisher.publish("fleet/d1/gps", one.clone()).await;
    let batch = json!([
        {"ts": t, "lat": 1.0, "lon": 2.0},
        {"ts": t + 1, "lat": 1.0, "lon": 2.0},
        {"ts": t + 1, "lat": 1.0, "lon": 2.0},
        {"ts": rfc3339(t + 2), "lat": 1.0, "lon": 2.0},
        {"ts": t + 2, "lat": 1.0, "lon": 2.0}
    ]);
    publisher.publish("fleet/d1/gps", batch.to_string()).await;
    publisher.wait_acked(3).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 3).await;
    // Every message is eventually acknowledged by the daemon and nothing more is stored.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while metric(daemon.addr, "fleetd_readings_duplicate_total", "gps").await < 4.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "duplicates not counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(count(&sql, "SELECT count(*) FROM gps_readings").await, 3);
    assert_eq!(
        count(&sql, "SELECT count(*) FROM telemetry_rejects").await,
        0
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_class_is_rejected_with_a_reason_and_good_readings_are_kept() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let daemon = InProcess::start(config(&db, &broker)).await;
    let publisher = Publisher::connect(&broker).await;
    let sql = db.client().await;
    let t = now_ms() - 5_000;
    let good = |i: i64| json!({"ts": t + i, "lat": 50.0, "lon": 8.0});

    let deep = "[".repeat(100_000);
    let too_many: Vec<_> = (0..1001).map(good).collect();
    let oversized = format!("[{}]", vec![good(0).to_string(); 8000].join(","));
    assert!(oversized.len() > 256 * 1024);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("fleet/b1/gps", b"{not json".to_vec(), "malformed_json"),
        ("fleet/b1/gps", deep.into_bytes(), "malformed_json"),
        ("fleet/b1/gps", b"\xff\xfe".to_vec(), "malformed_json"),
        ("fleet/b1/gps", b"42".to_vec(), "not_an_object"),
        ("fleet/b1/gps", b"[]".to_vec(), "empty_batch"),
        (
            "fleet/b1/gps",
            serde_json::to_vec(&too_many).unwrap(),
            "batch_too_large",
        ),
        ("fleet/b1/gps", oversized.into_bytes(), "payload_too_large"),
        (
            "fleet/b1/gps",
            json!({"ts": t, "lat": 91, "lon": 0})
                .to_string()
                .into_bytes(),
            "out_of_range",
        ),
        (
            "fleet/b1/gps",
            json!({"ts": t, "lat": 0, "lon": 180.5})
                .to_string()
                .into_bytes(),
            "out_of_range",
        ),
        (
            "fleet/b1/gps",
            json!({"ts": t, "lat": 0, "lon": 0, "speed_kmh": 401})
                .to_string()
                .into_bytes(),
            "out_of_range",
        ),
        (
            "fleet/b1/gps",
            json!({"ts": t, "lat": 0, "lon": 0, "heading_deg": 360})
                .to_string()
                .into_bytes(),
            "out_of_range",
        ),
        (
            "fleet/b1/gps",
            br#"{"ts": 1, "lat": 1e400, "lon": 0}"#.to_vec(),
            "malformed_json",
        ),
        (
            "fleet/b1/gps",
            json!({"ts": t, "lon": 0}).to_string().into_bytes(),
            "missing_field",
        ),
        (
            "fleet/b1/gps",
            json!({"lat": 0, "lon": 0}).to_string().into_bytes(),
            "missing_field",
        ),
        (
            "fleet/b1/gps",
            json!({"ts": t, "lat": "north", "lon": 0})
                .to_string()
                .into_bytes(),
            "invalid_field",
        ),
        (
            "fleet/b1/gps",
            json!({"ts": "yesterday", "lat": 0, "lon": 0})
                .to_string()
                .into_bytes(),
            "bad_timestamp",
        ),
        (
            "fleet/b1/gps",
            json!({"ts": now_ms() + 3_600_000, "lat": 0, "lon": 0})
                .to_string()
                .into_bytes(),
            "ts_in_future",
        ),
        (
            "fleet/b1/gps",
            json!({"ts": now_ms() - 40 * 86_400_000i64, "lat": 0, "lon": 0})
                .to_string()
                .into_bytes(),
            "ts_too_old",
        ),
        (
            "fleet/b1/obd",
            json!({"ts": t}).to_string().into_bytes(),
            "no_obd_values",
        ),
        (
            "fleet/b1/obd",
            json!({"ts": t, "dtc": ["P030"]}).to_string().into_bytes(),
            "bad_dtc",
        ),
        (
            "fleet/b1/obd",
            json!({"ts": t, "rpm": 20001}).to_string().into_bytes(),
            "out_of_range",
        ),
        (
            "fleet/b1/gps",
            vec![0xF1, 1, 0xff, 0xff, 0xff],
            "bad_binary",
        ),
        ("fleet/b1/gps", vec![0xF1, 9, 0], "unsupported_version"),
        ("fleet/b1/gps", b"{}".to_vec(), "missing_field"),
        (
            "fleet/b1/pos",
            good(0).to_string().into_bytes(),
            "bad_topic",
        ),
        (
            "fleet/bad id!/gps",
            good(0).to_string().into_bytes(),
            "bad_topic",
        ),
        (
            "fleet/a/b/gps",
            good(0).to_string().into_bytes(),
            "bad_topic",
        ),
        (
            "fleet/x/gps/extra",
            good(0).to_string().into_bytes(),
            "bad_topic",
        ),
        ("fleet//gps", good(0).to_string().into_bytes(), "bad_topic"),
        (
            "fleet/'; DROP TABLE gps_readings; --/gps",
            good(0).to_string().into_bytes(),
            "bad_topic",
        ),
    ];
    for (topic, payload, _) in &cases {
        publisher.publish(topic, payload.clone()).await;
    }
    // A batch mixing good and bad readings keeps the good ones.
    let mixed = json!([
        good(100),
        {"ts": t, "lat": 95, "lon": 0},
        good(101),
        "not an object",
        {"ts": "bad", "lat": 0, "lon": 0},
        good(102)
    ]);
    publisher
        .publish("fleet/mixed/gps", mixed.to_string())
        .await;

    let expected = cases.len() as i64 + 3;
    wait_count(&sql, "SELECT count(*) FROM telemetry_rejects", expected).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 3).await;
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'mixed'"
        )
        .await,
        3
    );
    let rows = sql
        .query(
            "SELECT topic, reason, length(payload) FROM telemetry_rejects",
            &[],
        )
        .await
        .unwrap();
    for (topic, _, reason) in &cases {
        let found = rows
            .iter()
            .any(|r| r.get::<_, String>(0) == *topic && r.get::<_, String>(1).starts_with(reason));
        assert!(
            found,
            "no reject {reason} for {topic}: {:?}",
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                .collect::<Vec<_>>()
        );
    }
    for r in &rows {
        assert!(r.get::<_, i32>(2) <= 4096, "stored payload is cut to 4 KiB");
    }
    let mixed_reasons: Vec<String> = sql
        .query(
            "SELECT reason FROM telemetry_rejects WHERE topic = 'fleet/mixed/gps' ORDER BY reason",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(mixed_reasons.len(), 3, "{mixed_reasons:?}");
    assert!(mixed_reasons[0].starts_with("bad_timestamp"));
    assert!(mixed_reasons[1].starts_with("not_an_object"));
    assert!(mixed_reasons[2].starts_with("out_of_range"));
    assert_eq!(
        metric(daemon.addr, "fleetd_readings_rejected_total", "").await,
        expected as f64
    );
    // The daemon is still healthy and ingesting.
    publisher
        .publish("fleet/after/gps", good(500).to_string())
        .await;
    wait_count(
        &sql,
        "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'after'",
        1,
    )
    .await;
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_index_follows_committed_positions_and_is_reloaded_at_start() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let cfg = config(&db, &broker);
    let daemon = InProcess::start(cfg.clone()).await;
    let publisher = Publisher::connect(&broker).await;
    let sql = db.client().await;
    let t = now_ms() - 30_000;
    publisher
        .publish(
            "fleet/live-1/gps",
            json!([{"ts": t, "lat": 10.0, "lon": 20.0}, {"ts": t + 2000, "lat": 11.0, "lon": 21.0, "speed_kmh": 30}])
                .to_string(),
        )
        .await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 2).await;
    let p = daemon
        .live
        .position("live-1")
        .expect("indexed after commit");
    assert_eq!(
        (p.lat, p.lon, p.ts, p.speed_kmh),
        (11.0, 21.0, (t + 2000) * 1000, Some(30.0))
    );
    // An older reading arriving late is stored but does not move the vehicle back in time.
    publisher
        .publish(
            "fleet/live-1/gps",
            json!({"ts": t + 1000, "lat": 50.0, "lon": 50.0}).to_string(),
        )
        .await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 3).await;
    assert_eq!(daemon.live.position("live-1").unwrap().lat, 11.0);
    // OBD readings and rejected readings never touch the index.
    publisher
        .publish("fleet/live-2/obd", json!({"ts": t, "rpm": 900}).to_string())
        .await;
    publisher
        .publish(
            "fleet/live-3/gps",
            json!({"ts": t, "lat": 95, "lon": 0}).to_string(),
        )
        .await;
    wait_count(&sql, "SELECT count(*) FROM obd_readings", 1).await;
    wait_count(&sql, "SELECT count(*) FROM telemetry_rejects", 1).await;
    assert!(daemon.live.position("live-2").is_none());
    assert!(daemon.live.position("live-3").is_none());
    daemon.shutdown().await;

    // A restarted daemon starts from the latest stored position.
    let again = InProcess::start(cfg).await;
    let p = again
        .live
        .position("live-1")
        .expect("loaded from PostgreSQL");
    assert_eq!((p.lat, p.lon, p.ts), (11.0, 21.0, (t + 2000) * 1000));
    assert_eq!(again.live.len(), 1);
    again.shutdown().await;
}
