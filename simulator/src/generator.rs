//! A generator thread: steps its shard, waits for the clock or the rate limit, and hands
//! payloads to its connection's `AsyncClient` (or, with per-vehicle accounts, to the
//! connection of the payload's vehicle).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::QoS;
use tokio::runtime::Handle;

use crate::connection::Link;
use crate::pacing::Pacer;
use crate::payload;
use crate::publisher::epoch_ms;
use crate::shard::{Message, Shard};

/// Longest single sleep of a generator, so it notices a stop quickly.
const MAX_NAP: Duration = Duration::from_millis(50);
/// How long one attempt to hand a payload to a full client channel may wait before the
/// generator checks whether it should give up.
const PUBLISH_SLICE: Duration = Duration::from_millis(200);
/// After the end of the run (deadline or stop request), how long a generator keeps trying
/// while the broker takes no payload at all.
const GIVE_UP_AFTER: Duration = Duration::from_secs(15);

/// One generator thread's inputs.
pub(crate) struct Generator {
    pub(crate) shard: Shard,
    /// One connection for the whole shard, or one per vehicle: the shard's vehicles are
    /// `first_vehicle`, `first_vehicle + stride`, ... and `links[i]` is the `i`-th one's.
    pub(crate) links: Vec<Link>,
    pub(crate) first_vehicle: u32,
    pub(crate) stride: u32,
    pub(crate) handle: Handle,
    pub(crate) qos: QoS,
    pub(crate) limit: Option<u64>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) pacer: Option<Pacer>,
    pub(crate) start: Instant,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) prefix: String,
    pub(crate) id_prefix: String,
    pub(crate) width: usize,
    /// Set once the generator gave up on the broker: the rest is abandoned at once.
    pub(crate) abandoned: bool,
    /// Set when generation is over and the shard's buffers are being flushed.
    pub(crate) finishing: bool,
    /// When the broker last took a payload.
    pub(crate) last_progress: Instant,
}

impl Generator {
    fn should_stop(&self, produced: u64) -> bool {
        self.stop.load(Relaxed)
            || self.limit.is_some_and(|l| produced >= l)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub(crate) fn run(mut self) -> Shard {
        let mut out: Vec<Message> = Vec::with_capacity(64);
        let mut produced = 0u64;
        let mut now_ms = epoch_ms();
        while !self.abandoned {
            // Checking the clocks costs tens of nanoseconds; once per 64 readings is plenty.
            if produced % 64 == 0 {
                now_ms = epoch_ms();
                if self.should_stop(produced) {
                    break;
                }
            } else if self.limit.is_some_and(|l| produced >= l) {
                break;
            }
            let Some(ts) = self.shard.peek_ts() else {
                break;
            };
            if ts > now_ms {
                now_ms = epoch_ms();
                if ts > now_ms {
                    if self.should_stop(produced) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis((ts - now_ms) as u64).min(MAX_NAP));
                    continue;
                }
            }
            if let Some(wait) = self
                .pacer
                .and_then(|p| p.wait(produced, self.start.elapsed()))
            {
                if self.should_stop(produced) {
                    break;
                }
                std::thread::sleep(wait.min(MAX_NAP));
                continue;
            }
            self.shard.step(now_ms, &mut out);
            produced += 1;
            for m in out.drain(..) {
                self.publish(m);
            }
        }
        self.finishing = true;
        self.shard.finish(epoch_ms(), &mut out);
        for m in out.drain(..) {
            self.publish(m);
        }
        self.shard
    }

    /// True once the run is over (or a stop was requested) and the broker has taken no
    /// payload for `GIVE_UP_AFTER`.
    fn give_up(&self) -> bool {
        let over = self.finishing
            || self.stop.load(Relaxed)
            || self.deadline.is_some_and(|d| Instant::now() >= d);
        over && self.last_progress.elapsed() >= GIVE_UP_AFTER
    }

    /// The connection that publishes `vehicle`'s payloads.
    fn link(&self, vehicle: u32) -> &Link {
        if self.links.len() == 1 {
            &self.links[0]
        } else {
            &self.links[((vehicle - self.first_vehicle) / self.stride) as usize]
        }
    }

    fn publish(&mut self, m: Message) {
        if self.abandoned {
            self.abandon(&m);
            return;
        }
        let topic =
            payload::vehicle_topic(&self.prefix, &self.id_prefix, self.width, m.vehicle, m.kind);
        let readings = if m.duplicate { 0 } else { m.readings };
        let bytes = m.payload.len() as u64;
        // `Bytes`: a retry after a timed-out attempt needs the payload again, uncopied.
        let Message {
            vehicle,
            kind,
            payload,
            duplicate,
            ..
        } = m;
        let payload = Bytes::from(payload);
        let qos1 = self.qos == QoS::AtLeastOnce;
        if qos1 {
            self.link(vehicle).acks.push(readings);
        }
        loop {
            let link = self.link(vehicle);
            let attempt =
                link.client
                    .publish_bytes(topic.clone(), self.qos, false, payload.clone());
            match self
                .handle
                .block_on(async { tokio::time::timeout(PUBLISH_SLICE, attempt).await })
            {
                Ok(Ok(())) => {
                    self.last_progress = Instant::now();
                    let counters = &self.link(vehicle).counters;
                    counters.payloads.fetch_add(1, Relaxed);
                    counters.readings.fetch_add(u64::from(readings), Relaxed);
                    counters.bytes.fetch_add(bytes, Relaxed);
                    return;
                }
                // The channel is full (the broker is slow or gone): keep trying until the run
                // is over and the grace period has passed.
                Err(_elapsed) if !self.give_up() => continue,
                // Given up, or the event loop is gone: the request never reached it.
                _ => {
                    if qos1 {
                        self.link(vehicle).acks.pop_back();
                    }
                    eprintln!("fleet-sim: the broker does not take payloads; abandoning the rest");
                    self.abandoned = true;
                    let m = Message {
                        vehicle,
                        kind,
                        payload: payload.into(),
                        readings,
                        duplicate,
                    };
                    self.abandon(&m);
                    return;
                }
            }
        }
    }

    /// Takes a payload that was never handed over out of the manifest and the counts.
    fn abandon(&mut self, m: &Message) {
        let counters = self.link(m.vehicle).counters.clone();
        counters.publish_errors.fetch_add(1, Relaxed);
        if !m.duplicate {
            self.shard.forget(m, epoch_ms());
            let n = u64::from(m.readings);
            counters.abandoned_readings.fetch_add(n, Relaxed);
        }
    }
}
