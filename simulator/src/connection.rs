//! One MQTT connection: connecting, and the task that polls its rumqttc `EventLoop`.
//!
//! The task does nothing but poll (it must never block): it counts PubAcks, attributes them
//! to readings, and reconnects after errors, publishing again what the broker never
//! acknowledged (see [`crate::resend`] for how, around rumqttc's faults).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Transport};

use crate::config::RunConfig;
use crate::provision::credentials::Credential;
use crate::publisher::RunError;
use crate::resend::Resend;
use crate::stats::ConnCounters;

/// Requests queued between a generator and its event loop.
const REQUEST_CHANNEL_CAPACITY: usize = 256;
/// Large enough for a 1,000-reading batch (docs/telemetry.md caps payloads at 256 KiB).
const MAX_PACKET_BYTES: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reading counts of the payloads handed to one client, in order, so the event loop can
/// attribute each PubAck to its readings. A `std` mutex: pushes and pops are a few
/// nanoseconds and never cross an `.await`.
#[derive(Default)]
pub(crate) struct AckBook(Mutex<VecDeque<u32>>);

impl AckBook {
    pub(crate) fn push(&self, n: u32) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back(n);
        }
    }
    fn pop_front(&self) -> u32 {
        self.0
            .lock()
            .ok()
            .and_then(|mut q| q.pop_front())
            .unwrap_or(0)
    }
    pub(crate) fn pop_back(&self) {
        if let Ok(mut q) = self.0.lock() {
            q.pop_back();
        }
    }
    fn clear(&self) {
        if let Ok(mut q) = self.0.lock() {
            q.clear();
        }
    }
}

pub(crate) struct Conn {
    pub(crate) client: AsyncClient,
    pub(crate) counters: Arc<ConnCounters>,
    pub(crate) acks: Arc<AckBook>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// What a generator holds of one connection.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) client: AsyncClient,
    pub(crate) counters: Arc<ConnCounters>,
    pub(crate) acks: Arc<AckBook>,
}

impl Conn {
    pub(crate) fn link(&self) -> Link {
        Link {
            client: self.client.clone(),
            counters: self.counters.clone(),
            acks: self.acks.clone(),
        }
    }
}

/// Connects over `transport` (built once per run: TCP or TLS); with a tracker `account`, as
/// that tracker (its username, password and client id, which the broker binds to the account).
pub(crate) async fn connect(
    cfg: &RunConfig,
    transport: &Transport,
    index: u32,
    run_id: i64,
    shutting: Arc<AtomicBool>,
    account: Option<&Credential>,
) -> Result<Conn, RunError> {
    let id = match account {
        Some(a) => a.username.clone(),
        None => format!("fleet-sim-{}-{run_id}-{index}", std::process::id()),
    };
    let mut opts = MqttOptions::new(id, cfg.mqtt.host.clone(), cfg.mqtt.port);
    if let Some(a) = account {
        opts.set_credentials(a.username.clone(), a.password.clone());
    }
    // A persistent session (the id is unique per run): after a broker restart the session
    // resumes and rumqttc retransmits the publishes the broker had not acknowledged, so
    // every reading in the manifest does reach the broker, as the drills require.
    opts.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_inflight(cfg.inflight)
        .set_transport(transport.clone());
    let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_CHANNEL_CAPACITY);
    let err = |message: String| RunError::Connect {
        scheme: cfg.mqtt.scheme(),
        host: cfg.mqtt.host.clone(),
        port: cfg.mqtt.port,
        message,
    };
    let connack = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(err(e.to_string())),
            }
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, connack)
        .await
        .map_err(|_| err("timed out".into()))??;
    let counters = Arc::new(ConnCounters::default());
    let acks = Arc::new(AckBook::default());
    let task = tokio::spawn(drive(
        eventloop,
        index,
        cfg.inflight,
        counters.clone(),
        acks.clone(),
        shutting,
    ));
    Ok(Conn {
        client,
        counters,
        acks,
        task,
    })
}

/// Polls one event loop until the client disconnects, counting PubAcks.
async fn drive(
    mut eventloop: EventLoop,
    index: u32,
    window: u16,
    counters: Arc<ConnCounters>,
    acks: Arc<AckBook>,
    shutting: Arc<AtomicBool>,
) {
    // Readings per in-flight packet id; rumqttc ids run 1..=inflight.
    let mut inflight = vec![0u32; usize::from(u16::MAX) + 1];
    let mut resend = Resend::default();
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) if pkid != 0 => {
                inflight[usize::from(pkid)] = acks.pop_front();
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                counters.acked_payloads.fetch_add(1, Relaxed);
                let n = std::mem::take(&mut inflight[usize::from(ack.pkid)]);
                counters.acked_readings.fetch_add(u64::from(n), Relaxed);
            }
            // The first ConnAck is `connect`'s: this one answers a reconnect.
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                let again = resend.reconnected(connack.session_present);
                if !connack.session_present {
                    counters.sessions_lost.fetch_add(1, Relaxed);
                    counters
                        .republished_payloads
                        .fetch_add(again as u64, Relaxed);
                    eprintln!("fleet-sim: connection {index}: the broker kept no session; publishing the {again} payloads in flight again, as new");
                }
            }
            Ok(Event::Outgoing(Outgoing::AwaitAck(_))) => {
                counters.collisions.fetch_add(1, Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(error) => {
                if shutting.load(Relaxed) {
                    return;
                }
                counters.connection_errors.fetch_add(1, Relaxed);
                resend.failed(&mut eventloop);
                eprintln!("fleet-sim: connection {index}: {error}; reconnecting ({} payloads in flight are sent again, then {} queued)", eventloop.pending.len(), resend.queued());
                // Retransmissions reuse packet ids and produce Outgoing events again, so the
                // per-id reading counts no longer line up: start afresh (acked_readings is
                // approximate after a reconnect; acked_payloads stays exact).
                acks.clear();
                inflight.fill(0);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        resend.feed(&mut eventloop, window);
    }
}
