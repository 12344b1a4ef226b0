//! A tracker that publishes numbered readings at QoS 1 over one MQTT connection and records
//! which ones were PUBACKed: the sender's view of what it handed over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

/// Readings `0..n` on their way, and the numbers PUBACKed so far.
pub struct Tracker {
    acked: Arc<Mutex<Vec<u32>>>,
    acked_count: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
    eventloop: tokio::task::JoinHandle<Option<String>>,
    publisher: tokio::task::JoinHandle<()>,
}

/// How a tracker's run ended.
pub struct Run {
    /// Readings written to the socket (each exactly once: no reconnect, no retransmission).
    pub sent: usize,
    /// Readings PUBACKed, in PUBACK order.
    pub acked: Vec<u32>,
    /// The connection's error, when the server went away or closed it.
    pub error: Option<String>,
}

impl Tracker {
    /// Connects to the MQTT listener at `port` with a clean session and publishes readings
    /// `0..n`, reading `i` on `topic(i)` with payload `payload(i)`, as fast as the in-flight
    /// window allows.
    ///
    /// Clean session, and no reconnect: each reading goes on the wire once, so a reading
    /// found twice in a stream was duplicated by the servers, and a reading missing was lost
    /// by them. (A kept session would have rumqttc resend unacknowledged readings after a
    /// reconnect, which is MQTT's at-least-once and blurs what the servers did.)
    pub fn start(
        port: u16,
        n: u32,
        topic: impl Fn(u32) -> String + Send + 'static,
        payload: impl Fn(u32) -> Vec<u8> + Send + 'static,
    ) -> Tracker {
        let mut o = MqttOptions::new(format!("trk{:x}", rand::random::<u32>()), "127.0.0.1", port);
        o.set_clean_session(true)
            .set_keep_alive(Duration::from_secs(5))
            .set_inflight(100);
        let (client, mut eventloop) = AsyncClient::new(o, 100);
        let acked = Arc::new(Mutex::new(Vec::new()));
        let acked_count = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicUsize::new(0));
        let (acked2, count2, sent2) = (acked.clone(), acked_count.clone(), sent.clone());
        let eventloop = tokio::spawn(async move {
            // Publishes leave in the order they were requested: the k-th outgoing PUBLISH is
            // reading k. Packet ids are reused once acknowledged, hence the map.
            let mut in_flight: HashMap<u16, u32> = HashMap::new();
            let mut next = 0u32;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        in_flight.insert(pkid, next);
                        next += 1;
                        sent2.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        let reading = in_flight.remove(&ack.pkid).expect("PUBACK of nothing");
                        // Never held across an await: the test reads it after the run.
                        acked2.lock().unwrap().push(reading);
                        count2.fetch_add(1, Ordering::SeqCst);
                        if count2.load(Ordering::SeqCst) == n as usize {
                            return None;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Some(e.to_string()),
                }
            }
        });
        let publisher = tokio::spawn(async move {
            for i in 0..n {
                if client
                    .publish(topic(i), QoS::AtLeastOnce, false, payload(i))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Tracker {
            acked,
            acked_count,
            sent,
            eventloop,
            publisher,
        }
    }

    pub fn acked_count(&self) -> usize {
        self.acked_count.load(Ordering::SeqCst)
    }

    /// Waits until every reading is acked or the connection failed, at most `limit`.
    pub async fn finish(self, limit: Duration) -> Run {
        let mut eventloop = self.eventloop;
        let error = match tokio::time::timeout(limit, &mut eventloop).await {
            Ok(ended) => ended.unwrap(),
            Err(_) => {
                eventloop.abort();
                Some(format!("still running after {limit:?}"))
            }
        };
        self.publisher.abort();
        let acked = self.acked.lock().unwrap().clone();
        Run {
            sent: self.sent.load(Ordering::SeqCst),
            acked,
            error,
        }
    }
}
