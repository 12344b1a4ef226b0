//! Checks on `encode_message` (src/ingest/decoders.rs): topic, then decode, then COPY rows.

use std::time::Instant;

use bytes::Bytes;
use fleetd::ingest::decode::{decode, REJECT_PAYLOAD_BYTES};
use fleetd::ingest::decoders::{encode_message, Encoded, Message};
use fleetd::ingest::inflight::AckToken;
use fleetd::ingest::partitions::day_of;
use fleetd::ingest::reading::RejectReason;
use fleetd::ingest::topic::parse_topic;

use crate::decoded::{self, reasons};
use crate::{NOW_US, WINDOW};

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01), as in src/ingest/copy.rs.
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;
/// When every message here arrived.
const RECEIVED_US: i64 = NOW_US - 1;

/// Encodes the message and checks it against `parse_topic` and `decode` run on their own,
/// and its COPY rows against the counts it reports.
pub fn check(prefix: &str, topic: &str, payload: &[u8]) {
    let msg = Message {
        topic: topic.to_owned(),
        payload: Bytes::copy_from_slice(payload),
        received_us: RECEIVED_US,
        received: Instant::now(),
        ack: AckToken::detached(),
    };
    let enc = encode_message(prefix, msg, NOW_US, &WINDOW);
    assert_eq!(enc.topic, topic);
    assert_eq!(&enc.payload[..], payload);
    assert!(!enc.rejects_unrecorded);
    let rejects = check_rows(&enc);

    match parse_topic(prefix, topic) {
        Err(e) => {
            // decoders.rs: a bad topic is one reject row with the payload, nothing else.
            assert_eq!(enc.kind, None);
            assert_eq!(enc.vehicle_id, None);
            assert_eq!(enc.reject_reasons, [RejectReason::BadTopic]);
            assert_eq!((enc.gps_rows, enc.obd_rows), (0, 0));
            assert!(enc.days.is_empty() && enc.latest_gps.is_none());
            let expected = format!("bad_topic: {e}");
            assert_reject(
                &rejects[0],
                topic,
                &expected,
                cut(payload, 0..payload.len()),
            );
        }
        Ok((id, kind)) => {
            let d = decode(kind, payload, NOW_US, &WINDOW);
            decoded::check(kind, payload, &d);
            assert_eq!(enc.kind, Some(kind));
            assert_eq!(enc.vehicle_id.as_deref(), Some(id));
            assert_eq!((enc.gps_rows, enc.obd_rows), (d.gps.len(), d.obd.len()));
            assert_eq!(enc.reject_reasons, reasons(&d.rejects));
            for (row, r) in rejects.iter().zip(&d.rejects) {
                let text = format!("{}: {}", r.reason.code(), r.detail);
                assert_reject(row, topic, &text, cut(payload, r.span.clone()));
            }
            let ts: Vec<i64> = d
                .gps
                .iter()
                .map(|r| r.ts)
                .chain(d.obd.iter().map(|r| r.ts))
                .collect();
            check_rows_of(&enc.gps, 8, id, d.gps.iter().map(|r| r.ts));
            check_rows_of(&enc.obd, 10, id, d.obd.iter().map(|r| r.ts));
            // `days`: the distinct UTC days of the readings.
            let mut days: Vec<i64> = ts.iter().map(|t| day_of(*t)).collect();
            days.sort_unstable();
            days.dedup();
            let mut got = enc.days.clone();
            got.sort_unstable();
            assert_eq!(got.len(), enc.days.len(), "days repeat: {:?}", enc.days);
            assert_eq!(got, days);
            // `latest_gps`: the newest GPS reading, with the topic's vehicle id.
            match (&enc.latest_gps, d.gps.iter().map(|r| r.ts).max()) {
                (None, None) => {}
                (Some((v, r)), Some(newest)) => {
                    assert_eq!((&**v, r.ts), (id, newest));
                    assert!(d.gps.contains(r));
                }
                (got, newest) => panic!("latest_gps {got:?}, newest ts {newest:?}"),
            }
        }
    }

    // Refused by PostgreSQL: one `db_rejected` row for the whole message.
    let whole = cut(payload, 0..payload.len()).to_vec();
    let rejected = enc.into_rejected("fuzz");
    assert_eq!(rejected.rows(), 1);
    assert_eq!(rejected.reject_reasons, [RejectReason::DbRejected]);
    assert!(rejected.days.is_empty() && rejected.latest_gps.is_none());
    let rows = check_rows(&rejected);
    assert_reject(&rows[0], topic, "db_rejected: fuzz", &whole);
}

type Row<'a> = Vec<Option<&'a [u8]>>;

/// The three COPY buffers hold exactly the rows the message counts; returns the reject rows.
fn check_rows(enc: &Encoded) -> Vec<Row<'_>> {
    let gps = tuples(&enc.gps, 8);
    let obd = tuples(&enc.obd, 10);
    let rejects = tuples(&enc.rejects, 4);
    assert_eq!((gps.len(), obd.len()), (enc.gps_rows, enc.obd_rows));
    assert_eq!(rejects.len(), enc.reject_reasons.len());
    assert_eq!(enc.rows(), gps.len() + obd.len() + rejects.len());
    assert_eq!(
        enc.bytes(),
        enc.gps.len() + enc.obd.len() + enc.rejects.len()
    );
    rejects
}

/// Reading rows: the topic's vehicle id, then `ts`, in decode order.
fn check_rows_of(buf: &[u8], fields: i16, id: &str, ts: impl Iterator<Item = i64>) {
    for (row, ts) in tuples(buf, fields).iter().zip(ts) {
        assert_eq!(row[0], Some(id.as_bytes()));
        assert_eq!(row[1], Some(&(ts - PG_EPOCH_OFFSET_US).to_be_bytes()[..]));
    }
}

/// A `telemetry_rejects` row: arrival, topic and reason without NUL, the payload's bytes.
fn assert_reject(row: &Row<'_>, topic: &str, reason: &str, payload: &[u8]) {
    assert_eq!(
        row[0],
        Some(&(RECEIVED_US - PG_EPOCH_OFFSET_US).to_be_bytes()[..])
    );
    assert_eq!(row[1], Some(topic.replace('\0', "").as_bytes()));
    assert_eq!(row[2], Some(reason.replace('\0', "").as_bytes()));
    assert_eq!(row[3], Some(payload));
    assert!(payload.len() <= REJECT_PAYLOAD_BYTES);
}

/// The first 4 KiB of `span` of the payload, as decoders.rs cuts it.
fn cut(payload: &[u8], span: std::ops::Range<usize>) -> &[u8] {
    let end = span.end.min(payload.len());
    let start = span.start.min(end);
    &payload[start..end.min(start + REJECT_PAYLOAD_BYTES)]
}

/// Splits binary COPY tuples (no header, no trailer): a 16-bit field count, then per field a
/// 32-bit length (-1 for NULL) and that many bytes. Every tuple must have `fields` fields.
fn tuples(mut buf: &[u8], fields: i16) -> Vec<Row<'_>> {
    let mut rows = Vec::new();
    while !buf.is_empty() {
        let n = i16::from_be_bytes(take(&mut buf, 2).try_into().unwrap());
        assert_eq!(n, fields, "a tuple of {n} fields");
        let mut row = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let len = i32::from_be_bytes(take(&mut buf, 4).try_into().unwrap());
            row.push(match len {
                -1 => None,
                0.. => Some(take(&mut buf, len as usize)),
                _ => panic!("field length {len}"),
            });
        }
        rows.push(row);
    }
    rows
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> &'a [u8] {
    assert!(buf.len() >= n, "COPY data ends inside a tuple");
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    head
}
