//! The scale-out drills at small size: readings published to a three-node NATS cluster while
//! two fleetd nodes take them, and one fault each — a NATS node killed with -9 (the leader of
//! `$MQTT_msgs` when the tracker is not on it), or every fleetd node restarted in turn. Then
//! every PUBACKed reading is stored exactly once and the consumer holds nothing.

use std::time::Duration;

use serde_json::json;

use super::ingest::{consumer_state, js_config, stored, wait_for};
use super::tracker::Tracker;
use crate::common::nats::NatsCluster;
use crate::common::*;

/// Publishes `n` readings of `vehicles` vehicles over about `seconds`, from a QoS 1 tracker
/// (a persistent session: what a lost connection left unacknowledged is sent again) on the
/// MQTT listener at `port`; returns the publisher (to wait for its PUBACKs).
fn pace(
    port: u16,
    vehicles: usize,
    n: usize,
    seconds: f64,
    t0: i64,
) -> tokio::task::JoinHandle<Publisher> {
    tokio::spawn(async move {
        let p = Publisher::tracker(port).await;
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
    let mut stream = js.get_stream("$MQTT_msgs").await.ok()?;
    let info = stream.info().await.ok()?;
    info.cluster.as_ref()?.leader.clone()
}

/// A tracker publishing as fast as its window allows, a NATS node killed after 600 PUBACKs:
/// every reading the tracker was told is stored (PUBACKed) is stored, once. The tracker keeps
/// no session and does not reconnect (`super::tracker`): what the servers refused or never
/// answered is the tracker's to send again, and nothing here is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_node_killed_under_load_loses_no_pubacked_reading_and_duplicates_nothing() {
    let mut nats = NatsCluster::start(3);
    let db = TestDb::create().await;
    let mut c = js_config(&db, &nats, 3);
    // A delivery or an ack lost with the killed server comes again after 2 s.
    c.jetstream.ack_wait_ms = 2_000;
    let a = InProcess::start(c.clone()).await;
    let b = InProcess::start(c).await;
    let sql = db.client().await;
    let n = 3_000u32;
    let t0 = now_ms() - 600_000;
    // The tracker on node 1; killed: `$MQTT_msgs`'s leader unless it is node 1.
    let leader = stream_leader(&nats)
        .await
        .expect("fleetd created its consumer");
    let victim = match nats.index_of(&leader) {
        Some(i) if i != 1 => i,
        _ => 2,
    };
    let tracker = Tracker::start(
        nats.mqtt_port(1),
        n,
        |i| format!("fleet/dr-{}/gps", i % 20),
        move |i| {
            json!({"ts": t0 + i as i64, "lat": 48.0, "lon": 11.0})
                .to_string()
                .into_bytes()
        },
    );
    wait_for("600 PUBACKs", || async { tracker.acked_count() >= 600 }).await;
    nats.kill(victim);
    let run = tracker.finish(Duration::from_secs(60)).await;
    nats.restart(victim);
    assert!(run.acked.len() >= 600, "{} PUBACKed", run.acked.len());
    let acked: Vec<i64> = run.acked.iter().map(|&i| t0 + i as i64).collect();
    let q = "SELECT count(*) FROM gps_readings
              WHERE (extract(epoch FROM ts) * 1000)::bigint = ANY($1)";
    wait_for("every PUBACKed reading stored", || async {
        let got: i64 = sql.query_one(q, &[&acked]).await.unwrap().get(0);
        got == acked.len() as i64
    })
    .await;
    wait_for("every delivery acknowledged", || async {
        consumer_state(&nats).await == Some((0, 0))
    })
    .await;
    let (rows, distinct) = stored(&sql).await;
    assert_eq!(rows, distinct, "nothing stored twice");
    assert!(
        rows >= acked.len() as i64 && rows <= run.sent as i64,
        "{rows} stored, {} PUBACKed, {} sent",
        acked.len(),
        run.sent
    );
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
        consumer_state(&nats).await == Some((0, 0))
    })
    .await;
    for node in nodes {
        node.shutdown().await;
    }
}
