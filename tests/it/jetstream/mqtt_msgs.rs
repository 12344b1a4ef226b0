//! A configuration that does keep every PUBACKed reading: a durable consumer on MQTT's own
//! stream `$MQTT_msgs` instead of a stream of our own.
//!
//! nats-server 2.9.10 PUBACKs a QoS 1 PUBLISH only after storing it in `$MQTT_msgs`
//! (subject `$MQTT.msgs.<subject>`, replicated `mqtt.stream_replicas` times) and getting that
//! store's acknowledgement. `$MQTT_msgs` has interest retention: it keeps a message while a
//! consumer whose filter matches has not acknowledged it, and drops it at once when no
//! consumer matches. So a durable consumer filtered on `$MQTT.msgs.fleet.>`, created before
//! the trackers publish, turns the PUBACK into "stored on a majority, kept until fleetd
//! acks". The price: `$MQTT_msgs` and its subject prefix are nats-server's internals (the
//! same from 2.2 to 2.12, but not a documented API), and fleetd would read subjects
//! `$MQTT.msgs.fleet.{id}.gps`.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

use super::tracker::Tracker;
use super::{leader_of, publish_qos1, settled};
use crate::common::nats::NatsCluster;

const READINGS: u32 = 2_000;
const KILL_AFTER_ACKS: usize = 600;

/// Every message the consumer holds, acked: reading number -> times delivered from distinct
/// stream sequences.
async fn drain(consumer: &consumer::PullConsumer) -> HashMap<u32, usize> {
    let mut seen: HashMap<u32, std::collections::HashSet<u64>> = HashMap::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        let mut got = 0;
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            let seq = m.info().unwrap().stream_sequence;
            let payload = String::from_utf8_lossy(&m.payload).into_owned();
            let n: u32 = payload.strip_prefix("mqtt:").unwrap().parse().unwrap();
            seen.entry(n).or_default().insert(seq);
            m.ack().await.unwrap();
            got += 1;
        }
        if got == 0 {
            return seen.into_iter().map(|(n, seqs)| (n, seqs.len())).collect();
        }
    }
}

/// `$MQTT_msgs`'s leader is killed right after a burst of PUBACKs, the tracker being on
/// another node. Measured: the tracker's connection is closed within the store's 4 s
/// timeout (no PUBACK while the stream has no leader); every PUBACKed reading is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_durable_consumer_on_mqtt_msgs_keeps_every_pubacked_reading() {
    let mut nats = tokio::task::block_in_place(|| NatsCluster::start(3));
    let js = jetstream::new(async_nats::connect(nats.client_urls()).await.unwrap());
    publish_qos1(nats.mqtt_port(0), "warmup/0", b"")
        .await
        .unwrap();
    let leader = nats.index_of(&leader_of(&js, "$MQTT_msgs").await).unwrap();
    let stream = js.get_stream("$MQTT_msgs").await.unwrap();
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("fleetd".into()),
            filter_subject: "$MQTT.msgs.fleet.>".into(),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();

    let tracker = Tracker::start(
        nats.mqtt_port((leader + 1) % 3),
        READINGS,
        |i| format!("fleet/v-{}/gps", i % 50),
        |i| format!("mqtt:{i}").into_bytes(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while tracker.acked_count() < KILL_AFTER_ACKS {
        assert!(std::time::Instant::now() < deadline, "too few PUBACKs");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::task::block_in_place(|| nats.kill(leader));
    let run = tracker.finish(Duration::from_secs(60)).await;
    tokio::task::block_in_place(|| nats.restart(leader));
    settled(&js, "$MQTT_msgs").await;
    let stored = drain(&consumer).await;

    let lost: Vec<u32> = run
        .acked
        .iter()
        .copied()
        .filter(|n| !stored.contains_key(n))
        .collect();
    let doubled = stored.values().filter(|c| **c > 1).count();
    eprintln!(
        "$MQTT_msgs leader killed: sent {}, PUBACKed {}, PUBACKed but lost {}, stored {} \
         ({} unacked), stored twice {}; tracker's end: {:?}",
        run.sent,
        run.acked.len(),
        lost.len(),
        stored.len(),
        stored.len().saturating_sub(run.acked.len()),
        doubled,
        run.error
    );
    assert!(run.acked.len() >= KILL_AFTER_ACKS);
    assert!(lost.is_empty(), "PUBACKed readings lost: {lost:?}");
    assert_eq!(doubled, 0);
    assert!(stored.keys().all(|n| (*n as usize) < run.sent));
}
