//! Acknowledgement tracking for one MQTT connection, and the token that carries a message's
//! acknowledgement (MQTT or JetStream) through the pipeline.
//!
//! Every QoS ≥ 1 message is registered in arrival order; its [`AckToken`] travels with the
//! data and is resolved by the writer after the commit that made it durable. MQTT wants
//! PUBACKs in arrival order (MQTT-4.6.0-2), so only the contiguous prefix of resolved messages
//! becomes ready to acknowledge. A token dropped unresolved means "not delivered": its message
//! and every later one on the connection stay unacknowledged, and the broker redelivers them.
//!
//! A reconnect starts a new generation: the broker redelivers whatever was unacknowledged, so
//! older registrations are forgotten and their late resolutions ignored (their packet ids may
//! now name other messages).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::QoS;
use tokio::sync::{Notify, OwnedSemaphorePermit};

use super::jetstream::acker::Acks;

/// One connection's unacknowledged messages.
#[derive(Default)]
pub struct InFlight {
    // std Mutex: every critical section is a few pointer moves, never across an await.
    state: Mutex<State>,
    ready_notify: Notify,
}

#[derive(Default)]
struct State {
    generation: u64,
    /// Sequence number of `entries[0]`.
    base: u64,
    entries: VecDeque<Entry>,
    /// Packet ids whose acks may be sent, in order.
    ready: Vec<(u16, QoS)>,
}

struct Entry {
    pkid: u16,
    qos: QoS,
    received: Instant,
    resolved: bool,
}

impl InFlight {
    pub fn new() -> Arc<Self> {
        Arc::new(InFlight::default())
    }

    /// Records a message received now; the token must be resolved once it is durable.
    /// QoS 0 messages need no acknowledgement and are not tracked.
    pub fn register(
        self: &Arc<Self>,
        pkid: u16,
        qos: QoS,
        permit: Option<OwnedSemaphorePermit>,
    ) -> AckToken {
        if qos == QoS::AtMostOnce {
            return AckToken {
                target: None,
                _permit: permit,
            };
        }
        let mut s = self.lock();
        let seq = s.base + s.entries.len() as u64;
        s.entries.push_back(Entry {
            pkid,
            qos,
            received: Instant::now(),
            resolved: false,
        });
        AckToken {
            target: Some(Target::Mqtt(Arc::clone(self), s.generation, seq)),
            _permit: permit,
        }
    }

    /// Forgets every registration: called when a new connection (re)starts the session.
    pub fn new_generation(&self) {
        let mut s = self.lock();
        s.generation += 1;
        s.base += s.entries.len() as u64;
        s.entries.clear();
        s.ready.clear();
    }

    /// Takes the acks that may be sent now, in order.
    pub fn take_ready(&self) -> Vec<(u16, QoS)> {
        std::mem::take(&mut self.lock().ready)
    }

    /// Waits until [`take_ready`](Self::take_ready) may return something.
    pub async fn ready(&self) {
        self.ready_notify.notified().await
    }

    /// Messages registered and not yet acknowledged (or made ready to be).
    pub fn pending(&self) -> usize {
        self.lock().entries.len()
    }

    /// Age of the oldest message not yet ready to acknowledge.
    pub fn oldest_age(&self) -> Option<Duration> {
        self.lock().entries.front().map(|e| e.received.elapsed())
    }

    fn resolve(&self, generation: u64, seq: u64) {
        let mut s = self.lock();
        if generation != s.generation || seq < s.base {
            return;
        }
        let idx = (seq - s.base) as usize;
        let Some(entry) = s.entries.get_mut(idx) else {
            return;
        };
        entry.resolved = true;
        let mut advanced = false;
        while s.entries.front().is_some_and(|e| e.resolved) {
            let e = s.entries.pop_front().expect("front exists");
            s.base += 1;
            s.ready.push((e.pkid, e.qos));
            advanced = true;
        }
        drop(s);
        if advanced {
            self.ready_notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("in-flight state poisoned")
    }
}

/// Travels with a message's data; [`resolve`](AckToken::resolve) it after the durable write.
/// Holds the message's share of the in-flight memory budget until dropped.
#[must_use = "an ack token dropped unresolved leaves the message unacknowledged"]
pub struct AckToken {
    target: Option<Target>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Whom a token acknowledges to.
enum Target {
    /// An MQTT connection's tracker: its generation and the message's sequence number.
    Mqtt(Arc<InFlight>, u64, u64),
    /// A JetStream delivery: its reply subject, acknowledged through the source's acker.
    JetStream(Arc<Acks>, async_nats::Subject),
}

impl AckToken {
    /// A token that acknowledges nothing (QoS 0, tests, tools).
    pub fn detached() -> Self {
        AckToken {
            target: None,
            _permit: None,
        }
    }

    /// A JetStream delivery's token: [`resolve`](Self::resolve) acknowledges it, dropping it
    /// unresolved asks the servers to deliver it again at once (to this node or another).
    pub fn jetstream(
        acks: Arc<Acks>,
        reply: async_nats::Subject,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        acks.taken();
        AckToken {
            target: Some(Target::JetStream(acks, reply)),
            _permit: permit,
        }
    }

    /// The message is durable (committed or recorded as rejected): it may be acknowledged.
    pub fn resolve(mut self) {
        match self.target.take() {
            Some(Target::Mqtt(inflight, generation, seq)) => inflight.resolve(generation, seq),
            Some(Target::JetStream(acks, reply)) => acks.settle(reply, true),
            None => {}
        }
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        // An MQTT message left unresolved blocks the acks after it until the broker
        // redelivers; a JetStream one is handed back.
        if let Some(Target::JetStream(acks, reply)) = self.target.take() {
            acks.settle(reply, false);
        }
    }
}

impl std::fmt::Debug for AckToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Some(Target::Mqtt(_, g, s)) => write!(f, "AckToken(gen {g}, seq {s})"),
            Some(Target::JetStream(_, reply)) => write!(f, "AckToken({reply})"),
            None => f.write_str("AckToken(detached)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q1: QoS = QoS::AtLeastOnce;

    fn pkids(v: Vec<(u16, QoS)>) -> Vec<u16> {
        v.into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn acks_only_the_contiguous_resolved_prefix_in_arrival_order() {
        let f = InFlight::new();
        let t1 = f.register(11, Q1, None);
        let t2 = f.register(12, Q1, None);
        let t3 = f.register(13, Q1, None);
        t3.resolve();
        t2.resolve();
        assert!(f.take_ready().is_empty(), "11 is not durable yet");
        assert_eq!(f.pending(), 3);
        t1.resolve();
        assert_eq!(pkids(f.take_ready()), vec![11, 12, 13]);
        assert_eq!(f.pending(), 0);
        assert!(f.oldest_age().is_none());
    }

    #[test]
    fn a_dropped_token_blocks_later_acks() {
        let f = InFlight::new();
        let t1 = f.register(1, Q1, None);
        let t2 = f.register(2, Q1, None);
        drop(t1);
        t2.resolve();
        assert!(f.take_ready().is_empty());
        assert_eq!(f.pending(), 2);
    }

    #[test]
    fn a_new_generation_forgets_old_messages_and_ignores_their_resolution() {
        let f = InFlight::new();
        let old = f.register(7, Q1, None);
        f.new_generation();
        let new = f.register(7, Q1, None); // the broker's redelivery, same packet id
        old.resolve();
        assert!(
            f.take_ready().is_empty(),
            "the old generation's ack must not be sent"
        );
        new.resolve();
        assert_eq!(pkids(f.take_ready()), vec![7]);
    }

    #[test]
    fn qos0_is_not_tracked() {
        let f = InFlight::new();
        let t = f.register(0, QoS::AtMostOnce, None);
        assert_eq!(f.pending(), 0);
        t.resolve();
        assert!(f.take_ready().is_empty());
    }

    #[tokio::test]
    async fn ready_wakes_after_resolution_even_if_notified_first() {
        let f = InFlight::new();
        let t = f.register(5, Q1, None);
        t.resolve();
        // The permit stored by notify_one makes this return at once.
        tokio::time::timeout(Duration::from_secs(5), f.ready())
            .await
            .expect("woken");
        assert_eq!(pkids(f.take_ready()), vec![5]);
    }

    #[test]
    fn permits_are_released_when_the_token_goes() {
        let sem = Arc::new(tokio::sync::Semaphore::new(10));
        let f = InFlight::new();
        let permit = sem.clone().try_acquire_many_owned(4).unwrap();
        let t = f.register(1, Q1, Some(permit));
        assert_eq!(sem.available_permits(), 6);
        t.resolve();
        assert_eq!(sem.available_permits(), 10);
    }
}
