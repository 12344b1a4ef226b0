//! Events published on the broker (`mqtt.publish_events`): each at QoS 1 on
//! `{events_prefix}/{type}/{aggregate_id}` with the body the webhooks and the stream send,
//! in id order; nothing lost across a broker restart or a kill -9 of the publishing daemon
//! (another daemon carries on from the recorded cursor); one publisher at a time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;

use crate::common::api::{vehicle, Api};
use crate::common::dispatch::eventually;
use crate::common::*;

/// A persistent-session QoS 1 subscriber to `{prefix}/#` that records (topic, body) in
/// arrival order and reconnects by itself (the broker keeps its session across restarts).
struct Subscriber {
    got: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    async fn start(broker: &Broker, prefix: &str) -> Subscriber {
        Subscriber::start_as(broker, prefix, None).await
    }

    async fn start_as(broker: &Broker, prefix: &str, user: Option<(&str, &str)>) -> Subscriber {
        let mut o = MqttOptions::new(
            format!("sub{:x}", rand::random::<u32>()),
            "127.0.0.1",
            broker.port,
        );
        o.set_clean_session(false)
            .set_max_packet_size(2 << 20, 2 << 20);
        if let Some((name, password)) = user {
            o.set_credentials(name, password);
        }
        let (client, mut eventloop) = AsyncClient::new(o, 100);
        client
            .subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
            .await
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let sink = got.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => sink.lock().unwrap().push((
                        p.topic.clone(),
                        String::from_utf8(p.payload.to_vec()).unwrap(),
                    )),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed)
            .await
            .expect("SUBACK")
            .unwrap();
        Subscriber { got, task }
    }

    /// Event ids in arrival order.
    fn ids(&self) -> Vec<i64> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| {
                serde_json::from_str::<serde_json::Value>(body).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }

    /// Waits until every id in `want` arrived at least once.
    async fn wait_for(&self, want: &[i64]) {
        eventually("every event on the broker", || async {
            let seen: std::collections::BTreeSet<i64> = self.ids().into_iter().collect();
            want.iter().all(|id| seen.contains(id)).then_some(())
        })
        .await;
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every event in `events` as (topic, body), in id order.
async fn stored(db: &tokio_postgres::Client, prefix: &str) -> Vec<(i64, String, String)> {
    let _: Vec<i64> = super::numbered(db, "").await;
    db.query(
        "SELECT id, type, aggregate_id, event_body(e) FROM events e ORDER BY id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let (t, agg): (&str, &str) = (r.get(1), r.get(2));
        (r.get(0), format!("{prefix}/{t}/{agg}"), r.get(3))
    })
    .collect()
}

/// The first receipt of each id, in arrival order: must be increasing (duplicates of a
/// redelivered suffix may follow).
fn assert_first_receipts_in_order(ids: &[i64]) {
    let mut seen = std::collections::BTreeSet::new();
    let firsts: Vec<i64> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "first receipts out of order: {firsts:?}"
    );
}

/// Registers vehicles `{prefix}-0` to `{prefix}-39`, 20 ms apart, in the background: a
/// stream of events to break something in the middle of.
fn register_40(admin: &crate::common::api::Client, prefix: &str) -> tokio::task::JoinHandle<()> {
    let (admin, prefix) = (admin.clone(), prefix.to_string());
    tokio::spawn(async move {
        for n in 0..40u32 {
            vehicle(&admin, &format!("{prefix}-{n}"), n + 1).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Waits until this daemon's publisher has taken the lock and recorded its cursor.
async fn publishing(addr: std::net::SocketAddr) {
    eventually("the daemon publishes events", || async {
        (metric(addr, "fleetd_events_mqtt_publishing", "").await == 1.0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_broker_in_id_order_with_their_stored_bodies() {
    let prefix = "acme/events";
    let api = Api::start_with(|c| {
        c.mqtt.publish_events = true;
        c.mqtt.events_prefix = prefix.into();
    })
    .await;
    let db = api.db.client().await;
    publishing(api.daemon.addr).await;
    // Events numbered before publishing was first switched on are not published.
    let start: i64 = db
        .query_one(
            "SELECT published_to FROM event_publishers WHERE name = 'mqtt'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let sub = Subscriber::start(&api.broker, prefix).await;

    let a = &api.admin;
    for n in 0..12u32 {
        vehicle(a, &format!("mq-{n}"), n + 1).await;
    }
    for n in 0..12u32 {
        let r = a
            .post(
                &format!("/v1/vehicles/mq-{n}/status"),
                json!({ "status": "under_maintenance" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let want: Vec<(i64, String, String)> = stored(&db, prefix)
        .await
        .into_iter()
        .filter(|(id, _, _)| *id > start)
        .collect();
    assert_eq!(want.len(), 24, "12 registrations and 12 status changes");
    let ids: Vec<i64> = want.iter().map(|(id, _, _)| *id).collect();
    sub.wait_for(&ids).await;

    let got = sub.got.lock().unwrap().clone();
    let expected: Vec<(String, String)> = want.into_iter().map(|(_, t, b)| (t, b)).collect();
    assert_eq!(got, expected, "topics and bodies, in id order, each once");
    assert!(got[0].0.starts_with("acme/events/vehicle.registered/mq-0"));

    // The cursor records what the broker acknowledged, and the lag drains to 0.
    let last = *ids.last().unwrap();
    eventually("the cursor recorded", || async {
        let to: i64 = db
            .query_one(
                "SELECT published_to FROM event_publishers WHERE name = 'mqtt'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (to == last).then_some(())
    })
    .await;
    eventually("the lag drained", || async {
        (metric(api.daemon.addr, "fleetd_events_mqtt_lag", "").await == 0.0).then_some(())
    })
    .await;
    assert_eq!(
        metric(api.daemon.addr, "fleetd_events_mqtt_published_total", "").await,
        24.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_no_event() {
    let prefix = "restart/events";
    let mut api = Api::start_with(|c| {
        c.mqtt.publish_events = true;
        c.mqtt.events_prefix = prefix.into();
        c.mqtt.reconnect_min_ms = 50;
        c.mqtt.reconnect_max_ms = 200;
    })
    .await;
    let db = api.db.client().await;
    publishing(api.daemon.addr).await;
    let sub = Subscriber::start(&api.broker, prefix).await;
    let writer = register_40(&api.admin, "br");
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.broker.restart();
    writer.await.unwrap();
    let ids: Vec<i64> = super::numbered(&db, "vehicle.registered").await;
    assert_eq!(ids.len(), 40);
    sub.wait_for(&ids).await;
    let got = sub.ids();
    assert_first_receipts_in_order(&got);
    // Duplicates, if any, carry the same body as the first receipt.
    let bodies = sub.got.lock().unwrap().clone();
    let mut first = std::collections::HashMap::new();
    for ((_, body), id) in bodies.iter().zip(&got) {
        assert_eq!(first.entry(*id).or_insert(body), &body, "event {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_publishing_daemon_is_killed_another_carries_on() {
    let prefix = "ha/events";
    // The API's daemon does not publish; two child daemons compete for it.
    let api = Api::start().await;
    let db = api.db.client().await;
    let publisher = |client: &str| {
        let mut c = config(&api.db, &api.broker);
        c.mqtt.client_id = client.into();
        c
    };
    let extra = [
        ("FLEETD_MQTT_PUBLISH_EVENTS", "true"),
        ("FLEETD_MQTT_EVENTS_PREFIX", prefix),
    ];
    let first = ChildDaemon::start_with(&publisher("ha-first"), &extra).await;
    publishing(first.addr).await;
    let second = ChildDaemon::start_with(&publisher("ha-second"), &extra).await;
    assert_eq!(
        metric(second.addr, "fleetd_events_mqtt_publishing", "").await,
        0.0
    );
    let sub = Subscriber::start(&api.broker, prefix).await;

    let writer = register_40(&api.admin, "ha");
    tokio::time::sleep(Duration::from_millis(400)).await;
    first.kill9();
    publishing(second.addr).await;
    writer.await.unwrap();
    let ids: Vec<i64> = super::numbered(&db, "vehicle.registered").await;
    assert_eq!(ids.len(), 40);
    sub.wait_for(&ids).await;
    assert_first_receipts_in_order(&sub.ids());
    assert!(
        metric(second.addr, "fleetd_events_mqtt_published_total", "").await > 0.0,
        "the second daemon published what followed the kill"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_secured_broker_the_daemon_account_may_publish_events() {
    // `fleetd broker setup` (done by start_secured) grants the daemon's account the events
    // prefix: Mosquitto would otherwise acknowledge and silently drop each event.
    let api = Api::start_secured(|c| c.mqtt.publish_events = true).await;
    let db = api.db.client().await;
    publishing(api.daemon.addr).await;
    let mut c = config(&api.db, &api.broker);
    c.broker.admin_username = BROKER_ADMIN.0.into();
    c.broker.admin_password = fleetd::config::Secret::new(BROKER_ADMIN.1);
    let admin = fleetd::broker::Admin::start(&c).unwrap().unwrap();
    let filter = "fleetd/events/#";
    for answer in admin
        .execute(vec![
            json!({"command": "createRole", "rolename": "events-reader", "acls": [
                {"acltype": "subscribePattern", "topic": filter, "allow": true},
                {"acltype": "publishClientReceive", "topic": filter, "allow": true}
            ]}),
            json!({"command": "createClient", "username": "events-reader",
                   "password": "reader-password", "roles": [{"rolename": "events-reader"}]}),
        ])
        .await
        .unwrap()
    {
        answer.ok().unwrap();
    }
    let sub = Subscriber::start_as(
        &api.broker,
        "fleetd/events",
        Some(("events-reader", "reader-password")),
    )
    .await;
    vehicle(&api.admin, "sec-1", 1).await;
    let ids: Vec<i64> = super::numbered(&db, "vehicle.registered").await;
    sub.wait_for(&ids).await;
    let got = sub.got.lock().unwrap().clone();
    assert_eq!(got[0].0, "fleetd/events/vehicle.registered/sec-1");
}
