//! The end-to-end benchmark's peer processes (driven by `benches/e2e.sh`), one binary:
//!
//! - `FLEETD_BENCH_MODE=count`: subscribes to `{prefix}/#` and counts messages and readings
//!   until `FLEETD_BENCH_READINGS` readings arrived: the broker's own pass-through rate.
//! - `FLEETD_BENCH_MODE=naive`: the naive baseline most fleet backends are: one consumer that
//!   parses each message (with fleetd's own decoder, so only the write path differs) and
//!   INSERTs its readings one row at a time, autocommit, into the same tables.
//!
//! Prints one JSON line: `{"mode", "readings", "messages", "seconds", "readings_per_s"}`.
//! The clock starts at the first message and stops at the last reading.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio_postgres::NoTls;

use fleetd::ingest::decode::decode;
use fleetd::ingest::decoders::now_us;
use fleetd::ingest::reading::{Kind, Window};
use fleetd::ingest::topic::parse_topic;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() {
    let Ok(mode) = std::env::var("FLEETD_BENCH_MODE") else {
        eprintln!("e2e_peer: set FLEETD_BENCH_MODE=count|naive (see benches/e2e.sh)");
        return;
    };
    let url = url::Url::parse(&env("FLEETD_BENCH_MQTT_URL", "mqtt://127.0.0.1:1884")).unwrap();
    let want: u64 = env("FLEETD_BENCH_READINGS", "100000").parse().unwrap();
    let prefix = env("FLEETD_BENCH_PREFIX", "fleet");
    let qos = if env("FLEETD_BENCH_QOS", "1") == "0" {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };

    let db = if mode == "naive" {
        let db_url = env("FLEETD_BENCH_DATABASE_URL", "");
        // The same day partitions fleetd would create, made up front (the simulator's
        // max-rate readings reach back up to a day).
        let pool = fleetd::db::pool(&fleetd::config::DatabaseConfig {
            url: fleetd::config::Secret::new(db_url.clone()),
            ..Default::default()
        })
        .unwrap();
        fleetd::ingest::partitions::Partitions::new(pool, 30, 3, 1)
            .run_pass(now_us())
            .await
            .unwrap();
        let (c, conn) = tokio_postgres::connect(&db_url, NoTls)
            .await
            .expect("FLEETD_BENCH_DATABASE_URL");
        tokio::spawn(conn);
        Some(c)
    } else {
        None
    };
    let insert_gps = match &db {
        Some(c) => Some(
            c.prepare(
                "INSERT INTO gps_readings VALUES ($1, to_timestamp($2::float8 / 1e6),
                 ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, $6, $7, $8, now())
                 ON CONFLICT DO NOTHING",
            )
            .await
            .unwrap(),
        ),
        None => None,
    };

    let mut o = MqttOptions::new(
        format!("bench-{mode}-{:x}", rand::random::<u32>()),
        url.host_str().unwrap(),
        url.port().unwrap_or(1883),
    );
    o.set_max_packet_size(1 << 20, 1 << 20)
        .set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(o, 1000);
    client.subscribe(format!("{prefix}/#"), qos).await.unwrap();
    println!("{{\"mode\":\"{mode}\",\"ready\":true}}");

    let window = Window {
        max_future: Duration::from_secs(300),
        max_age: Duration::from_secs(30 * 86_400),
    };
    let (mut readings, mut messages) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    let idle_limit = Duration::from_secs(30);
    while readings < want {
        let event = match tokio::time::timeout(idle_limit, eventloop.poll()).await {
            Ok(e) => e,
            Err(_) => break, // nothing for 30 s: the publisher is done
        };
        let Ok(Event::Incoming(Packet::Publish(p))) = event else {
            continue;
        };
        first.get_or_insert_with(Instant::now);
        messages += 1;
        let Ok((vehicle, kind)) = parse_topic(&prefix, &p.topic) else {
            continue;
        };
        let decoded = decode(kind, &p.payload, now_us(), &window);
        readings += (decoded.gps.len() + decoded.obd.len() + decoded.rejects.len()) as u64;
        if let (Some(c), Some(stmt), Kind::Gps) = (&db, &insert_gps, kind) {
            for r in &decoded.gps {
                c.execute(
                    stmt,
                    &[
                        &vehicle,
                        &(r.ts as f64),
                        &r.lon,
                        &r.lat,
                        &r.speed_kmh,
                        &r.heading_deg,
                        &r.alt_m,
                        &r.accuracy_m,
                    ],
                )
                .await
                .unwrap();
            }
        }
    }
    let seconds = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0);
    println!(
        "{{\"mode\":\"{mode}\",\"readings\":{readings},\"messages\":{messages},\"seconds\":{seconds:.3},\"readings_per_s\":{:.0}}}",
        readings as f64 / seconds.max(1e-9)
    );
}
