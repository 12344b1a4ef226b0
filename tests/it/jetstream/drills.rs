//! The scale-out drills at small size (`scripts/drills.sh cluster` runs them under fleet-sim
//! load): readings published at a steady pace to a three-node NATS cluster while two fleetd
//! nodes take them, and one fault each — a NATS node killed with -9 (the stream's leader when
//! it can be), or every fleetd node restarted in turn. Then every PUBACKed reading is stored
//! exactly once and the consumer holds nothing.

use std::time::Duration;

use serde_json::json;

use super::ingest::{consumer_state, js_config, stored, wait_for};
use crate::common::nats::NatsCluster;
use crate::common::*;

/// Publishes `n` readings of `vehicles` vehicles over about `seconds`, from a QoS 1 client on
/// node `via`'s MQTT listener; returns the publisher (to wait for its PUBACKs).
fn pace(
    port: u16,
    vehicles: usize,
    n: usize,
    seconds: f64,
    t0: i64,
) -> tokio::task::JoinHandle<Publisher> {
    tokio::spawn(async move {
        let p = Publisher::connect_port(port).await;
        let pause = Duration::from_secs_f64(seconds / n as f64);
        for i in 0..n {
            let v = i % vehicles;
            let body = json!({"ts": t0 + i as i64, "lat": 48.0 + v as f64 * 0.01, "lon": 11.0});
            p.publish(&format!("fleet/dr-{v}/gps"), body.to_string())
                .await;
            tokio::time::sleep(pause).await;
        }
        p
    })
}

async fn stream_leader(nats: &NatsCluster) -> Option<String> {
    let client = async_nats::connect(nats.client_urls()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("FLEET").await.ok()?;
    let info = stream.info().await.ok()?;
    info.cluster.as_ref()?.leader.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_node_killed_under_load_loses_nothing_and_duplicates_nothing() {
    let mut nats = NatsCluster::start(3);
    let db = TestDb::create().await;
    let c = js_config(&db, &nats, 3);
    let a = InProcess::start(c.clone()).await;
    let b = InProcess::start(c).await;
    let sql = db.client().await;
    let n = 3_000;
    let t0 = now_ms() - 600_000;
    let publishing = pace(nats.mqtt_port(1), 20, n, 4.0, t0);
    // The stream's leader, unless the trackers are connected to it (node 1).
    wait_for("the stream exists", || async {
        stream_leader(&nats).await.is_some()
    })
    .await;
    let leader = stream_leader(&nats).await.unwrap();
    let victim = match nats.index_of(&leader) {
        Some(i) if i != 1 => i,
        _ => 2,
    };
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    nats.kill(victim);
    let publisher = publishing.await.unwrap();
    publisher.wait_acked(n).await;
    nats.restart(victim);
    wait_count(&sql, "SELECT count(*) FROM gps_readings", n as i64).await;
    assert_eq!(stored(&sql).await, (n as i64, n as i64));
    wait_for("every delivery acknowledged", || async {
        consumer_state(&nats).await == (0, 0)
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_every_fleetd_node_loses_nothing_and_duplicates_nothing() {
    let nats = NatsCluster::start(3);
    let db = TestDb::create().await;
    let c = js_config(&db, &nats, 3);
    let mut nodes = vec![
        InProcess::start(c.clone()).await,
        InProcess::start(c.clone()).await,
    ];
    let sql = db.client().await;
    let n = 3_000;
    let t0 = now_ms() - 600_000;
    let publishing = pace(nats.mqtt_port(0), 20, n, 5.0, t0);
    for i in 0..nodes.len() {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let node = nodes.remove(i);
        node.shutdown().await;
        nodes.insert(i, InProcess::start(c.clone()).await);
    }
    let publisher = publishing.await.unwrap();
    publisher.wait_acked(n).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", n as i64).await;
    assert_eq!(stored(&sql).await, (n as i64, n as i64));
    wait_for("every delivery acknowledged", || async {
        consumer_state(&nats).await == (0, 0)
    })
    .await;
    for node in nodes {
        node.shutdown().await;
    }
}
