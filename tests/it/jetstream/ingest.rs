//! fleetd with `ingest.source = "jetstream"`: trackers publish MQTT QoS 1 to nats-server, the
//! stream keeps the readings, and fleetd nodes share one durable consumer.
//!
//! - one node stores every reading once and acknowledges only after the commit: with the
//!   database away the stream holds them unacknowledged, and they are stored when it returns;
//! - two nodes share the work; one killed with -9 while it holds readings in memory loses
//!   nothing: the servers give them to the other node after `ack_wait`, stored once;
//! - every node's live index sees every vehicle, whichever node stored its readings.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fleetd::config::{Config, IngestSource, Secret};
use serde_json::json;

use crate::common::nats::NatsCluster;
use crate::common::*;

/// A daemon configuration reading from `nats` (no Mosquitto involved).
pub(super) fn js_config(db: &TestDb, nats: &NatsCluster, replicas: u64) -> Config {
    let mut c = Config::default();
    c.database.url = Secret::new(db.url.clone());
    c.http.addr = "127.0.0.1:0".into();
    c.redis.url = String::new();
    c.ingest.source = IngestSource::Jetstream;
    c.ingest.batch_age_ms = 20;
    c.ingest.retry_min_ms = 20;
    c.ingest.retry_max_ms = 200;
    c.ingest.unknown_vehicles = fleetd::config::UnknownVehicles::Store;
    c.jetstream.urls = nats.client_url();
    c.jetstream.replicas = replicas;
    // nats-server's MQTT listener: fleetd connects once to make it create `$MQTT_msgs`.
    c.mqtt.url = format!("mqtt://127.0.0.1:{}", nats.mqtt_port(0));
    c.jetstream.name = format!("t{:x}", rand::random::<u32>());
    c.shutdown.timeout_s = 10;
    c.rules.interval_s = 3_600;
    c.validate().unwrap();
    c
}

/// The variables that make a child daemon of `c` read from JetStream.
fn js_env(c: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("FLEETD_INGEST_SOURCE", "jetstream".into()),
        ("FLEETD_JETSTREAM_URLS", c.jetstream.urls.clone()),
        (
            "FLEETD_JETSTREAM_REPLICAS",
            c.jetstream.replicas.to_string(),
        ),
        (
            "FLEETD_JETSTREAM_ACK_WAIT_MS",
            c.jetstream.ack_wait_ms.to_string(),
        ),
        ("FLEETD_JETSTREAM_NAME", c.jetstream.name.clone()),
    ]
}

async fn child(c: &Config, extra: &[(&'static str, String)]) -> ChildDaemon {
    let mut vars = js_env(c);
    vars.extend(extra.iter().cloned());
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ChildDaemon::start_with(c, &vars).await
}

/// Publishes one GPS reading per message for `vehicles` × `per_vehicle`, at QoS 1 to the
/// MQTT listener at `port`, and waits for every PUBACK. Returns the readings by vehicle.
async fn publish(port: u16, vehicles: usize, per_vehicle: i64, t0: i64) -> BTreeMap<String, i64> {
    let p = Publisher::connect_port(port).await;
    let mut sent = BTreeMap::new();
    for i in 0..per_vehicle {
        for v in 0..vehicles {
            let id = format!("js-{v}");
            let body = json!({"ts": t0 + i * 1_000, "lat": 48.0 + v as f64 * 0.01, "lon": 11.0 + i as f64 * 0.001});
            p.publish(&format!("fleet/{id}/gps"), body.to_string())
                .await;
            *sent.entry(id).or_insert(0) += 1;
        }
    }
    p.wait_acked(vehicles * per_vehicle as usize).await;
    sent
}

/// Every stored reading once: (rows, distinct (vehicle, ts)).
pub(super) async fn stored(sql: &tokio_postgres::Client) -> (i64, i64) {
    let r = sql
        .query_one(
            "SELECT count(*), count(DISTINCT (vehicle_id, ts)) FROM gps_readings",
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

/// The shared consumer's counts: (delivered and unacknowledged, not yet delivered); `None`
/// while the servers do not answer (a node just restarted, an election).
pub(super) async fn consumer_state(nats: &NatsCluster) -> Option<(usize, u64)> {
    let client = async_nats::connect(nats.client_urls()).await.ok()?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("$MQTT_msgs").await.ok()?;
    let info = stream.consumer_info("fleetd").await.ok()?;
    Some((info.num_ack_pending, info.num_pending))
}

pub(super) async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_are_stored_once_and_acknowledged_only_after_the_commit() {
    let nats = NatsCluster::start(1);
    let db = TestDb::create().await;
    let c = js_config(&db, &nats, 1);
    let daemon = InProcess::start(c).await;
    let sql = db.client().await;
    let t0 = now_ms() - 600_000;

    let sent = publish(nats.mqtt_port(0), 5, 40, t0).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 200).await;
    assert_eq!(stored(&sql).await, (200, 200));
    wait_for("every delivery acknowledged", || async {
        consumer_state(&nats).await == Some((0, 0))
    })
    .await;
    for (id, n) in &sent {
        let p = daemon.live.position(id).expect("in the live index");
        assert_eq!(
            p.ts,
            (t0 + (n - 1) * 1_000) * 1_000,
            "{id}: the newest reading"
        );
    }

    // The database away: readings wait in the stream, delivered but unacknowledged.
    db.take_offline().await;
    let more = publish(nats.mqtt_port(0), 2, 10, t0 + 100_000).await;
    wait_for("deliveries held", || async {
        metric(daemon.addr, "fleetd_jetstream_delivered_total", "").await >= 220.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (unacked, _) = consumer_state(&nats).await.unwrap();
    assert!(unacked > 0, "nothing may be acknowledged before its commit");
    db.bring_online().await;
    let sql = db.client().await;
    let total = 200 + more.values().sum::<i64>();
    wait_count(&sql, "SELECT count(*) FROM gps_readings", total).await;
    wait_for("every delivery acknowledged", || async {
        consumer_state(&nats).await == Some((0, 0))
    })
    .await;
    assert_eq!(stored(&sql).await, (total, total));
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_holding_readings_loses_nothing_and_the_other_stores_them_once() {
    let nats = NatsCluster::start(3);
    let db = TestDb::create().await;
    let mut c = js_config(&db, &nats, 3);
    // The killed node's deliveries go to the other after 2 s.
    c.jetstream.ack_wait_ms = 2_000;
    // The first node holds what it takes in memory: it never commits before the kill.
    let hoarder = child(
        &c,
        &[
            ("FLEETD_INGEST_BATCH_AGE_MS", "60000".into()),
            ("FLEETD_INGEST_BATCH_ROWS", "1000000".into()),
        ],
    )
    .await;
    let sql = db.client().await;
    let t0 = now_ms() - 600_000;
    let sent = publish(nats.mqtt_port(1), 4, 50, t0).await;
    let total: i64 = sent.values().sum();
    wait_for("the hoarder holds deliveries", || async {
        metric(hoarder.addr, "fleetd_jetstream_delivered_total", "").await > 0.0
    })
    .await;
    let held = metric(hoarder.addr, "fleetd_jetstream_delivered_total", "").await;
    assert_eq!(stored(&sql).await, (0, 0));
    hoarder.kill9();

    let worker = child(&c, &[]).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", total).await;
    assert_eq!(stored(&sql).await, (total, total));
    wait_for("every delivery acknowledged", || async {
        consumer_state(&nats).await == Some((0, 0))
    })
    .await;
    let redelivered = metric(worker.addr, "fleetd_jetstream_redelivered_total", "").await;
    assert!(
        redelivered >= held.min(total as f64) - 1.0 && redelivered > 0.0,
        "the killed node's {held} deliveries came again ({redelivered})"
    );
    // Nothing stored twice after the dust settles.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(stored(&sql).await, (total, total));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nodes_live_index_sees_every_vehicle() {
    let nats = NatsCluster::start(1);
    let db = TestDb::create().await;
    let c = js_config(&db, &nats, 1);
    let a = InProcess::start(c.clone()).await;
    let b = InProcess::start(c).await;
    let sql = db.client().await;
    let t0 = now_ms() - 600_000;
    let sent = publish(nats.mqtt_port(0), 30, 20, t0).await;
    let total: i64 = sent.values().sum();
    wait_count(&sql, "SELECT count(*) FROM gps_readings", total).await;
    let (da, db_) = (
        metric(a.addr, "fleetd_jetstream_delivered_total", "").await,
        metric(b.addr, "fleetd_jetstream_delivered_total", "").await,
    );
    assert_eq!(da + db_, total as f64, "each reading delivered to one node");
    for node in [&a, &b] {
        wait_for("the whole fleet in the node's index", || async {
            sent.iter().all(|(id, n)| {
                node.live
                    .position(id)
                    .is_some_and(|p| p.ts == (t0 + (n - 1) * 1_000) * 1_000)
            })
        })
        .await;
    }
    let shared = metric(a.addr, "fleetd_live_shared_received_total", "").await
        + metric(b.addr, "fleetd_live_shared_received_total", "").await;
    assert!(shared > 0.0, "positions travelled between the nodes");
    a.shutdown().await;
    b.shutdown().await;
}
