//! `POST/GET/DELETE /v1/vehicles/{id}/tracker-credentials` against a real secured Mosquitto:
//! a tracker publishes its own vehicle's readings and nothing else, nobody but the daemon
//! reads telemetry, rotation and revocation disconnect, decommissioning revokes.

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::common::api::{vehicle, Api, Client, Resp, DAEMON_ACCOUNT};
use crate::common::{count, now_ms, wait_count};

/// A connected MQTT client and what its event loop saw.
struct Mqtt {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<Event>,
    /// Set when the broker closed the connection.
    closed: tokio::sync::watch::Receiver<bool>,
}

/// Connects; `Err` with the reason when the broker refuses.
async fn connect(port: u16, client_id: &str, user: Option<(&str, &str)>) -> Result<Mqtt, String> {
    let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    if let Some((u, p)) = user {
        o.set_credentials(u, p);
    }
    let (client, mut eventloop) = AsyncClient::new(o, 100);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll())
            .await
            .expect("no CONNACK within 10 s")
        {
            Ok(Event::Incoming(Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(ConnectionError::ConnectionRefused(code)) => return Err(format!("{code:?}")),
            Err(e) => return Err(e.to_string()),
        }
    }
    let (tx, events) = mpsc::unbounded_channel();
    let (closed_tx, closed) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(e) => {
                    let _ = tx.send(e);
                }
                Err(_) => {
                    // Never reconnect: the test wants to see that it was thrown out.
                    closed_tx.send_replace(true);
                    return;
                }
            }
        }
    });
    Ok(Mqtt {
        client,
        events,
        closed,
    })
}

impl Mqtt {
    /// Subscribes and returns the broker's answer for the filter.
    async fn subscribe(&mut self, filter: &str) -> SubscribeReasonCode {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            let e = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .expect("no SUBACK")
                .expect("connection closed before SUBACK");
            if let Event::Incoming(Packet::SubAck(ack)) = e {
                return ack.return_codes[0];
            }
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    async fn publish(&mut self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        loop {
            let e = tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .expect("no PUBACK")
                .unwrap_or_else(|| panic!("connection closed before the PUBACK of {topic}"));
            if let Event::Incoming(Packet::PubAck(_)) = e {
                return;
            }
        }
    }

    async fn wait_closed(&mut self) {
        tokio::time::timeout(Duration::from_secs(10), self.closed.wait_for(|c| *c))
            .await
            .expect("the broker did not disconnect the client")
            .unwrap();
    }
}

fn reading(ts: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"ts": ts, "lat": 52.5, "lon": 13.4, "speed_kmh": 30.0})).unwrap()
}

/// `POST /v1/vehicles/{id}/tracker-credentials` as `c`, without a body.
async fn post_credentials(c: &Client, id: &str) -> Resp {
    c.send(
        "POST",
        &format!("/v1/vehicles/{id}/tracker-credentials"),
        None,
        &[],
    )
    .await
}

async fn issue(api: &Api, id: &str) -> Value {
    let r = post_credentials(&api.admin, id).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

fn account(c: &Value) -> (String, String) {
    (
        c["username"].as_str().unwrap().to_string(),
        c["password"].as_str().unwrap().to_string(),
    )
}

async fn tracker(api: &Api, c: &Value) -> Result<Mqtt, String> {
    let (u, p) = account(c);
    connect(api.broker.port, &u, Some((&u, &p))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracker_publishes_its_own_vehicle_only_and_nobody_else_reads_telemetry() {
    let api = Api::start_secured(|c| c.mqtt.client_id = "daemon-x".into()).await;
    vehicle(&api.admin, "trk-1", 1).await;
    vehicle(&api.admin, "trk-2", 2).await;
    let sql = api.db.client().await;
    let port = api.broker.port;

    // Anonymous and unknown clients are refused at the door.
    assert!(connect(port, "anon", None).await.is_err());
    assert!(connect(port, "x", Some(("tracker-trk-1", "guess")))
        .await
        .is_err());

    let c = issue(&api, "trk-1").await;
    assert_eq!(c["vehicle_id"], "trk-1");
    assert_eq!(c["username"], "tracker-trk-1");
    assert_eq!(c["client_id"], "tracker-trk-1");
    assert_eq!(c["topics"], json!(["fleet/trk-1/gps", "fleet/trk-1/obd"]));
    assert_eq!(c["rotations"], 0);
    assert_eq!(c["password"].as_str().unwrap().len(), 43);
    let shown = api
        .admin
        .get("/v1/vehicles/trk-1/tracker-credentials")
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.json().get("password").is_none(), "{}", shown.body);
    assert_eq!(shown.json()["username"], "tracker-trk-1");

    let (user, pass) = account(&c);
    // Its credential works only with its own client id: it cannot take over the daemon's
    // session (whose id it could guess) or another tracker's.
    assert!(connect(port, "daemon-x-0", Some((&user, &pass)))
        .await
        .is_err());
    assert!(connect(port, "tracker-trk-2", Some((&user, &pass)))
        .await
        .is_err());

    let mut t = tracker(&api, &c)
        .await
        .expect("the issued account connects");
    let t0 = (now_ms() - 60_000) / 1000 * 1000;
    t.publish("fleet/trk-1/gps", reading(t0)).await;
    // Another vehicle's topic, or any topic outside its own: acknowledged and dropped by the
    // broker (an MQTT 3.1.1 client cannot be told "not authorised"). With the shipped queue
    // bounds Mosquitto 2.0.11 keeps the connection; with `max_queued_messages 0` it closed it.
    for topic in [
        "fleet/trk-2/gps",
        "fleet-canary/daemon-x-0",
        "fleet/trk-1x/gps",
    ] {
        let mut rogue = tracker(&api, &c).await.unwrap();
        rogue.publish(topic, reading(t0)).await;
    }
    let mut t = tracker(&api, &c).await.unwrap();
    t.publish("fleet/trk-1/gps", reading(t0 + 1000)).await;
    // The rogue publishes were handled before the last reading was sent: had the broker
    // forwarded them, the daemon would have had them first.
    only_trk_1_stored(&sql, 2).await;
    assert_eq!(
        count(&sql, "SELECT count(*) FROM telemetry_rejects").await,
        0
    );

    // Subscribing to anything is refused: telemetry, the daemon's share group, the canaries.
    for filter in [
        "fleet/#",
        "fleet/trk-1/gps",
        "$share/fleetd/fleet/#",
        "fleet-canary/#",
        "#",
    ] {
        assert_eq!(
            t.subscribe(filter).await,
            SubscribeReasonCode::Failure,
            "{filter}"
        );
    }
    // The daemon's own account may not publish readings either.
    let mut d = connect(port, "someone", Some(DAEMON_ACCOUNT))
        .await
        .unwrap();
    d.publish("fleet/trk-2/gps", reading(t0)).await;
    let mut t = tracker(&api, &c).await.unwrap();
    t.publish("fleet/trk-1/gps", reading(t0 + 2000)).await;
    only_trk_1_stored(&sql, 3).await;
}

/// Waits until trk-1 has `n` readings stored, then checks no other vehicle has any.
async fn only_trk_1_stored(sql: &tokio_postgres::Client, n: i64) {
    let mine = "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'trk-1'";
    wait_count(sql, mine, n).await;
    let others = "SELECT count(*) FROM gps_readings WHERE vehicle_id <> 'trk-1'";
    assert_eq!(count(sql, others).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_revocation_and_decommissioning_shut_the_tracker_out() {
    let api = Api::start_secured(|_| {}).await;
    vehicle(&api.admin, "trk-1", 1).await;
    let sql = api.db.client().await;

    let first = issue(&api, "trk-1").await;
    let mut old = tracker(&api, &first).await.unwrap();
    // Rotating: a new password, the old one refused, the tracker using it disconnected.
    // An Idempotency-Key never replays a password: the retry rotates again.
    let path = "/v1/vehicles/trk-1/tracker-credentials";
    let r = api
        .admin
        .send("POST", path, None, &[("Idempotency-Key", "k1")])
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let again = api
        .admin
        .send("POST", path, None, &[("Idempotency-Key", "k1")])
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_ne!(r.json()["password"], again.json()["password"]);
    let second = again.json();
    assert_eq!(second["rotations"], 2);
    assert_eq!(second["created_at"], first["created_at"]);
    old.wait_closed().await;
    assert!(tracker(&api, &first).await.is_err());
    assert!(tracker(&api, &r.json()).await.is_err());
    let mut current = tracker(&api, &second).await.unwrap();

    // Revoking: disconnected at once, refused afterwards, and idempotent.
    assert_eq!(api.admin.delete(path).await.status, 204);
    current.wait_closed().await;
    assert!(tracker(&api, &second).await.is_err());
    assert_eq!(api.admin.get(path).await.status, 404);
    assert_eq!(api.admin.delete(path).await.status, 204);

    // Decommissioning revokes the account with the vehicle.
    let third = issue(&api, "trk-1").await;
    let mut live = tracker(&api, &third).await.unwrap();
    let r = api
        .admin
        .post(
            "/v1/vehicles/trk-1/status",
            json!({"status": "decommissioned"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    live.wait_closed().await;
    assert!(tracker(&api, &third).await.is_err());
    assert_eq!(
        count(&sql, "SELECT count(*) FROM tracker_credentials").await,
        0
    );
    let r = api.admin.send("POST", path, None, &[]).await;
    assert_eq!((r.status, r.code()), (409, "vehicle_decommissioned".into()));

    // Deleting a vehicle does too.
    vehicle(&api.admin, "trk-2", 2).await;
    let fourth = issue(&api, "trk-2").await;
    assert_eq!(api.admin.delete("/v1/vehicles/trk-2").await.status, 204);
    assert!(tracker(&api, &fourth).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_reachable_broker_admin_nothing_changes() {
    // Not configured: 503, and vehicles without trackers retire as before.
    let api = Api::start().await;
    vehicle(&api.admin, "trk-1", 1).await;
    let path = "/v1/vehicles/trk-1/tracker-credentials";
    let r = api.admin.send("POST", path, None, &[]).await;
    assert_eq!((r.status, r.code()), (503, "broker_unavailable".into()));
    assert_eq!(api.admin.get(path).await.status, 404);
    let r = api
        .admin
        .post(
            "/v1/vehicles/trk-1/status",
            json!({"status": "decommissioned"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Roles, unknown vehicles and hostile ids.
    let (customer, _) = api.admin.user("cust", "customer").await;
    let (driver, _) = api.admin.user("drv", "driver").await;
    for c in [&customer, &driver] {
        assert_eq!(c.send("POST", path, None, &[]).await.status, 403);
        assert_eq!(c.get(path).await.status, 403);
        assert_eq!(c.delete(path).await.status, 403);
    }
    let r = post_credentials(&api.admin, "nope").await;
    assert_eq!(r.status, 404, "{}", r.body);
    for id in ["a%00b", "a%2Fb", "%2B", "a%20b"] {
        let r = post_credentials(&api.admin, id).await;
        assert!(
            [404, 422].contains(&r.status),
            "{id}: {} {}",
            r.status,
            r.body
        );
    }

    // Configured, but the broker is down: 503 within broker.timeout_ms, nothing recorded.
    let mut secured = Api::start_secured(|c| c.broker.timeout_ms = 1_000).await;
    vehicle(&secured.admin, "trk-1", 1).await;
    secured.broker.stop();
    let r = secured.admin.send("POST", path, None, &[]).await;
    assert_eq!((r.status, r.code()), (503, "broker_unavailable".into()));
    let sql = secured.db.client().await;
    assert_eq!(
        count(&sql, "SELECT count(*) FROM tracker_credentials").await,
        0
    );
    let r = secured.admin.delete(path).await;
    assert_eq!((r.status, r.code()), (503, "broker_unavailable".into()));
}
