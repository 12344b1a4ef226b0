//! The NATS harness itself: nodes start ready, MQTT publishes come out as NATS subjects on
//! any node of a cluster, a killed node restarts and rejoins.

use std::time::Duration;

use futures_util::StreamExt;

use super::publish_qos1;
use crate::common::nats::{nats_server_version, NatsCluster};

/// Subscribes to `subject` on node `on` and returns once the subscription is known to node
/// `from`: interest travels between nodes over the routes a moment after SUBSCRIBE, and a
/// message published before it arrives is not routed (core NATS keeps nothing).
async fn subscribe_across(
    cluster: &NatsCluster,
    on: usize,
    from: usize,
    subject: &str,
) -> async_nats::Subscriber {
    let client = async_nats::connect(cluster.node_url(on)).await.unwrap();
    let mut sub = client.subscribe(subject.to_string()).await.unwrap();
    client.flush().await.unwrap();
    let probe = async_nats::connect(cluster.node_url(from)).await.unwrap();
    let probe_subject = subject.replace(['*', '>'], "probe");
    for _ in 0..200 {
        probe
            .publish(probe_subject.clone(), "probe".into())
            .await
            .unwrap();
        probe.flush().await.unwrap();
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
            assert_eq!(m.subject.as_str(), probe_subject);
            // Later probes may still be on their way: drain them.
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(200), sub.next()).await
            {}
            return sub;
        }
    }
    panic!("the subscription on node {on} never reached node {from}");
}

/// The next message on `sub`, within 10 s.
async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("no message within 10 s")
        .expect("subscription closed")
}

#[tokio::test]
async fn a_standalone_node_carries_an_mqtt_publish_to_its_nats_subject() {
    let nats = NatsCluster::start(1);
    assert_eq!(nats.node_count(), 1);
    assert_eq!(nats.meta_leader(0), None, "standalone: no meta group");
    let mut sub = subscribe_across(&nats, 0, 0, "fleet.>").await;

    publish_qos1(nats.mqtt_port(0), "fleet/v-1/gps", b"reading 1")
        .await
        .unwrap();

    let m = next(&mut sub).await;
    assert_eq!(m.subject.as_str(), "fleet.v-1.gps");
    assert_eq!(&m.payload[..], b"reading 1");
}

#[tokio::test]
async fn a_cluster_carries_an_mqtt_publish_to_a_subscriber_on_another_node() {
    let nats = NatsCluster::start(3);
    assert_eq!(nats.client_urls().len(), 3);
    let leader = nats.meta_leader(0).expect("a meta leader");
    for i in 1..3 {
        assert_eq!(nats.meta_leader(i).as_deref(), Some(leader.as_str()));
    }
    let mut sub = subscribe_across(&nats, 2, 0, "fleet.>").await;

    publish_qos1(nats.mqtt_port(0), "fleet/v-1/gps", b"reading 1")
        .await
        .unwrap();
    publish_qos1(nats.mqtt_port(1), "fleet/v-1/obd", b"reading 2")
        .await
        .unwrap();

    let m = next(&mut sub).await;
    assert_eq!(m.subject.as_str(), "fleet.v-1.gps");
    assert_eq!(&m.payload[..], b"reading 1");
    let m = next(&mut sub).await;
    assert_eq!(m.subject.as_str(), "fleet.v-1.obd");
    assert_eq!(&m.payload[..], b"reading 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_stopped_nodes_restart_on_their_ports_and_rejoin_the_cluster() {
    let mut nats = NatsCluster::start(3);
    tokio::task::block_in_place(|| nats.kill(1));
    assert!(!nats.is_running(1));
    assert_eq!(nats.client_urls().len(), 2);
    assert!(!nats.client_url().contains(&nats.node_url(1)));

    tokio::task::block_in_place(|| nats.restart(1));
    tokio::task::block_in_place(|| nats.stop(2));
    assert_eq!(nats.client_urls().len(), 2);
    tokio::task::block_in_place(|| nats.restart(2));

    assert_eq!(nats.client_urls().len(), 3);
    let leader = nats.meta_leader(0).expect("a meta leader");
    for i in 1..3 {
        assert_eq!(nats.meta_leader(i).as_deref(), Some(leader.as_str()));
    }
    assert!(nats.index_of(&leader).is_some());
    let mut sub = subscribe_across(&nats, 2, 1, "fleet.>").await;
    publish_qos1(nats.mqtt_port(1), "fleet/v-9/gps", b"after restart")
        .await
        .unwrap();
    assert_eq!(next(&mut sub).await.subject.as_str(), "fleet.v-9.gps");
}

/// Vehicle ids may hold a `.` (`[A-Za-z0-9._-]{1,64}`), which is NATS's token separator.
///
/// nats-server 2.9 (Debian's 2.9.10 here) refuses it: `mqttToNATSSubjectConversion` returns
/// "characters ' ' and '.' not supported for MQTT topics" and the server closes the
/// tracker's connection without a PUBACK; nothing is published. From 2.10 on, a `.` in a
/// topic becomes `//` in the subject: `fleet/car.7/gps` is published as `fleet.car//7.gps`
/// (one token, so `fleet.*.gps` still matches it) and a subject's `//` goes back to `.` for
/// MQTT subscribers.
#[tokio::test]
async fn a_dot_in_a_vehicle_id_is_refused_by_2_9_and_mapped_to_double_slash_by_2_10() {
    let nats = NatsCluster::start(1);
    let mut sub = subscribe_across(&nats, 0, 0, "fleet.>").await;

    let dotted = publish_qos1(nats.mqtt_port(0), "fleet/car.7/gps", b"dotted").await;

    if nats_server_version() < (2, 10) {
        let error = dotted.expect_err("2.9 acked a topic with a '.'");
        assert!(
            nats.log_tail(0, 50)
                .contains("characters ' ' and '.' not supported for MQTT topics"),
            "{error}: {}",
            nats.log_tail(0, 20)
        );
        // Nothing of car.7 came out: the next message is the next tracker's.
        publish_qos1(nats.mqtt_port(0), "fleet/v-2/gps", b"plain")
            .await
            .unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.subject.as_str(), "fleet.v-2.gps");
    } else {
        dotted.unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.subject.as_str(), "fleet.car//7.gps");
        assert_eq!(&m.payload[..], b"dotted");
    }
}
