//! The shipped broker configuration's queue bound (config/mosquitto.conf): a session that
//! queues more than `max_queued_messages` keeps the oldest messages and loses every later
//! one, as docs/delivery.md says. Shown on a private broker with the shipped options and the
//! count scaled down (2,000,000 messages would take a test minutes to fill).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use crate::common::{free_port, mosquitto_bin, shipped, signal, wait_port};

/// The scaled-down bound.
const BOUND: usize = 50;

struct BoundedBroker {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for BoundedBroker {
    fn drop(&mut self) {
        signal(self.child.id(), "TERM");
        let _ = self.child.wait();
    }
}

/// The shipped options, then `max_queued_messages BOUND` (a later line overrides an earlier).
fn start() -> BoundedBroker {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\n{}max_queued_messages {BOUND}\n\
             max_inflight_messages 10\nsys_interval 1\nlog_dest stderr\nlog_type error\n",
            shipped::broker_lines()
        ),
    )
    .unwrap();
    let child = Command::new(mosquitto_bin())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_port(port);
    BoundedBroker {
        port,
        child,
        _dir: dir,
    }
}

async fn connect(port: u16, id: &str, clean: bool) -> (AsyncClient, EventLoop, bool) {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_clean_session(clean).set_inflight(100);
    let (client, mut eventloop) = AsyncClient::new(o, 200);
    match eventloop.poll().await.unwrap() {
        Event::Incoming(Packet::ConnAck(ack)) => (client, eventloop, ack.session_present),
        other => panic!("expected a CONNACK, got {other:?}"),
    }
}

#[test]
fn the_shipped_bounds_are_finite() {
    let messages: u64 = shipped::value("max_queued_messages").parse().unwrap();
    let bytes: u64 = shipped::value("max_queued_bytes").parse().unwrap();
    assert!(messages > 0 && bytes > 0, "0 means no bound");
    assert_eq!(shipped::value("persistent_client_expiration"), "3d");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_queue_keeps_the_oldest_messages_and_drops_the_rest() {
    let broker = start();
    // A persistent subscriber that goes offline.
    let (client, mut eventloop, _) = connect(broker.port, "offline-0", false).await;
    client.subscribe("fleet/#", QoS::AtLeastOnce).await.unwrap();
    while !matches!(
        eventloop.poll().await.unwrap(),
        Event::Incoming(Packet::SubAck(_))
    ) {}
    client.disconnect().await.unwrap();
    while eventloop.poll().await.is_ok() {}

    // Twice the bound published while it is away, each acknowledged by the broker.
    let (publisher, mut events, _) = connect(broker.port, "publisher", true).await;
    for i in 0..2 * BOUND {
        publisher
            .publish("fleet/v/gps", QoS::AtLeastOnce, false, i.to_string())
            .await
            .unwrap();
    }
    let mut acked = 0;
    while acked < 2 * BOUND {
        if let Event::Incoming(Packet::PubAck(_)) = events.poll().await.unwrap() {
            acked += 1;
        }
    }

    // Back: the session delivers what it kept, then a message published after the reconnect.
    let (client, mut eventloop, present) = connect(broker.port, "offline-0", false).await;
    assert!(present);
    publisher
        .publish("fleet/v/gps", QoS::AtLeastOnce, false, "after")
        .await
        .unwrap();
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let mut received = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), eventloop.poll())
            .await
            .expect("the message published after the reconnect never came")
            .unwrap();
        if let Event::Incoming(Packet::Publish(p)) = event {
            let text = String::from_utf8(p.payload.to_vec()).unwrap();
            if text == "after" {
                break;
            }
            received.push(text.parse::<usize>().unwrap());
        }
    }
    drop(client);
    // The oldest BOUND, in order; the later BOUND were dropped by the broker.
    assert_eq!(received, (0..BOUND).collect::<Vec<_>>());
    // And counted where fleetd reads it (fleetd_broker_dropped_messages).
    let (watcher, mut eventloop, _) = connect(broker.port, "watcher", true).await;
    watcher
        .subscribe("$SYS/broker/publish/messages/dropped", QoS::AtMostOnce)
        .await
        .unwrap();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), eventloop.poll())
            .await
            .expect("$SYS/broker/publish/messages/dropped never reached the bound")
            .unwrap();
        if let Event::Incoming(Packet::Publish(p)) = event {
            if p.payload.as_ref() == BOUND.to_string().as_bytes() {
                break;
            }
        }
    }
}
