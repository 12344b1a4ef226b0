//! Stage 2: decoder threads turn MQTT messages into COPY tuples.
//!
//! Decoding is CPU-bound (a 256 KiB JSON batch takes about a millisecond), which would block
//! an async runtime worker well past the ~500 µs budget, so it runs on a fixed pool of OS
//! threads. They share one bounded MPMC queue (`async_channel`: the MQTT tasks `send().await`
//! into it, the threads `recv_blocking()` from it) and hand results to the batcher through a
//! bounded tokio channel with `blocking_send`. Encoding to COPY format here, in parallel,
//! leaves the writers nothing to do but stream bytes.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::ingest::copy;
use crate::ingest::decode::{self, REJECT_PAYLOAD_BYTES};
use crate::ingest::inflight::AckToken;
use crate::ingest::partitions::day_of;
use crate::ingest::reading::{Decoded, GpsReading, Kind, ObdReading, RejectReason, Window};
use crate::ingest::reject_budget::RejectBudget;
use crate::ingest::topic::parse_topic;
use crate::metrics::{kind_label, Metrics};

/// A message as it left the broker.
#[derive(Debug)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    /// Arrival time, Unix microseconds (stored as `received_at`).
    pub received_us: i64,
    pub received: std::time::Instant,
    pub ack: AckToken,
}

/// A message turned into COPY tuples, still carrying its ack.
#[derive(Debug)]
pub struct Encoded {
    pub ack: AckToken,
    pub topic: String,
    /// Kept (reference-counted, not copied) to record the message as rejected if the database
    /// refuses rows that passed validation.
    pub payload: Bytes,
    pub received_us: i64,
    pub received: std::time::Instant,
    pub kind: Option<Kind>,
    /// The topic's vehicle id (`None` when the topic was rejected).
    pub vehicle_id: Option<Box<str>>,
    pub gps: Vec<u8>,
    pub gps_rows: usize,
    pub obd: Vec<u8>,
    pub obd_rows: usize,
    pub rejects: Vec<u8>,
    pub reject_reasons: Vec<RejectReason>,
    /// The reject rows were dropped (the vehicle's reject budget was spent): `reject_reasons`
    /// are counted as unrecorded.
    pub rejects_unrecorded: bool,
    /// Distinct UTC days of the readings, for the partition manager.
    pub days: Vec<i64>,
    /// The earliest GPS and OBD readings' timestamps (Unix µs), marked for the trip
    /// segmenter.
    pub earliest_gps_us: Option<i64>,
    pub earliest_obd_us: Option<i64>,
    /// The message's newest GPS reading and its vehicle, for the live position index.
    pub latest_gps: Option<(Box<str>, GpsReading)>,
    /// The message's newest OBD reading, for the latest OBD values.
    pub latest_obd: Option<ObdReading>,
}

impl Encoded {
    pub fn rows(&self) -> usize {
        self.gps_rows + self.obd_rows + self.reject_reasons.len()
    }

    pub fn bytes(&self) -> usize {
        self.gps.len() + self.obd.len() + self.rejects.len()
    }

    /// Replaces the readings by one reject row for the whole message: used when PostgreSQL
    /// refuses a message whose readings passed validation.
    pub fn into_rejected(mut self, why: &str) -> Encoded {
        self.reject_whole(RejectReason::DbRejected, why);
        self
    }

    /// Spends `budget` on the message's reject rows, if any; over it, drops them (they are
    /// then counted as unrecorded).
    pub fn spend_reject_budget(&mut self, budget: &RejectBudget, now: std::time::Instant) {
        if self.rejects.is_empty() {
            return;
        }
        if !budget.allows(self.vehicle_id.as_deref(), &self.topic, now) {
            self.rejects = Vec::new();
            self.rejects_unrecorded = true;
        }
    }

    /// Replaces the readings (and any reject rows) by one `reason` reject row for the whole
    /// message.
    pub fn reject_whole(&mut self, reason: RejectReason, why: &str) {
        self.gps.clear();
        self.obd.clear();
        self.rejects.clear();
        self.gps_rows = 0;
        self.obd_rows = 0;
        self.days.clear();
        self.earliest_gps_us = None;
        self.earliest_obd_us = None;
        self.latest_gps = None;
        self.latest_obd = None;
        self.reject_reasons = vec![reason];
        self.rejects_unrecorded = false;
        let text = format!("{}: {why}", reason.code());
        copy::reject_tuple(
            &mut self.rejects,
            self.received_us,
            &self.topic,
            &text,
            cut(&self.payload, 0..self.payload.len()),
        );
    }
}

/// Decodes and encodes one message. Pure apart from reading `now_us`.
pub fn encode_message(prefix: &str, msg: Message, now_us: i64, window: &Window) -> Encoded {
    let mut out = Encoded {
        ack: msg.ack,
        topic: msg.topic,
        payload: msg.payload,
        received_us: msg.received_us,
        received: msg.received,
        kind: None,
        vehicle_id: None,
        gps: Vec::new(),
        gps_rows: 0,
        obd: Vec::new(),
        obd_rows: 0,
        rejects: Vec::new(),
        reject_reasons: Vec::new(),
        rejects_unrecorded: false,
        days: Vec::new(),
        earliest_gps_us: None,
        earliest_obd_us: None,
        latest_gps: None,
        latest_obd: None,
    };
    let (vehicle_id, kind) = match parse_topic(prefix, &out.topic) {
        Ok(v) => v,
        Err(e) => {
            let reason = format!("{}: {e}", RejectReason::BadTopic.code());
            copy::reject_tuple(
                &mut out.rejects,
                out.received_us,
                &out.topic,
                &reason,
                cut(&out.payload, 0..out.payload.len()),
            );
            out.reject_reasons.push(RejectReason::BadTopic);
            return out;
        }
    };
    out.kind = Some(kind);
    out.vehicle_id = Some(vehicle_id.into());
    let Decoded { gps, obd, rejects } = decode::decode(kind, &out.payload, now_us, window);
    let add_day = |ts: i64, days: &mut Vec<i64>| {
        let d = day_of(ts);
        if !days.contains(&d) {
            days.push(d);
        }
    };
    if !gps.is_empty() {
        out.gps.reserve(gps.len() * 96);
    }
    for r in &gps {
        copy::gps_tuple(&mut out.gps, vehicle_id, r, out.received_us);
        add_day(r.ts, &mut out.days);
    }
    for r in &obd {
        copy::obd_tuple(&mut out.obd, vehicle_id, r, out.received_us);
        add_day(r.ts, &mut out.days);
    }
    out.earliest_gps_us = gps.iter().map(|r| r.ts).min();
    out.earliest_obd_us = obd.iter().map(|r| r.ts).min();
    out.gps_rows = gps.len();
    if let Some(newest) = gps.iter().max_by_key(|r| r.ts) {
        out.latest_gps = Some((vehicle_id.into(), newest.clone()));
    }
    out.obd_rows = obd.len();
    out.latest_obd = obd.iter().max_by_key(|r| r.ts).cloned();
    for rej in &rejects {
        let reason = format!("{}: {}", rej.reason.code(), rej.detail);
        copy::reject_tuple(
            &mut out.rejects,
            out.received_us,
            &out.topic,
            &reason,
            cut(&out.payload, rej.span.clone()),
        );
        out.reject_reasons.push(rej.reason);
    }
    out
}

/// The first 4 KiB of `span` of the payload (clamped to the payload).
fn cut(payload: &[u8], span: std::ops::Range<usize>) -> &[u8] {
    let end = span.end.min(payload.len());
    let start = span.start.min(end);
    &payload[start..end.min(start + REJECT_PAYLOAD_BYTES)]
}

/// Current time in Unix microseconds.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Starts `n` decoder threads. They exit when `input` is closed and drained, or when the
/// batcher is gone; the output channel closes when the last one exits.
pub fn spawn(
    n: usize,
    prefix: Arc<str>,
    window: Window,
    input: async_channel::Receiver<Message>,
    output: mpsc::Sender<Encoded>,
    metrics: Arc<Metrics>,
    budget: Option<Arc<RejectBudget>>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..n)
        .map(|i| {
            let (input, output, prefix, metrics, budget) = (
                input.clone(),
                output.clone(),
                prefix.clone(),
                metrics.clone(),
                budget.clone(),
            );
            std::thread::Builder::new()
                .name(format!("fleetd-decode-{i}"))
                .spawn(move || {
                    while let Ok(msg) = input.recv_blocking() {
                        metrics.messages_received.inc();
                        let mut enc = encode_message(&prefix, msg, now_us(), &window);
                        if let Some(b) = &budget {
                            enc.spend_reject_budget(b, std::time::Instant::now());
                        }
                        if let Some(kind) = enc.kind {
                            let n = enc.gps_rows + enc.obd_rows + enc.reject_reasons.len();
                            metrics
                                .readings_received
                                .get_or_create(&kind_label(kind))
                                .inc_by(n as u64);
                        }
                        if output.blocking_send(enc).is_err() {
                            break; // batcher gone: shutting down hard
                        }
                    }
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn window() -> Window {
        Window {
            max_future: Duration::from_secs(300),
            max_age: Duration::from_secs(30 * 86_400),
        }
    }

    fn msg(topic: &str, payload: &[u8]) -> Message {
        Message {
            topic: topic.into(),
            payload: Bytes::copy_from_slice(payload),
            received_us: 0,
            received: std::time::Instant::now(),
            ack: AckToken::detached(),
        }
    }

    #[test]
    fn bad_topic_becomes_one_reject_with_the_payload() {
        let e = encode_message("fleet", msg("fleet/x/y/z", b"{}"), now_us(), &window());
        assert_eq!(e.reject_reasons, vec![RejectReason::BadTopic]);
        assert_eq!(e.rows(), 1);
        assert!(e.gps.is_empty() && e.days.is_empty());
        assert!(e.rejects.ends_with(b"{}"));
    }

    #[test]
    fn rejected_payload_copy_is_cut_to_4_kib() {
        let big = vec![b'x'; 10_000];
        let e = encode_message("fleet", msg("nope", &big), now_us(), &window());
        assert!(e.rejects.len() < 4096 + 200);
    }

    #[test]
    fn remembers_the_newest_gps_reading_of_a_batch() {
        let now = now_us();
        let t = now / 1000 - 10_000;
        let body = format!(
            r#"[{{"ts":{},"lat":1,"lon":1}},{{"ts":{},"lat":3,"lon":3}},{{"ts":{},"lat":2,"lon":2}}]"#,
            t,
            t + 2,
            t + 1
        );
        let e = encode_message(
            "fleet",
            msg("fleet/v9/gps", body.as_bytes()),
            now,
            &window(),
        );
        let (id, r) = e.latest_gps.expect("a gps reading");
        assert_eq!(&*id, "v9");
        assert_eq!((r.lat, r.ts), (3.0, (t + 2) * 1000));
        assert_eq!(e.gps_rows, 3);
        let obd = encode_message(
            "fleet",
            msg("fleet/v9/obd", br#"{"ts":1,"rpm":1}"#),
            now,
            &window(),
        );
        assert!(obd.latest_gps.is_none());
    }

    #[test]
    fn into_rejected_replaces_rows() {
        let e = encode_message("fleet", msg("fleet/v1/gps", b"[]"), now_us(), &window());
        let r = e.into_rejected("invalid byte sequence");
        assert_eq!(r.rows(), 1);
        assert_eq!(r.reject_reasons, vec![RejectReason::DbRejected]);
        assert_eq!(r.gps_rows + r.obd_rows, 0);
    }
}
