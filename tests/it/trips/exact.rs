//! Stored trips and stops = `fleetd::trips::batch::segment` over the stored readings.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fleetd::config::SubscriptionMode;
use fleetd::trips::machine::{Kind, Segment};
use fleetd::trips::{batch, Fix, Params};

use crate::common::{config, metric, now_ms, Broker, ChildDaemon, InProcess, Publisher, TestDb};

const VEHICLES: usize = 3;

/// `(ts ms, lat, lon, speed km/h)`.
type Reading = (i64, f64, f64, Option<f64>);

/// A day's work, compressed: legs at 20–60 km/h and stops of 1–20 min, a silent hour, a
/// reading every 5 s, ending parked a minute before now. Deterministic per vehicle.
fn drive(vehicle: usize) -> Vec<Reading> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ ((vehicle as u64 + 1) * 0x1234_5678);
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::new();
    let (mut lat, mut lon) = (52.4 + vehicle as f64 * 0.01, 13.3);
    let mut t = 0i64;
    for leg in 0..14 {
        if leg == 7 {
            t += 3_700; // silent for more than max_gap
        }
        let moving_s = (120.0 + next() * 900.0) as i64;
        let kmh = 20.0 + next() * 40.0;
        let heading = next() * std::f64::consts::TAU;
        for _ in 0..moving_s / 5 {
            t += 5;
            let step = kmh / 3.6 * 5.0;
            lat += step * heading.cos() / 111_195.0;
            lon += step * heading.sin() / (111_195.0 * lat.to_radians().cos());
            // Every third reading without a speed, as some trackers send.
            let speed = (t % 3 != 0).then_some(kmh);
            out.push((t, lat, lon, speed));
        }
        let still_s = (60.0 + next() * 1_200.0) as i64;
        for _ in 0..still_s / 5 {
            t += 5;
            let jiggle = (next() - 0.5) * 8.0 / 111_195.0;
            out.push((t, lat + jiggle, lon, Some(0.0)));
        }
    }
    // Shift so the last reading is a minute old: nothing depends on a flush.
    let end_ms = now_ms() - 60_000;
    let shift = end_ms - t * 1_000;
    out.into_iter()
        .map(|(t, lat, lon, s)| (t * 1_000 + shift, lat, lon, s))
        .collect()
}

/// OBD every 30 s along a drive: fuel falls while moving (refuelled once), the odometer
/// rises, a trouble code now and then. `(ts ms, JSON)`.
fn obd(drive: &[Reading]) -> Vec<(i64, serde_json::Value)> {
    let (mut fuel, mut km) = (70.0f64, 12_000.0f64);
    let mut out = Vec::new();
    for (i, w) in drive.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let step = fleetd::live::geo::haversine_m(a.1, a.2, b.1, b.2);
        km += step / 1_000.0;
        fuel -= step / 1_000.0 * 0.08;
        if i == drive.len() / 2 {
            fuel = 95.0;
        }
        if i % 6 == 0 {
            let mut r = serde_json::json!({"ts": b.0, "fuel_pct": fuel.max(0.0), "odometer_km": km,
                                           "rpm": if b.3.unwrap_or(1.0) > 0.0 { 1800 } else { 0 }});
            if i % 300 == 0 {
                r["dtc"] = serde_json::json!(["P0300", format!("P0{:03}", i % 7)]);
            }
            out.push((b.0, r));
        }
    }
    out
}

fn payload(readings: &[Reading]) -> Vec<u8> {
    let items: Vec<serde_json::Value> = readings
        .iter()
        .map(|&(ts, lat, lon, speed)| match speed {
            Some(v) => serde_json::json!({"ts": ts, "lat": lat, "lon": lon, "speed_kmh": v}),
            None => serde_json::json!({"ts": ts, "lat": lat, "lon": lon}),
        })
        .collect();
    serde_json::to_vec(&items).unwrap()
}

/// Trips and stops as stored, in time order, in the machine's terms.
async fn stored(db: &tokio_postgres::Client, vehicle: &str) -> Vec<(Kind, i64, i64, i64, i64)> {
    let rows = db
        .query(
            "SELECT 't', start_ts, end_ts, decided_at, resume_at FROM trips WHERE vehicle_id = $1
             UNION ALL
             SELECT 's', start_ts, end_ts, decided_at, resume_at FROM stops WHERE vehicle_id = $1
             ORDER BY 2, 1",
            &[&vehicle],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let us = |i| r.get::<_, DateTime<Utc>>(i).timestamp_micros();
            let kind = if r.get::<_, &str>(0) == "t" {
                Kind::Trip
            } else {
                Kind::Stop
            };
            (kind, us(1), us(2), us(3), us(4))
        })
        .collect()
}

/// The batch segmentation of what is stored.
async fn expected(db: &tokio_postgres::Client, vehicle: &str) -> Vec<Segment> {
    let rows = db
        .query(
            "SELECT ts, ST_Y(position), ST_X(position), speed_kmh FROM gps_readings
              WHERE vehicle_id = $1 ORDER BY ts",
            &[&vehicle],
        )
        .await
        .unwrap();
    let fixes: Vec<Fix> = rows
        .iter()
        .map(|r| Fix {
            ts_us: r.get::<_, DateTime<Utc>>(0).timestamp_micros(),
            lat: r.get(1),
            lon: r.get(2),
            speed_kmh: r.get(3),
            ignition: None,
        })
        .collect();
    batch::segment(&Params::default(), &fixes, now_ms() * 1_000)
}

fn brief(segs: &[Segment]) -> Vec<(Kind, i64, i64, i64, i64)> {
    let mut v: Vec<_> = segs
        .iter()
        .map(|s| {
            (
                s.kind,
                s.start.ts_us,
                s.end.ts_us,
                s.decided_us,
                s.resume_us,
            )
        })
        .collect();
    v.sort_by_key(|s| (s.1, s.0 == Kind::Trip));
    v
}

/// Waits until every mark is folded and no vehicle has readings left to segment.
async fn wait_settled(db: &tokio_postgres::Client) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let row = db
            .query_one(
                "SELECT (SELECT count(*) FROM segment_marks),
                        (SELECT count(*) FROM segment_state
                          WHERE dirty_from IS NOT NULL OR obd_dirty_from IS NOT NULL)",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) == 0 && row.get::<_, i64>(1) == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the segmenter never caught up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn assert_exact(db: &tokio_postgres::Client) {
    for v in 0..VEHICLES {
        let id = format!("trip-{v}");
        let want = expected(db, &id).await;
        assert!(
            want.iter().filter(|s| s.kind == Kind::Trip).count() >= 8,
            "{id}: the drive should make trips: {want:?}"
        );
        assert_eq!(stored(db, &id).await, brief(&want), "{id}");
        // The figures too: distance, readings, path.
        let trips = db
            .query(
                "SELECT start_ts, distance_m, readings, ST_NPoints(path), moving_s, idle_s
                   FROM trips WHERE vehicle_id = $1 ORDER BY start_ts",
                &[&id],
            )
            .await
            .unwrap();
        let want_trips: Vec<_> = want.iter().filter(|s| s.kind == Kind::Trip).collect();
        for (row, w) in trips.iter().zip(&want_trips) {
            let st = w.stats.unwrap();
            assert_eq!(row.get::<_, f64>(1), st.distance_m, "{id} distance");
            assert_eq!(row.get::<_, i32>(2) as u32, st.readings, "{id} readings");
            assert!(row.get::<_, i32>(3) >= 2, "{id} path");
            assert_eq!(row.get::<_, f64>(4), st.moving_us as f64 / 1e6);
        }
    }
}

/// The trip and stop events, folded in id order (the latest `*.completed` of each id, less
/// the `*.discarded`), give exactly the stored trips and stops, figures and all.
async fn assert_events_fold(db: &tokio_postgres::Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while db
        .query_one("SELECT count(*) FROM event_outbox", &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(Instant::now() < deadline, "events never numbered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut folded: std::collections::BTreeMap<(String, String), serde_json::Value> =
        Default::default();
    let events = db
        .query(
            "SELECT type, aggregate_type, aggregate_id, payload FROM events
              WHERE aggregate_type IN ('trip', 'stop') ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert!(!events.is_empty());
    for e in &events {
        let (kind, aggregate, id): (&str, String, String) = (e.get(0), e.get(1), e.get(2));
        let payload: serde_json::Value = e.get(3);
        match kind.split_once('.').unwrap().1 {
            "completed" => {
                let body = payload[&aggregate].clone();
                assert_eq!(body["id"].to_string(), id, "{payload}");
                folded.insert((aggregate, id), body);
            }
            "discarded" => {
                assert!(folded.remove(&(aggregate, id)).is_some(), "{payload}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    let rows = db
        .query(
            "SELECT 'trip', id::text, trip_json(t) FROM trips t
             UNION ALL SELECT 'stop', id::text, stop_json(s) FROM stops s",
            &[],
        )
        .await
        .unwrap();
    let stored: std::collections::BTreeMap<(String, String), serde_json::Value> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    assert_eq!(folded.len(), stored.len());
    assert!(folded == stored, "the events' fold differs from the tables");
}

/// The rollups and the trips' OBD figures equal a recomputation over every stored reading
/// at once (sums to 1e-9: the additions happened in another order).
async fn assert_rollups(db: &tokio_postgres::Client) {
    db.batch_execute(
        "DROP TABLE IF EXISTS pg_temp.brute;
         CREATE TEMP TABLE brute (LIKE vehicle_hourly INCLUDING ALL);",
    )
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let p = Params::default();
    // Every vehicle at once, from its first reading.
    let ids: Vec<String> = (0..VEHICLES).map(|v| format!("trip-{v}")).collect();
    let from: Vec<(&str, Option<chrono::DateTime<chrono::Utc>>)> =
        ids.iter().map(|id| (id.as_str(), None)).collect();
    use fleetd::trips::rollup::{add_gps, add_obd};
    add_gps(db, "pg_temp.brute", &from, now, &p).await.unwrap();
    add_obd(db, "pg_temp.brute", &from, now).await.unwrap();
    let cols = "vehicle_id, hour, readings, distance_m, moving_s, idle_s, max_speed_kmh, first_ts,
                ST_AsText(first_position), last_ts, ST_AsText(last_position), obd_readings,
                fuel_used_pct, odometer_min_km, odometer_max_km, dtc_codes";
    let order = "ORDER BY vehicle_id, hour";
    let got = db
        .query(&format!("SELECT {cols} FROM vehicle_hourly {order}"), &[])
        .await
        .unwrap();
    let want = db
        .query(&format!("SELECT {cols} FROM pg_temp.brute {order}"), &[])
        .await
        .unwrap();
    assert_eq!(got.len(), want.len(), "hours");
    assert!(got.len() > 4 * VEHICLES, "{} hours", got.len());
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        (a, b) => a == b,
    };
    for (g, w) in got.iter().zip(&want) {
        let key = format!("{} {:?}", g.get::<_, &str>(0), g.get::<_, DateTime<Utc>>(1));
        for i in [0, 1, 2, 7, 8, 9, 10, 11] {
            assert_eq!(
                format!("{:?}", row_text(g, i)),
                format!("{:?}", row_text(w, i)),
                "{key} column {i}"
            );
        }
        for i in [3, 4, 5, 6, 12, 13, 14] {
            assert!(
                close(g.get(i), w.get(i)),
                "{key} column {i}: {:?} vs {:?}",
                g.get::<_, Option<f64>>(i),
                w.get::<_, Option<f64>>(i)
            );
        }
        assert_eq!(
            g.get::<_, Vec<String>>(15),
            w.get::<_, Vec<String>>(15),
            "{key} codes"
        );
    }
    assert!(
        want.iter().any(|r| !r.get::<_, Vec<String>>(15).is_empty()),
        "the drive reports trouble codes"
    );
    // Days: the sums of their hours.
    let days = db
        .query(
            "SELECT d.vehicle_id, d.day, d.readings, b.readings, d.distance_m, b.distance_m,
                    d.fuel_used_pct, b.fuel, d.dtc_count, b.codes
               FROM vehicle_daily d FULL JOIN (
                    SELECT vehicle_id, (hour AT TIME ZONE 'UTC')::date AS day,
                           sum(readings)::int AS readings, sum(distance_m) AS distance_m,
                           sum(fuel_used_pct) AS fuel,
                           (SELECT count(DISTINCT c)::int FROM pg_temp.brute b2, unnest(b2.dtc_codes) c
                             WHERE b2.vehicle_id = b.vehicle_id
                               AND (b2.hour AT TIME ZONE 'UTC')::date = (b.hour AT TIME ZONE 'UTC')::date) AS codes
                      FROM pg_temp.brute b GROUP BY vehicle_id, (hour AT TIME ZONE 'UTC')::date, 6
               ) b USING (vehicle_id, day)",
            &[],
        )
        .await
        .unwrap();
    assert!(!days.is_empty());
    for d in &days {
        assert_eq!(
            d.get::<_, Option<i32>>(2),
            d.get::<_, Option<i32>>(3),
            "day readings"
        );
        assert!(close(d.get(4), d.get(5)), "day distance");
        assert!(close(d.get(6), d.get(7)), "day fuel");
        assert_eq!(
            d.get::<_, Option<i32>>(8),
            d.get::<_, Option<i32>>(9),
            "day codes"
        );
    }
    // Each trip's fuel and odometer: what its OBD readings say now.
    let off = db
        .query(
            "SELECT t.id FROM trips t,
                    LATERAL (SELECT sum(GREATEST(prev - f, 0))::float8 AS fuel FROM (
                                SELECT fuel_pct::float8 AS f,
                                       lag(fuel_pct::float8) OVER (ORDER BY ts) AS prev
                                  FROM obd_readings o
                                 WHERE o.vehicle_id = t.vehicle_id AND o.ts BETWEEN t.start_ts AND t.end_ts
                                   AND fuel_pct IS NOT NULL) x) f,
                    LATERAL (SELECT max(odometer_km) - min(odometer_km) AS km FROM obd_readings o
                              WHERE o.vehicle_id = t.vehicle_id AND o.ts BETWEEN t.start_ts AND t.end_ts) k
              WHERE t.fuel_used_pct IS DISTINCT FROM f.fuel OR t.odometer_delta_km IS DISTINCT FROM k.km",
            &[],
        )
        .await
        .unwrap();
    assert!(off.is_empty(), "{} trips with stale OBD figures", off.len());
}

fn row_text(r: &tokio_postgres::Row, i: usize) -> String {
    match i {
        0 | 8 | 10 => format!("{:?}", r.get::<_, Option<String>>(i)),
        1 | 7 | 9 => format!("{:?}", r.get::<_, Option<DateTime<Utc>>>(i)),
        _ => format!("{:?}", r.get::<_, i32>(i)),
    }
}

/// Two daemons share the subscription (a vehicle's consecutive readings reach either), the
/// readings arrive shuffled in small batches, one daemon is killed with -9 halfway and
/// restarted; then a late reading lands inside a settled trip. Each time, the stored trips
/// and stops equal the batch segmentation of the stored readings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_shuffled_arrival_kill_9_and_a_late_reading_equal_batch() {
    shuffled_arrival_kill_9_and_a_late_reading_equal_batch(false).await
}

/// The same with three nodes sharing a NATS JetStream consumer (issue 18): the killed node's
/// readings go to the others after `ack_wait`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_jetstream_nodes_shuffled_arrival_kill_9_and_a_late_reading_equal_batch() {
    shuffled_arrival_kill_9_and_a_late_reading_equal_batch(true).await
}

async fn shuffled_arrival_kill_9_and_a_late_reading_equal_batch(jetstream: bool) {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let nats = jetstream.then(|| crate::common::nats::NatsCluster::start(3));
    let mut cfg = config(&db, &broker);
    cfg.mqtt.subscription = SubscriptionMode::Shared;
    cfg.trips.settle_s = 0;
    cfg.trips.interval_ms = 100;
    cfg.trips.batch_vehicles = 2;
    let mut extra = vec![
        ("FLEETD_TRIPS_SETTLE_S", "0".to_string()),
        ("FLEETD_TRIPS_INTERVAL_MS", "100".into()),
        ("FLEETD_TRIPS_BATCH_VEHICLES", "2".into()),
    ];
    if let Some(nats) = &nats {
        cfg.ingest.source = fleetd::config::IngestSource::Jetstream;
        cfg.jetstream.urls = nats.client_url();
        cfg.jetstream.replicas = 3;
        cfg.jetstream.ack_wait_ms = 2_000;
        cfg.mqtt.url = format!("mqtt://127.0.0.1:{}", nats.mqtt_port(0));
        extra.extend([
            ("FLEETD_INGEST_SOURCE", "jetstream".to_string()),
            ("FLEETD_JETSTREAM_URLS", nats.client_url()),
            ("FLEETD_JETSTREAM_REPLICAS", "3".into()),
            ("FLEETD_JETSTREAM_ACK_WAIT_MS", "2000".into()),
        ]);
    }
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let child = ChildDaemon::start_with(&cfg, &extra).await;
    let mut cfg_b = cfg.clone();
    cfg_b.mqtt.client_id = format!("{}b", cfg.mqtt.client_id);
    let inproc = InProcess::start(cfg_b.clone()).await;
    // On JetStream, a third node.
    let third = match jetstream {
        true => {
            cfg_b.mqtt.client_id = format!("{}c", cfg.mqtt.client_id);
            Some(InProcess::start(cfg_b).await)
        }
        false => None,
    };

    // Chunks of 1–12 readings per vehicle, shuffled across the whole day.
    let mut chunks: Vec<(String, Vec<Reading>)> = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let drives: Vec<_> = (0..VEHICLES).map(drive).collect();
    let mut obd_chunks: Vec<(String, Vec<u8>)> = Vec::new();
    let mut obd_total = 0;
    for (v, readings) in drives.iter().enumerate() {
        let o = obd(readings);
        obd_total += o.len();
        for c in o.chunks(7) {
            let items: Vec<_> = c.iter().map(|(_, j)| j.clone()).collect();
            obd_chunks.push((
                format!("fleet/trip-{v}/obd"),
                serde_json::to_vec(&items).unwrap(),
            ));
        }
    }
    for (v, readings) in drives.iter().enumerate() {
        let mut rest = &readings[..];
        while !rest.is_empty() {
            let n = (1 + rand(12)).min(rest.len());
            chunks.push((format!("fleet/trip-{v}/gps"), rest[..n].to_vec()));
            rest = &rest[n..];
        }
    }
    // Mostly in order, with every chunk swapped with one up to 40 places later.
    for i in 0..chunks.len() {
        let j = (i + rand(40)).min(chunks.len() - 1);
        chunks.swap(i, j);
    }
    let publisher = match &nats {
        Some(nats) => Publisher::connect_port(nats.mqtt_port(1)).await,
        None => Publisher::connect(&broker).await,
    };
    let half = chunks.len() / 2;
    let mut obd_sent = 0;
    for (i, (topic, readings)) in chunks[..half].iter().enumerate() {
        publisher.publish(topic, payload(readings)).await;
        // OBD interleaved, in reverse order of time.
        if i % 3 == 0 {
            if let Some((topic, body)) = obd_chunks.pop() {
                publisher.publish(&topic, body).await;
                obd_sent += 1;
            }
        }
    }
    publisher.wait_acked(half + obd_sent).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill9();
    let child = ChildDaemon::start_with(&cfg, &extra).await;
    for (topic, readings) in &chunks[half..] {
        publisher.publish(topic, payload(readings)).await;
    }
    let rest = obd_chunks.len();
    for (topic, body) in obd_chunks.drain(..) {
        publisher.publish(&topic, body).await;
    }
    publisher.wait_acked(chunks.len() + obd_sent + rest).await;

    let client = db.client().await;
    let total: usize = drives.iter().map(Vec::len).sum();
    crate::common::wait_count(&client, "SELECT count(*) FROM gps_readings", total as i64).await;
    crate::common::wait_count(
        &client,
        "SELECT count(*) FROM obd_readings",
        obd_total as i64,
    )
    .await;
    wait_settled(&client).await;
    assert_exact(&client).await;
    assert_rollups(&client).await;
    assert_events_fold(&client).await;

    // A late reading 1 km off in the middle of the first trip's first half: the trip
    // changes, and so must anything settled after it.
    let first = &drives[0];
    let trip = client
        .query_one(
            "SELECT start_ts, end_ts FROM trips WHERE vehicle_id = 'trip-0' ORDER BY start_ts LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let (start, end): (DateTime<Utc>, DateTime<Utc>) = (trip.get(0), trip.get(1));
    let mid = (start.timestamp_millis() + end.timestamp_millis()) / 2 + 1;
    let base = first.iter().find(|r| r.0 >= mid).unwrap();
    let km = "SELECT sum(distance_m) FROM trips WHERE vehicle_id = 'trip-0'";
    let before: f64 = client.query_one(km, &[]).await.unwrap().get(0);
    publisher
        .publish(
            "fleet/trip-0/gps",
            payload(&[(mid, base.1 + 0.009, base.2, Some(50.0))]),
        )
        .await;
    crate::common::wait_count(
        &client,
        "SELECT count(*) FROM gps_readings",
        total as i64 + 1,
    )
    .await;
    wait_settled(&client).await;
    assert_exact(&client).await;
    assert_rollups(&client).await;
    assert_events_fold(&client).await;
    let after: f64 = client.query_one(km, &[]).await.unwrap().get(0);
    assert!(
        after > before + 1_000.0,
        "a 1 km detour added {} m",
        after - before
    );

    // The daemons counted their work: lags observed, late readings re-segmented.
    let mut lags = 0.0;
    let mut redone = 0.0;
    let third_addr = third.as_ref().map(|d| d.addr);
    for addr in [inproc.addr, child.addr].into_iter().chain(third_addr) {
        lags += metric(addr, "fleetd_trips_lag_seconds_count", "").await;
        redone += metric(addr, "fleetd_trips_redone_total", "").await;
    }
    assert!(lags > 0.0 && redone > 0.0, "lags {lags}, redone {redone}");

    inproc.shutdown().await;
    if let Some(third) = third {
        third.shutdown().await;
    }
    drop(child);
}
