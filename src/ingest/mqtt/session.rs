//! What the broker kept of a connection's persistent session, checked on every (re)connect.
//!
//! A broker that answers `session_present = 1` claims to have kept the session, but Mosquitto
//! 2.0 restores a *shared* subscription's queued messages after a restart and not the
//! subscription itself: until the client subscribes again, whatever is published is routed
//! to nobody. fleetd therefore subscribes plainly by default (a plain subscription is restored)
//! and checks, on each reconnect, what really survived:
//!
//! 1. before subscribing, publish a *probe* to this connection's own canary topic, which is
//!    subscribed the same way as the telemetry (plain, or shared in the same group);
//! 2. subscribe (the telemetry and the canary), which re-creates whatever was missing;
//! 3. publish a *check* to the canary topic.
//!
//! The broker routes a message when it receives it and delivers one topic's QoS 1 messages in
//! order (MQTT 3.1.1, 4.6.0-6). So the check arriving with no probe before it means the
//! subscription was gone and step 2 re-created it; the probe arriving first means it survived.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{MqttConfig, SubscriptionMode};

/// The filters and topics one connection uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// The telemetry subscription.
    pub telemetry: String,
    /// Where the probe and check are published: `{prefix}-canary/{client_id}`, which no
    /// telemetry filter matches.
    pub canary_topic: String,
    /// The canary subscription, made the same way as the telemetry one.
    pub canary_filter: String,
    /// Filters of the other subscription mode, unsubscribed after subscribing, so a session
    /// that switched modes does not receive every reading twice.
    pub stale: [String; 2],
}

impl Topics {
    pub fn new(config: &MqttConfig, client_id: &str) -> Topics {
        let prefix = &config.topic_prefix;
        let share = |filter: &str| format!("$share/{}/{filter}", config.share_group);
        let plain_telemetry = format!("{prefix}/#");
        let canary_topic = format!("{prefix}-canary/{client_id}");
        let (telemetry, canary_filter, stale) = match config.subscription {
            SubscriptionMode::Plain => (
                plain_telemetry.clone(),
                canary_topic.clone(),
                [share(&plain_telemetry), share(&canary_topic)],
            ),
            SubscriptionMode::Shared => (
                share(&plain_telemetry),
                share(&canary_topic),
                [plain_telemetry, canary_topic.clone()],
            ),
        };
        Topics {
            telemetry,
            canary_topic,
            canary_filter,
            stale,
        }
    }
}

/// What a reconnect found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Connected, check not finished yet (the canary waits behind any backlog).
    Checking,
    /// The broker had no session (`session_present = 0`): a fresh subscription.
    NewSession,
    /// The session and its subscription survived.
    Restored,
    /// `session_present = 1`, but the subscription was gone and had to be re-created: what
    /// was published between the broker's restart and the re-subscription was routed to
    /// nobody.
    Recreated,
}

/// The probe of one connection generation.
#[derive(Debug)]
pub struct Probe {
    nonce: u64,
    saw_probe: bool,
    outcome: Outcome,
}

impl Probe {
    /// Starts a check after a CONNACK. Only a session the broker claims to have kept needs
    /// checking ([`needs_canary`](Self::needs_canary)); a new one is decided at once.
    pub fn start(session_present: bool, nonce: u64) -> Probe {
        Probe {
            nonce,
            saw_probe: false,
            outcome: if session_present {
                Outcome::Checking
            } else {
                Outcome::NewSession
            },
        }
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Whether the probe and check must be published.
    pub fn needs_canary(&self) -> bool {
        self.outcome == Outcome::Checking
    }

    /// The payload published before subscribing.
    pub fn probe_payload(&self) -> String {
        format!("probe {}", self.nonce)
    }

    /// The payload published after subscribing.
    pub fn check_payload(&self) -> String {
        format!("check {}", self.nonce)
    }

    /// Takes a message from the canary topic; returns the outcome when this message decides
    /// it. Messages of earlier generations (other nonces) are ignored.
    pub fn on_canary(&mut self, payload: &[u8]) -> Option<Outcome> {
        if self.outcome != Outcome::Checking {
            return None;
        }
        let text = std::str::from_utf8(payload).ok()?;
        let (kind, nonce) = text.split_once(' ')?;
        if nonce.parse::<u64>().ok()? != self.nonce {
            return None;
        }
        match kind {
            "probe" => {
                self.saw_probe = true;
                None
            }
            "check" => {
                self.outcome = if self.saw_probe {
                    Outcome::Restored
                } else {
                    Outcome::Recreated
                };
                Some(self.outcome)
            }
            _ => None,
        }
    }
}

/// One connection's session, as `/readyz` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionReport {
    pub client_id: String,
    pub connected: bool,
    /// What the broker answered on the last CONNACK.
    pub session_present: Option<bool>,
    /// The last check's result (`null` before the first connection).
    pub subscription: Option<Outcome>,
    /// Times the subscription had to be re-created although the session was present.
    pub recreated_total: u64,
    /// When that last happened.
    pub last_recreated_at: Option<DateTime<Utc>>,
    /// Messages received on this connection since the last re-creation: an operator compares
    /// them with what trackers sent to size the gap.
    pub messages_since_recreated: Option<u64>,
}

/// Shared between the connection task and status readers.
#[derive(Debug)]
pub struct SessionState {
    client_id: String,
    received: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    connected: bool,
    session_present: Option<bool>,
    subscription: Option<Outcome>,
    recreated_total: u64,
    last_recreated_at: Option<DateTime<Utc>>,
    received_at_recreation: Option<u64>,
}

impl SessionState {
    pub fn new(client_id: String) -> SessionState {
        SessionState {
            client_id,
            received: AtomicU64::new(0),
            inner: Mutex::default(),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Counts a telemetry message received.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connected(&self, session_present: bool, outcome: Outcome) {
        let mut s = self.lock();
        s.connected = true;
        s.session_present = Some(session_present);
        s.subscription = Some(outcome);
    }

    pub fn disconnected(&self) {
        self.lock().connected = false;
    }

    /// Whether the connection is up (for `/readyz`, without building a whole report).
    pub fn is_connected(&self) -> bool {
        self.lock().connected
    }

    /// Records a finished check.
    pub fn checked(&self, outcome: Outcome) {
        let mut s = self.lock();
        s.subscription = Some(outcome);
        if outcome == Outcome::Recreated {
            s.recreated_total += 1;
            s.last_recreated_at = Some(Utc::now());
            s.received_at_recreation = Some(self.received.load(Ordering::Relaxed));
        }
    }

    pub fn report(&self) -> SessionReport {
        let s = self.lock();
        SessionReport {
            client_id: self.client_id.clone(),
            connected: s.connected,
            session_present: s.session_present,
            subscription: s.subscription,
            recreated_total: s.recreated_total,
            last_recreated_at: s.last_recreated_at,
            messages_since_recreated: s
                .received_at_recreation
                .map(|at| self.received.load(Ordering::Relaxed).saturating_sub(at)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("session state poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: SubscriptionMode) -> MqttConfig {
        MqttConfig {
            subscription: mode,
            ..MqttConfig::default()
        }
    }

    #[test]
    fn plain_topics_and_the_shared_ones_to_drop() {
        let t = Topics::new(&config(SubscriptionMode::Plain), "fleetd-0");
        assert_eq!(t.telemetry, "fleet/#");
        assert_eq!(t.canary_topic, "fleet-canary/fleetd-0");
        assert_eq!(t.canary_filter, "fleet-canary/fleetd-0");
        assert_eq!(
            t.stale,
            [
                "$share/fleetd/fleet/#".to_string(),
                "$share/fleetd/fleet-canary/fleetd-0".to_string()
            ]
        );
    }

    #[test]
    fn shared_topics_and_the_plain_ones_to_drop() {
        let t = Topics::new(&config(SubscriptionMode::Shared), "fleetd-1");
        assert_eq!(t.telemetry, "$share/fleetd/fleet/#");
        assert_eq!(t.canary_filter, "$share/fleetd/fleet-canary/fleetd-1");
        assert_eq!(
            t.stale,
            ["fleet/#".to_string(), "fleet-canary/fleetd-1".to_string()]
        );
    }

    #[test]
    fn the_canary_topic_is_outside_the_telemetry_filter_for_any_prefix() {
        for prefix in ["fleet", "a/b", "fleet-canary", "x"] {
            let c = MqttConfig {
                topic_prefix: prefix.into(),
                ..MqttConfig::default()
            };
            let t = Topics::new(&c, "id-0");
            assert!(
                !t.canary_topic.starts_with(&format!("{prefix}/")),
                "{prefix}: {}",
                t.canary_topic
            );
        }
    }

    #[test]
    fn a_new_session_needs_no_check() {
        let p = Probe::start(false, 7);
        assert_eq!(p.outcome(), Outcome::NewSession);
        assert!(!p.needs_canary());
    }

    #[test]
    fn probe_then_check_means_restored() {
        let mut p = Probe::start(true, 7);
        assert!(p.needs_canary());
        assert_eq!(p.on_canary(p.probe_payload().as_bytes()), None);
        let check = p.check_payload();
        assert_eq!(p.on_canary(check.as_bytes()), Some(Outcome::Restored));
        // Decided once; a late duplicate changes nothing.
        assert_eq!(p.on_canary(check.as_bytes()), None);
        assert_eq!(p.outcome(), Outcome::Restored);
    }

    #[test]
    fn check_alone_means_recreated() {
        let mut p = Probe::start(true, 7);
        let check = p.check_payload();
        assert_eq!(p.on_canary(check.as_bytes()), Some(Outcome::Recreated));
    }

    #[test]
    fn other_generations_and_garbage_are_ignored() {
        let mut p = Probe::start(true, 7);
        assert_eq!(p.on_canary(b"probe 6"), None);
        assert_eq!(p.on_canary(b"check 6"), None);
        assert_eq!(p.on_canary(b"\xff\xfe"), None);
        assert_eq!(p.on_canary(b"check"), None);
        assert_eq!(p.on_canary(b"check seven"), None);
        assert_eq!(p.on_canary(b"hello 7"), None);
        assert_eq!(p.outcome(), Outcome::Checking);
        assert_eq!(p.on_canary(b"check 7"), Some(Outcome::Recreated));
    }

    #[test]
    fn reports_count_messages_since_the_last_recreation() {
        let s = SessionState::new("fleetd-0".into());
        assert_eq!(s.report().subscription, None);
        s.connected(true, Outcome::Checking);
        s.received();
        s.checked(Outcome::Restored);
        let r = s.report();
        assert_eq!(r.recreated_total, 0);
        assert_eq!(r.messages_since_recreated, None);
        s.connected(true, Outcome::Checking);
        s.checked(Outcome::Recreated);
        s.received();
        s.received();
        let r = s.report();
        assert_eq!(r.subscription, Some(Outcome::Recreated));
        assert_eq!(r.recreated_total, 1);
        assert_eq!(r.messages_since_recreated, Some(2));
        assert!(r.last_recreated_at.is_some());
        s.disconnected();
        assert!(!s.report().connected);
    }
}
