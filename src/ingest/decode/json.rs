//! JSON payloads: one reading object, or an array of up to [`MAX_BATCH_READINGS`] of them.
//!
//! An array is read in two steps: first the whole text is checked and split into raw
//! elements (so a syntax error anywhere rejects the whole payload), then each element is
//! read on its own (so one bad reading does not take its neighbours down with it). Each
//! element's rejection points at its own bytes in the payload.

use std::fmt;
use std::ops::Range;

use serde::de::{Deserializer as _, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::validate::{self, Fault};
use super::{object, whole_payload, MAX_BATCH_READINGS};
use crate::ingest::reading::{Decoded, Kind, RejectReason, Rejection, Window};

/// Decodes a payload that does not start with the binary magic byte.
pub(crate) fn decode(kind: Kind, payload: &[u8], now_us: i64, window: &Window) -> Decoded {
    let text = match std::str::from_utf8(payload) {
        Ok(text) => text,
        Err(e) => {
            return whole_payload(
                RejectReason::MalformedJson,
                format!("payload is not utf-8: {e}"),
                payload.len(),
            )
        }
    };
    let first = text
        .bytes()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    match first {
        Some(b'{') => single(kind, text, now_us, window),
        Some(b'[') => batch(kind, text, now_us, window),
        _ => not_an_object(text),
    }
}

/// The reading is the whole payload: every rejection spans all of it.
fn single(kind: Kind, text: &str, now_us: i64, window: &Window) -> Decoded {
    let mut out = Decoded::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let read = read_reading(kind, &mut de, now_us, window, &mut out);
    match read.and_then(|outcome| de.end().map(|()| outcome)) {
        Ok(Ok(())) => out,
        Ok(Err(fault)) => whole_payload(fault.reason, fault.detail, text.len()),
        Err(e) => whole_payload(RejectReason::MalformedJson, e.to_string(), text.len()),
    }
}

fn batch(kind: Kind, text: &str, now_us: i64, window: &Window) -> Decoded {
    let mut de = serde_json::Deserializer::from_str(text);
    let split = de
        .deserialize_seq(BatchVisitor)
        .and_then(|batch| de.end().map(|()| batch));
    let (elements, count) = match split {
        Ok(batch) => batch,
        Err(e) => return whole_payload(RejectReason::MalformedJson, e.to_string(), text.len()),
    };
    if count == 0 {
        return whole_payload(
            RejectReason::EmptyBatch,
            "batch has no readings".into(),
            text.len(),
        );
    }
    if count > MAX_BATCH_READINGS {
        return whole_payload(
            RejectReason::BatchTooLarge,
            format!("batch has {count} readings, at most {MAX_BATCH_READINGS} allowed"),
            text.len(),
        );
    }

    let mut out = Decoded::default();
    match kind {
        Kind::Gps => out.gps.reserve_exact(count),
        Kind::Obd => out.obd.reserve_exact(count),
    }
    for (index, element) in elements.into_iter().enumerate() {
        let raw = element.get();
        let fault = match raw.as_bytes().first() {
            Some(b'{') => {
                let mut de = serde_json::Deserializer::from_str(raw);
                match read_reading(kind, &mut de, now_us, window, &mut out) {
                    Ok(Ok(())) => continue,
                    Ok(Err(fault)) => fault,
                    // The text is known to be valid JSON: this is a number beyond f64.
                    Err(e) => Fault::new(RejectReason::MalformedJson, e.to_string()),
                }
            }
            first => Fault::new(
                RejectReason::NotAnObject,
                format!("expected an object, found {}", json_type(first)),
            ),
        };
        out.rejects.push(Rejection {
            reason: fault.reason,
            detail: format!("reading {index}: {}", fault.detail),
            span: span_of(raw, text),
        });
    }
    out
}

/// Reads one object from `de` and, if it is a good reading, appends it to `out`.
fn read_reading<'de, R: serde_json::de::Read<'de>>(
    kind: Kind,
    de: &mut serde_json::Deserializer<R>,
    now_us: i64,
    window: &Window,
    out: &mut Decoded,
) -> Result<Result<(), Fault>, serde_json::Error> {
    Ok(match kind {
        Kind::Gps => object::gps(de)?
            .and_then(|input| validate::gps(input, now_us, window))
            .map(|reading| out.gps.push(reading)),
        Kind::Obd => object::obd(de)?
            .and_then(|input| validate::obd(input, now_us, window))
            .map(|reading| out.obd.push(reading)),
    })
}

/// A top-level scalar: still a syntax error if it is not valid JSON.
fn not_an_object(text: &str) -> Decoded {
    match serde_json::from_str::<IgnoredAny>(text) {
        Err(e) => whole_payload(RejectReason::MalformedJson, e.to_string(), text.len()),
        Ok(IgnoredAny) => {
            let first = text
                .trim_start_matches([' ', '\t', '\n', '\r'])
                .as_bytes()
                .first();
            whole_payload(
                RejectReason::NotAnObject,
                format!(
                    "payload is {}, expected an object or an array of objects",
                    json_type(first)
                ),
                text.len(),
            )
        }
    }
}

/// The type of a valid JSON value, from its first byte.
fn json_type(first: Option<&u8>) -> &'static str {
    match first {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Where `raw`, a slice of `text`, sits in the payload.
fn span_of(raw: &str, text: &str) -> Range<usize> {
    let start = (raw.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    match start.checked_add(raw.len()) {
        Some(end) if end <= text.len() => start..end,
        _ => 0..text.len(),
    }
}

/// Splits an array into its first [`MAX_BATCH_READINGS`] raw elements and counts the rest
/// without keeping them, so a payload of 100,000 tiny elements costs no large allocation.
struct BatchVisitor;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = (Vec<&'de RawValue>, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of readings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::new();
        while elements.len() < MAX_BATCH_READINGS {
            match seq.next_element::<&'de RawValue>()? {
                Some(raw) => elements.push(raw),
                None => {
                    let count = elements.len();
                    return Ok((elements, count));
                }
            }
        }
        let mut count = elements.len();
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok((elements, count))
    }
}
