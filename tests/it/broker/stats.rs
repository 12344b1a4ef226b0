//! The broker's `$SYS` counters in fleetd's `/metrics`, through the daemon's own account on a
//! secured broker: a session nobody owns any more shows up as a disconnected client holding
//! stored messages.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::common::api::{vehicle, Api, DAEMON_ACCOUNT};
use crate::common::{metric, now_ms};

async fn eventually(api: &Api, name: &str, at_least: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = metric(api.daemon.addr, name, "").await;
        if v >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed at {v}, wanted {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_session_shows_in_the_broker_metrics() {
    let api = Api::start_secured(|_| {}).await;
    vehicle(&api.admin, "trk-1", 1).await;
    // The daemon itself (and the administrator) are connected.
    eventually(&api, "fleetd_broker_clients_connected", 1.0).await;

    // A persistent subscriber that goes away for good: its session keeps collecting.
    let mut o = MqttOptions::new("retired-0", "127.0.0.1", api.broker.port);
    o.set_clean_session(false)
        .set_credentials(DAEMON_ACCOUNT.0, DAEMON_ACCOUNT.1);
    let (client, mut eventloop) = AsyncClient::new(o, 10);
    client.subscribe("fleet/#", QoS::AtLeastOnce).await.unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await.unwrap() {
            break;
        }
    }
    client.disconnect().await.unwrap();
    while eventloop.poll().await.is_ok() {}

    let r = api
        .admin
        .send("POST", "/v1/vehicles/trk-1/tracker-credentials", None, &[])
        .await;
    let (user, pass) = (
        r.json()["username"].as_str().unwrap().to_string(),
        r.json()["password"].as_str().unwrap().to_string(),
    );
    let mut o = MqttOptions::new(&user, "127.0.0.1", api.broker.port);
    o.set_credentials(&user, &pass);
    let (tracker, mut events) = AsyncClient::new(o, 100);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    for i in 0..5 {
        let body = format!(r#"{{"ts":{},"lat":1.0,"lon":2.0}}"#, now_ms() - 10_000 + i);
        tracker
            .publish("fleet/trk-1/gps", QoS::AtLeastOnce, false, body)
            .await
            .unwrap();
    }
    eventually(&api, "fleetd_broker_clients_disconnected", 1.0).await;
    eventually(&api, "fleetd_broker_stored_messages", 5.0).await;
    eventually(&api, "fleetd_broker_stored_bytes", 1.0).await;
}
