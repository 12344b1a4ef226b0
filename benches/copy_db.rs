//! The write paths side by side on a real PostgreSQL/PostGIS, same rows, same run:
//! - `copy`: fleetd's fast path, binary COPY into the partitioned table;
//! - `staged`: the deduplicating path, COPY into a temp table + INSERT … ON CONFLICT DO NOTHING;
//! - `staged_all_dup`: the same when every row is already stored (a full redelivery);
//! - `insert_rows`: the naive baseline, one autocommit INSERT per reading.
//!
//! `FLEETD_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench copy_db`
//! (creates and drops its own database). `FLEETD_BENCH_ROWS` sets the size (default 200,000).

use std::time::Instant;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};

use fleetd::ingest::copy;
use fleetd::ingest::reading::GpsReading;

const DAY_US: i64 = 86_400_000_000;

async fn connect(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    c
}

fn rows(n: usize, t0: i64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(n * 90);
    for i in 0..n {
        let r = GpsReading {
            ts: t0 + (i / 1000) as i64 * 1_000_000,
            lat: 52.0 + (i % 1000) as f64 * 1e-4,
            lon: 13.0,
            speed_kmh: Some(40.0),
            heading_deg: Some(90.0),
            alt_m: None,
            accuracy_m: Some(5.0),
        };
        copy::gps_tuple(&mut buf, &format!("veh-{:06}", i % 1000), &r, t0);
    }
    buf
}

async fn copy_in(c: &Client, stmt: &str, tuples: &[u8], chunk_rows: usize, per_row: usize) -> u64 {
    let mut total = 0;
    for part in tuples.chunks(chunk_rows * per_row) {
        let mut buf = Vec::with_capacity(part.len() + 32);
        copy::header(&mut buf);
        buf.extend_from_slice(part);
        copy::trailer(&mut buf);
        let sink = c.copy_in::<_, Bytes>(stmt).await.unwrap();
        futures_util::pin_mut!(sink);
        sink.send(Bytes::from(buf)).await.unwrap();
        total += sink.finish().await.unwrap();
    }
    total
}

/// COPY into the staging table, then INSERT … ON CONFLICT DO NOTHING, chunk by chunk.
async fn staged(c: &Client, tuples: &[u8], chunk: usize, per_row: usize) -> u64 {
    let mut stored = 0;
    for part in tuples.chunks(chunk * per_row) {
        copy_in(c, copy::COPY_GPS_STAGE, part, chunk, per_row).await;
        stored += c
            .execute(
                "INSERT INTO gps_readings SELECT * FROM fleetd_stage_gps ON CONFLICT DO NOTHING",
                &[],
            )
            .await
            .unwrap();
        c.batch_execute("TRUNCATE fleetd_stage_gps").await.unwrap();
    }
    stored
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Ok(admin_url) = std::env::var("FLEETD_BENCH_DATABASE_URL") else {
        eprintln!("copy_db: set FLEETD_BENCH_DATABASE_URL to run (see the file's header)");
        return;
    };
    let n: usize = std::env::var("FLEETD_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let admin = connect(&admin_url).await;
    let name = format!("fleetd_bench_{:x}", rand::random::<u32>());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    let mut c = connect(url.as_str()).await;
    fleetd::migrate::migrate(&mut c).await.unwrap();

    let t0 = (fleetd::ingest::decoders::now_us() / DAY_US) * DAY_US + 3_600_000_000;
    let day = t0 / DAY_US;
    let date = chrono::DateTime::from_timestamp(day * 86_400, 0)
        .unwrap()
        .date_naive();
    let next = date.succ_opt().unwrap();
    c.batch_execute(&format!(
        "CREATE TABLE gps_readings_bench PARTITION OF gps_readings
           FOR VALUES FROM ('{date} 00:00:00+00') TO ('{next} 00:00:00+00');
         CREATE TEMP TABLE fleetd_stage_gps (LIKE gps_readings);"
    ))
    .await
    .unwrap();

    let tuples = rows(n, t0);
    let per_row = tuples.len() / n;
    let chunk = 10_000;
    let mut results = Vec::new();

    let t = Instant::now();
    let stored = copy_in(&c, copy::COPY_GPS, &tuples, chunk, per_row).await;
    results.push(("copy", stored, t.elapsed()));
    c.batch_execute("TRUNCATE gps_readings").await.unwrap();

    // The deduplicating path, first into an empty table, then with every row already stored.
    for path in ["staged", "staged_all_dup"] {
        let t = Instant::now();
        let stored = staged(&c, &tuples, chunk, per_row).await;
        results.push((path, stored, t.elapsed()));
    }
    c.batch_execute("TRUNCATE gps_readings").await.unwrap();

    // The naive baseline is slow: measure a tenth of the rows.
    let naive = (n / 10).max(1);
    let stmt = c
        .prepare(
            "INSERT INTO gps_readings VALUES ($1, to_timestamp($2), ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, $6, NULL, $7, now())",
        )
        .await
        .unwrap();
    let t = Instant::now();
    for i in 0..naive {
        let ts = (t0 + (i / 1000) as i64 * 1_000_000) as f64 / 1e6;
        c.execute(
            &stmt,
            &[
                &format!("veh-{:06}", i % 1000),
                &ts,
                &13.0f64,
                &(52.0 + (i % 1000) as f64 * 1e-4),
                &40.0f32,
                &90.0f32,
                &5.0f32,
            ],
        )
        .await
        .unwrap();
    }
    results.push(("insert_rows", naive as u64, t.elapsed()));

    let base = results[0].1 as f64 / results[0].2.as_secs_f64();
    println!(
        "{:<16} {:>10} {:>10} {:>14} {:>8}",
        "path", "rows", "stored", "rows/s", "vs copy"
    );
    for (path, stored, took) in &results {
        let sent = if *path == "insert_rows" { naive } else { n };
        let rate = sent as f64 / took.as_secs_f64();
        println!(
            "{path:<16} {sent:>10} {stored:>10} {rate:>14.0} {:>8.2}",
            rate / base
        );
    }
    drop(c);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}
