//! `trips load`: days of synthetic driving (`drive`) for the sampled vehicles, stored
//! straight into `gps_readings` by binary COPY, one transaction per day with its segment
//! mark, exactly as fleetd's writers commit a batch (MQTT is not what this measures, and
//! would take hours for this many readings). After each day it waits for the running
//! fleetd's segmenter to take the day in, so a pass never loads more than a day per
//! vehicle, and it times the segmenter separately from the COPY.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::SinkExt;
use serde_json::json;
use tokio_postgres::Client;

use fleetd::ingest::copy;
use fleetd::ingest::partitions::partition_name;

use super::args::TripsLoadArgs;
use super::drive::{Driver, DAY_US};
use super::{first_day, vehicle_id};
use crate::peer::pg_connect;

const MARK: &str =
    "INSERT INTO segment_marks (vehicle_ids, gps_from, obd_from) VALUES ($1, $2, $3)";
/// Marks not yet folded, plus vehicles with readings not yet segmented.
const PENDING: &str = "SELECT (SELECT count(*) FROM segment_marks)
                            + (SELECT count(*) FROM segment_state
                                WHERE dirty_from IS NOT NULL OR obd_dirty_from IS NOT NULL)";

pub async fn run(a: TripsLoadArgs) -> anyhow::Result<()> {
    let h = &a.history;
    let db = pg_connect(&h.database_url).await?;
    let first = first_day(h)?;
    let step_us = (1e6 / a.hz).round() as i64;
    let mut drivers: Vec<Driver> = (1..=h.sampled).map(|v| Driver::new(a.seed, v)).collect();
    let ids: Vec<String> = (1..=h.sampled)
        .map(|v| vehicle_id(&h.id_prefix, v))
        .collect();
    let (mut readings, mut trips) = (0u64, 0u64);
    let (mut copy_s, mut segment_s) = (0.0, 0.0);
    for d in 0..i64::from(h.days) {
        let day = first + d;
        let day_us = day * DAY_US;
        partitions(&db, day).await?;
        let started = Instant::now();
        let (n, planned) = store_day(&db, &ids, &mut drivers, day_us, step_us).await?;
        copy_s += started.elapsed().as_secs_f64();
        readings += n;
        trips += planned;
        if !a.wait.is_zero() {
            let started = Instant::now();
            wait_for_segmenter(&db, a.wait).await?;
            segment_s += started.elapsed().as_secs_f64();
        }
        eprintln!(
            "[trips load] day {}/{}: {n} readings, {planned} trips driven",
            d + 1,
            h.days
        );
    }
    let rate = |secs: f64| (secs > 0.0).then(|| (readings as f64 / secs).round());
    println!(
        "{}",
        json!({
            "vehicles": h.sampled,
            "days": h.days,
            "hz": a.hz,
            "readings": readings,
            "trips_driven": trips,
            "copy_s": round3(copy_s),
            "copy_readings_per_s": rate(copy_s),
            "segmenter_s": round3(segment_s),
            "segmenter_readings_per_s": rate(segment_s),
        })
    );
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The day's GPS and OBD partitions, as fleetd's partition manager makes them.
async fn partitions(db: &Client, day: i64) -> anyhow::Result<()> {
    let from = day_start(day)?;
    let to = day_start(day + 1)?;
    let mut ddl = String::from("SET client_min_messages = warning;\n");
    for table in ["gps_readings", "obd_readings"] {
        ddl.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF {table} FOR VALUES FROM ('{}') TO ('{}');\n",
            partition_name(table, day)?,
            from.to_rfc3339(),
            to.to_rfc3339()
        ));
    }
    db.batch_execute(&ddl)
        .await
        .context("create the day's partitions")
}

fn day_start(day: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(day * DAY_US).context("day out of range")
}

/// One day of every vehicle in one transaction with its mark; the readings and trips driven.
async fn store_day(
    db: &Client,
    ids: &[String],
    drivers: &mut [Driver],
    day_us: i64,
    step_us: i64,
) -> anyhow::Result<(u64, u64)> {
    db.batch_execute("BEGIN").await?;
    let sink = db.copy_in::<_, Bytes>(copy::COPY_GPS).await?;
    futures_util::pin_mut!(sink);
    let (mut n, mut planned) = (0u64, 0u64);
    let mut readings = Vec::new();
    let mut from = Vec::with_capacity(ids.len());
    for (i, (id, driver)) in ids.iter().zip(drivers.iter_mut()).enumerate() {
        readings.clear();
        planned += driver.day(day_us, step_us, &mut readings).len() as u64;
        let mut buf = Vec::with_capacity(readings.len() * 96 + 32);
        if i == 0 {
            copy::header(&mut buf);
        }
        for r in &readings {
            copy::gps_tuple(&mut buf, id, r, day_us + DAY_US);
        }
        if i + 1 == ids.len() {
            copy::trailer(&mut buf);
        }
        sink.send(Bytes::from(buf)).await?;
        n += readings.len() as u64;
        from.push(
            readings
                .first()
                .and_then(|r| DateTime::from_timestamp_micros(r.ts)),
        );
    }
    sink.finish().await.context("COPY the day's readings")?;
    let none: Vec<Option<DateTime<Utc>>> = vec![None; ids.len()];
    db.execute(MARK, &[&ids, &from, &none]).await?;
    db.batch_execute("COMMIT").await?;
    Ok((n, planned))
}

async fn wait_for_segmenter(db: &Client, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let pending: i64 = db.query_one(PENDING, &[]).await?.get(0);
        if pending == 0 {
            return Ok(());
        }
        if started.elapsed() > limit {
            bail!("fleetd's segmenter did not take the day in within {limit:?} (is fleetd running with trips.enabled on this database?)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
