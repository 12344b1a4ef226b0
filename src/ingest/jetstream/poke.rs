//! Makes nats-server create its MQTT streams: it does so for an account when the first MQTT
//! client of that account connects, and fleetd's consumer on `$MQTT_msgs` must exist before
//! any tracker publishes ([`super::setup`]). One connection to `mqtt.url` (nats-server's MQTT
//! listener), with fleetd's MQTT credentials and TLS settings, answered CONNACK, is enough.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet};

use crate::config::Config;

/// How long to wait for the CONNACK.
const WAIT: Duration = Duration::from_secs(10);

/// Connects to nats-server's MQTT listener, waits for the CONNACK and disconnects.
pub async fn mqtt_listener(config: &Config) -> Result<(), String> {
    let broker = config.mqtt_endpoint().map_err(|e| e.to_string())?;
    let transport = crate::tls::mqtt::transport(broker.tls, config.mqtt_tls_files())
        .map_err(|e| format!("mqtt TLS: {e}"))?;
    let mut options = MqttOptions::new(
        format!("{}-setup", config.jetstream.name),
        &broker.host,
        broker.port,
    );
    options
        .set_clean_session(true)
        .set_keep_alive(Duration::from_secs(5))
        .set_transport(transport);
    if !config.mqtt.username.is_empty() {
        options.set_credentials(&config.mqtt.username, config.mqtt.password.expose());
    }
    let (client, mut eventloop) = AsyncClient::new(options, 4);
    let answered = tokio::time::timeout(WAIT, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .map_err(|_| {
        format!(
            "no CONNACK from {}:{} within {WAIT:?}",
            broker.host, broker.port
        )
    })?;
    answered.map_err(|e| {
        format!(
            "cannot connect to nats-server's MQTT listener at {}:{} (mqtt.url): {e}",
            broker.host, broker.port
        )
    })?;
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
    Ok(())
}
