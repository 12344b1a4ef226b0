//! Stored trips and stops = `fleetd::trips::batch::segment` over the stored readings.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fleetd::config::SubscriptionMode;
use fleetd::trips::machine::{Kind, Segment};
use fleetd::trips::{batch, Fix, Params};

use crate::common::{config, now_ms, Broker, ChildDaemon, InProcess, Publisher, TestDb};

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

/// Two daemons share the subscription (a vehicle's consecutive readings reach either), the
/// readings arrive shuffled in small batches, one daemon is killed with -9 halfway and
/// restarted; then a late reading lands inside a settled trip. Each time, the stored trips
/// and stops equal the batch segmentation of the stored readings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_shuffled_arrival_kill_9_and_a_late_reading_equal_batch() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let mut cfg = config(&db, &broker);
    cfg.mqtt.subscription = SubscriptionMode::Shared;
    cfg.trips.settle_s = 0;
    cfg.trips.interval_ms = 100;
    cfg.trips.batch_vehicles = 2;
    let extra = [
        ("FLEETD_TRIPS_SETTLE_S", "0"),
        ("FLEETD_TRIPS_INTERVAL_MS", "100"),
        ("FLEETD_TRIPS_BATCH_VEHICLES", "2"),
    ];
    let child = ChildDaemon::start_with(&cfg, &extra).await;
    let mut cfg_b = cfg.clone();
    cfg_b.mqtt.client_id = format!("{}b", cfg.mqtt.client_id);
    let inproc = InProcess::start(cfg_b).await;

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
    let publisher = Publisher::connect(&broker).await;
    let half = chunks.len() / 2;
    for (topic, readings) in &chunks[..half] {
        publisher.publish(topic, payload(readings)).await;
    }
    publisher.wait_acked(half).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill9();
    let child = ChildDaemon::start_with(&cfg, &extra).await;
    for (topic, readings) in &chunks[half..] {
        publisher.publish(topic, payload(readings)).await;
    }
    publisher.wait_acked(chunks.len()).await;

    let client = db.client().await;
    let total: usize = drives.iter().map(Vec::len).sum();
    crate::common::wait_count(&client, "SELECT count(*) FROM gps_readings", total as i64).await;
    wait_settled(&client).await;
    assert_exact(&client).await;

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
    let after: f64 = client.query_one(km, &[]).await.unwrap().get(0);
    assert!(
        after > before + 1_000.0,
        "a 1 km detour added {} m",
        after - before
    );

    inproc.shutdown().await;
    drop(child);
}
