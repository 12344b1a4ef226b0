//! One administrator connection to Mosquitto's dynamic-security plugin: commands go to
//! `$CONTROL/dynamic-security/v1` as JSON, answers come back on `.../v1/response`, matched
//! to their request by `correlationData`.
//!
//! The connection is made at start and kept (rumqttc reconnects it with a backoff); a request
//! waits for it within the configured timeout, so a broker that is down or refuses the
//! credential makes requests fail with [`BrokerError::Unavailable`] rather than hang.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::tls::TlsError;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

use crate::config::Config;

/// Where commands are published.
pub const CONTROL_TOPIC: &str = "$CONTROL/dynamic-security/v1";
/// Where the plugin answers.
pub const RESPONSE_TOPIC: &str = "$CONTROL/dynamic-security/v1/response";
/// Largest answer accepted (a listing of many clients is the largest).
const MAX_PACKET_BYTES: usize = 16 << 20;

/// Why an administration request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// No connected administrator within the timeout, or no answer.
    #[error("broker administration unavailable: {0}")]
    Unavailable(String),
    /// The plugin refused a command.
    #[error("broker refused {command}: {error}")]
    Refused { command: String, error: String },
}

/// One command's answer: `None` when it succeeded, else the plugin's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub command: String,
    pub error: Option<String>,
    pub data: Value,
}

impl Answer {
    /// Ok, or a refusal naming the command.
    pub fn ok(self) -> Result<Value, BrokerError> {
        match self.error {
            None => Ok(self.data),
            Some(error) => Err(BrokerError::Refused {
                command: self.command,
                error,
            }),
        }
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<Answer>>>>>;

/// The administrator connection.
pub struct Admin {
    client: AsyncClient,
    pending: Pending,
    ready: watch::Receiver<bool>,
    timeout: Duration,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Admin {
    /// Connects with `broker.admin_username`, or `None` when it is not configured. Must be
    /// called inside a Tokio runtime. Fails only on unusable TLS files (`mqtt.tls_*`).
    pub fn start(config: &Config) -> Result<Option<Admin>, TlsError> {
        let b = &config.broker;
        if b.admin_username.is_empty() {
            return Ok(None);
        }
        let broker = config.mqtt_endpoint().expect("validated mqtt.url");
        let transport = crate::tls::mqtt::transport(broker.tls, config.mqtt_tls_files())?;
        let client_id = format!(
            "{}-admin-{:08x}",
            config.mqtt.client_id,
            rand::random::<u32>()
        );
        let mut options = MqttOptions::new(client_id, broker.host, broker.port);
        options
            .set_keep_alive(Duration::from_secs(config.mqtt.keep_alive_s))
            .set_clean_session(true)
            .set_credentials(b.admin_username.clone(), b.admin_password.expose())
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            .set_transport(transport);
        let (client, eventloop) = AsyncClient::new(options, 64);
        let pending: Pending = Arc::default();
        let (ready_tx, ready) = watch::channel(false);
        let task = tokio::spawn(drive(
            eventloop,
            client.clone(),
            pending.clone(),
            ready_tx,
            Duration::from_millis(config.mqtt.reconnect_min_ms),
            Duration::from_millis(config.mqtt.reconnect_max_ms),
        ));
        Ok(Some(Admin {
            client,
            pending,
            ready,
            timeout: Duration::from_millis(b.timeout_ms),
            task,
        }))
    }

    /// Sends `commands` in one message and returns one answer per command, in order.
    pub async fn execute(&self, mut commands: Vec<Value>) -> Result<Vec<Answer>, BrokerError> {
        let id = uuid::Uuid::new_v4().to_string();
        for c in &mut commands {
            c["correlationData"] = json!(id);
        }
        let expected = commands.len();
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("pending lock")
            .insert(id.clone(), tx);
        let result = tokio::time::timeout(self.timeout, async {
            let mut ready = self.ready.clone();
            ready
                .wait_for(|r| *r)
                .await
                .map_err(|_| unavailable("administrator connection closed"))?;
            let body = json!({ "commands": commands }).to_string();
            self.client
                .publish(CONTROL_TOPIC, QoS::AtLeastOnce, false, body)
                .await
                .map_err(|e| unavailable(&e.to_string()))?;
            rx.await
                .map_err(|_| unavailable("connection lost before the answer"))
        })
        .await;
        self.pending.lock().expect("pending lock").remove(&id);
        let answers = match result {
            Ok(answers) => answers?,
            Err(_) => {
                let connected = *self.ready.borrow();
                return Err(unavailable(if connected {
                    "no answer within broker.timeout_ms"
                } else {
                    "not connected within broker.timeout_ms (broker down or credential refused)"
                }));
            }
        };
        if answers.len() != expected {
            return Err(unavailable("answer count does not match the commands"));
        }
        Ok(answers)
    }
}

fn unavailable(why: &str) -> BrokerError {
    BrokerError::Unavailable(why.to_string())
}

/// Polls the connection: subscribes to the answers on every (re)connect, routes answers.
async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    pending: Pending,
    ready: watch::Sender<bool>,
    min: Duration,
    max: Duration,
) {
    let mut delay = min;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                if ack.code == ConnectReturnCode::Success {
                    delay = min;
                    // A request channel full of commands cannot deadlock this: try_ and retry.
                    if let Err(error) = client.try_subscribe(RESPONSE_TOPIC, QoS::AtLeastOnce) {
                        tracing::warn!(%error, "broker admin: cannot subscribe to answers");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                ready.send_replace(true);
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == RESPONSE_TOPIC => {
                route(&pending, &p.payload);
            }
            Ok(_) => {}
            Err(error) => {
                ready.send_replace(false);
                tracing::warn!(%error, ?delay, "broker admin connection failed, reconnecting");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(max);
            }
        }
    }
}

/// Hands one answer message to the request that carries its correlation data.
fn route(pending: &Pending, payload: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        tracing::warn!("broker admin: unreadable answer");
        return;
    };
    let answers = parse_answers(&v);
    let Some(id) = v["responses"]
        .as_array()
        .and_then(|r| r.iter().find_map(|a| a["correlationData"].as_str()))
    else {
        return;
    };
    if let Some(tx) = pending.lock().expect("pending lock").remove(id) {
        let _ = tx.send(answers);
    }
}

/// `{"responses":[{"command":..,"error":..,"data":..}]}` into answers.
pub fn parse_answers(v: &Value) -> Vec<Answer> {
    v["responses"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|a| Answer {
                    command: a["command"].as_str().unwrap_or_default().to_string(),
                    error: a["error"].as_str().map(str::to_string),
                    data: a["data"].clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_order_errors_and_data() {
        let v = json!({"responses": [
            {"command": "deleteClient", "error": "Client not found", "correlationData": "x"},
            {"command": "createClient", "correlationData": "x"},
            {"command": "getClient", "data": {"client": {"username": "u"}}}
        ]});
        let a = parse_answers(&v);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].error.as_deref(), Some("Client not found"));
        assert!(a[1].clone().ok().is_ok());
        assert_eq!(a[2].data["client"]["username"], "u");
        assert_eq!(
            a[0].clone().ok(),
            Err(BrokerError::Refused {
                command: "deleteClient".into(),
                error: "Client not found".into()
            })
        );
    }

    #[test]
    fn hostile_answers_are_empty_not_a_panic() {
        for v in [
            json!(null),
            json!({"responses": 3}),
            json!({"responses": [1, "x"]}),
        ] {
            let a = parse_answers(&v);
            assert!(a.iter().all(|a| a.command.is_empty()));
        }
    }
}
