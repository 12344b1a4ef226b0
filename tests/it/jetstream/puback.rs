//! Does a tracker's PUBACK mean its reading is in the replicated stream?
//!
//! A three-node cluster, a stream `FLEET` (`fleet.*.gps`, `fleet.*.obd`, three replicas, file
//! storage, limits retention) and a tracker publishing 2,000 numbered readings at QoS 1 to one
//! node's MQTT listener. Right after a burst of PUBACKs a node is killed with SIGKILL: the
//! tracker's own node, or the stream's leader (never the tracker's node, so the two cases
//! differ). The node is restarted and the whole stream read back.
//!
//! Beside the tracker, a NATS client on the third node publishes to the same stream through
//! JetStream's own API and waits for each acknowledgement: the control for what JetStream
//! promises (an acknowledged message is on a majority of replicas).
//!
//! What nats-server 2.9.10 does with a QoS 1 PUBLISH (`server/mqtt.go`, `mqttParse` and
//! `mqttProcessPub`): it publishes the message on core NATS (`processInboundClientMsg`,
//! fire-and-forget: the stream's subscription receives it, nothing waits for the stream to
//! store it), then stores it in MQTT's own stream `$MQTT_msgs` and waits for *that* store's
//! acknowledgement, then sends the PUBACK. So a PUBACK says the message reached the server
//! and MQTT's stream; it says nothing about `FLEET`. Newer servers say so in a comment on
//! the same function: "The receiver is not required to complete delivery of the Application
//! Message before sending the PUBACK". docs/nats.md draws the consequences.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

use super::tracker::Tracker;
use super::{leader_of, publish_qos1, settled};
use crate::common::nats::NatsCluster;

const READINGS: u32 = 2_000;
/// The kill comes after this many PUBACKs, while the rest are in flight.
const KILL_AFTER_ACKS: usize = 600;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    TrackerNode,
    StreamLeader,
}

/// What one run found; printed, and checked by the tests.
struct Findings {
    victim: Victim,
    /// Readings the tracker wrote, and those PUBACKed.
    sent: usize,
    acked: usize,
    /// PUBACKs before the kill.
    acked_before_kill: usize,
    /// PUBACKed readings missing from `FLEET` after the restart.
    lost: Vec<u32>,
    /// Readings in `FLEET` more than once, or never sent.
    duplicated: Vec<u32>,
    unsent: Vec<u32>,
    /// Readings in `FLEET` that were not PUBACKed (sent, then the connection died).
    stored_unacked: usize,
    /// `FLEET`'s last sequence just before the kill, and after the restart.
    last_seq_before_kill: u64,
    last_seq_after: u64,
    /// JetStream-acknowledged control messages, and those of them missing or doubled.
    control_acked: usize,
    control_lost: usize,
    control_duplicated: usize,
    tracker_error: Option<String>,
    /// Where `$MQTT_msgs` and `FLEET` were led before the kill, and the tracker's node.
    mqtt_msgs_leader: String,
    fleet_leader: String,
    tracker_node: String,
}

async fn fleet_stream(js: &jetstream::Context) -> stream::Stream {
    js.create_stream(stream::Config {
        name: "FLEET".into(),
        subjects: vec!["fleet.*.gps".into(), "fleet.*.obd".into()],
        num_replicas: 3,
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Every message of `FLEET`, by sequence: (subject, payload).
async fn read_all(js: &jetstream::Context, last: u64) -> Vec<(String, String)> {
    let s = js.get_stream("FLEET").await.unwrap();
    let mut all = Vec::with_capacity(last as usize);
    for seq in 1..=last {
        let m = s.get_raw_message(seq).await.unwrap();
        all.push((
            m.subject.to_string(),
            String::from_utf8_lossy(&m.payload).into_owned(),
        ));
    }
    all
}

/// The number in a payload `"{tag}:{n}"`, if it has that tag.
fn number(payload: &str, tag: &str) -> Option<u32> {
    payload.strip_prefix(tag)?.strip_prefix(':')?.parse().ok()
}

/// Publishes `ctl:{n}` through JetStream's API from node `node` until `stop`, waiting for
/// each acknowledgement; returns the numbers acknowledged.
async fn control(url: String, stop: Arc<AtomicBool>) -> Vec<u32> {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    let mut acked = Vec::new();
    let mut n = 0u32;
    while !stop.load(Ordering::SeqCst) {
        let subject = format!("fleet.ctl-{}.obd", n % 10);
        if let Ok(Ok(ack)) = tokio::time::timeout(Duration::from_secs(2), async {
            js.publish(subject, format!("ctl:{n}").into()).await?.await
        })
        .await
        {
            assert_eq!(ack.stream, "FLEET");
            acked.push(n);
        }
        n += 1;
    }
    acked
}

async fn run(victim: Victim) -> Findings {
    let mut nats = tokio::task::block_in_place(|| NatsCluster::start(3));
    let client = async_nats::connect(nats.client_urls()).await.unwrap();
    let js = jetstream::new(client.clone());
    fleet_stream(&js).await;
    // The first MQTT connection creates MQTT's own streams, `$MQTT_msgs` among them.
    publish_qos1(nats.mqtt_port(0), "warmup/0", b"")
        .await
        .unwrap();
    let mqtt_msgs_leader = leader_of(&js, "$MQTT_msgs").await;
    // FLEET's leader elsewhere than `$MQTT_msgs`'s, or killing one kills both and the
    // PUBACKs stop with the stream's: the case a tracker meets when they differ is the
    // one that tells PUBACK from storage.
    while leader_of(&js, "FLEET").await == mqtt_msgs_leader {
        client
            .request("$JS.API.STREAM.LEADER.STEPDOWN.FLEET", "".into())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let leader = nats.index_of(&leader_of(&js, "FLEET").await).unwrap();
    let tracker_node = (leader + 1) % 3;
    let control_node = (leader + 2) % 3;
    let killed = match victim {
        Victim::TrackerNode => tracker_node,
        Victim::StreamLeader => leader,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let control = tokio::spawn(control(nats.node_url(control_node), stop.clone()));
    let tracker = Tracker::start(
        nats.mqtt_port(tracker_node),
        READINGS,
        |i| format!("fleet/v-{}/gps", i % 50),
        |i| format!("mqtt:{i}").into_bytes(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while tracker.acked_count() < KILL_AFTER_ACKS {
        assert!(
            Instant::now() < deadline,
            "only {} PUBACKs",
            tracker.acked_count()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let last_seq_before_kill = js
        .get_stream("FLEET")
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
        .state
        .last_sequence;
    tokio::task::block_in_place(|| nats.kill(killed));
    let acked_before_kill = tracker.acked_count();

    let run = tracker.finish(Duration::from_secs(60)).await;
    stop.store(true, Ordering::SeqCst);
    let control_acked = control.await.unwrap();
    tokio::task::block_in_place(|| nats.restart(killed));
    let last_seq_after = settled(&js, "FLEET").await.state.last_sequence;
    let stored = read_all(&js, last_seq_after).await;

    let mut mqtt: HashMap<u32, usize> = HashMap::new();
    let mut ctl: HashMap<u32, usize> = HashMap::new();
    for (subject, payload) in &stored {
        if let Some(n) = number(payload, "mqtt") {
            assert_eq!(subject, &format!("fleet.v-{}.gps", n % 50));
            *mqtt.entry(n).or_default() += 1;
        } else if let Some(n) = number(payload, "ctl") {
            *ctl.entry(n).or_default() += 1;
        } else {
            panic!("a stranger in FLEET: {subject} {payload}");
        }
    }
    let lost: Vec<u32> = run
        .acked
        .iter()
        .copied()
        .filter(|n| !mqtt.contains_key(n))
        .collect();
    let acked: std::collections::HashSet<u32> = run.acked.iter().copied().collect();
    let mut duplicated: Vec<u32> = mqtt
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    duplicated.sort();
    let mut unsent: Vec<u32> = mqtt
        .keys()
        .copied()
        .filter(|n| *n as usize >= run.sent)
        .collect();
    unsent.sort();
    Findings {
        victim,
        sent: run.sent,
        acked: run.acked.len(),
        acked_before_kill,
        stored_unacked: mqtt.keys().filter(|n| !acked.contains(n)).count(),
        lost,
        duplicated,
        unsent,
        last_seq_before_kill,
        last_seq_after,
        control_acked: control_acked.len(),
        control_lost: control_acked
            .iter()
            .filter(|n| !ctl.contains_key(n))
            .count(),
        control_duplicated: ctl.values().filter(|c| **c > 1).count(),
        tracker_error: run.error,
        fleet_leader: nats.name(leader),
        tracker_node: nats.name(tracker_node),
        mqtt_msgs_leader,
    }
}

/// What holds whichever node dies: JetStream's own promise (an acknowledged publish is
/// stored once and survives one node of three), nothing committed before the kill is
/// lost, and the servers neither duplicate nor invent a tracker's reading.
fn check_promises(f: &Findings) {
    eprintln!(
        "{:?}: tracker on {}, FLEET led by {}, $MQTT_msgs by {}; sent {}, PUBACKed {} ({} before \
         the kill), PUBACKed but lost {} (first {:?}, last {:?}), stored unacked {}, stored twice \
         {}; FLEET last seq {} before the kill, {} after; control: {} acked, {} lost, {} doubled; \
         tracker's end: {:?}",
        f.victim,
        f.tracker_node,
        f.fleet_leader,
        f.mqtt_msgs_leader,
        f.sent,
        f.acked,
        f.acked_before_kill,
        f.lost.len(),
        f.lost.first(),
        f.lost.last(),
        f.stored_unacked,
        f.duplicated.len(),
        f.last_seq_before_kill,
        f.last_seq_after,
        f.control_acked,
        f.control_lost,
        f.control_duplicated,
        f.tracker_error,
    );
    assert!(f.control_acked > 0, "the control published nothing");
    assert_eq!(f.control_lost, 0, "JetStream lost acknowledged publishes");
    assert_eq!(f.control_duplicated, 0, "JetStream stored a publish twice");
    assert!(
        f.last_seq_after >= f.last_seq_before_kill,
        "committed messages vanished"
    );
    assert!(
        f.duplicated.is_empty(),
        "readings stored twice: {:?}",
        f.duplicated
    );
    assert!(f.unsent.is_empty(), "readings never sent: {:?}", f.unsent);
    assert!(f.acked >= KILL_AFTER_ACKS);
}

/// The tracker's node dies (and with it `$MQTT_msgs`'s leader, when it led that stream).
/// Measured over four runs: 601 to 616 PUBACKs before the kill; 0 PUBACKed readings lost when
/// the tracker's node also led `$MQTT_msgs`, the last 2 PUBACKed readings lost when another
/// node did. The store in `$MQTT_msgs` that releases the PUBACK then travels on another route
/// than the core publish to `FLEET`'s leader, and the publish can die in the killed node's
/// outgoing buffer after the PUBACK left. Not asserted either way: nothing promises it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_trackers_node_after_pubacks() {
    let f = run(Victim::TrackerNode).await;
    check_promises(&f);
}

/// `FLEET`'s leader dies, `$MQTT_msgs`'s lives: the tracker's node goes on storing in
/// `$MQTT_msgs` and PUBACKing while `FLEET` has no leader, and every reading of those
/// seconds is acknowledged to the tracker and stored nowhere in `FLEET` (the stream only
/// listens on core NATS, where nothing waits). Measured over five runs: 2,000 PUBACKs, 1,378
/// to 1,396 lost (the few PUBACKed just before the kill, and all after it). When this stops
/// failing, nats-server has changed: docs/nats.md says what to re-measure.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_streams_leader_after_pubacks_loses_pubacked_readings() {
    let f = run(Victim::StreamLeader).await;
    check_promises(&f);
    assert!(
        f.acked > f.acked_before_kill,
        "no PUBACK after the kill: the test did not open the window it measures"
    );
    assert!(
        !f.lost.is_empty(),
        "every PUBACKed reading is in FLEET: nats-server now waits for the stream"
    );
}
