//! Payload decoding and validation: pure, synchronous, allocation-light.
//!
//! # Layout
//! - [`decode()`]: size check, then dispatch on the first byte.
//! - `json`: a reading object or an array of them; `object`: one object, read in one pass;
//!   `values`: the readers of its field values.
//! - `binary`: the `0xF1` postcard layout of [`crate::wire`].
//! - `validate`: the value rules of docs/telemetry.md, shared by both encodings; `rfc3339`: timestamps.
//!
//! Within one reading the checks run in a fixed order and the first failure is reported:
//! duplicate keys, `ts` (missing or unparsable), required fields and wire types, value
//! ranges in field order, DTCs, "no OBD value", and last the acceptance window.

mod binary;
mod json;
mod object;
mod rfc3339;
mod validate;
mod values;

use crate::ingest::reading::{Decoded, Kind, RejectReason, Rejection, Window};
use crate::wire;

/// Largest payload accepted (docs/telemetry.md). Larger ones are rejected whole.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Most readings in one JSON array or binary batch.
pub const MAX_BATCH_READINGS: usize = 1000;
/// Most bytes of a payload kept in `telemetry_rejects.payload`.
pub const REJECT_PAYLOAD_BYTES: usize = 4096;

/// Decodes one MQTT payload published on a topic of `kind`.
///
/// `now_us` is the daemon's clock in Unix microseconds, used for the acceptance window.
/// Never panics and never fails: everything that is not a good reading becomes a rejection.
/// Good readings keep their order in the payload; so do rejections. A rejection's `span` is
/// the array element it is about, or the whole payload (for a single-object payload, a
/// payload-level problem, and any binary reading).
pub fn decode(kind: Kind, payload: &[u8], now_us: i64, window: &Window) -> Decoded {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return whole_payload(
            RejectReason::PayloadTooLarge,
            format!(
                "payload is {} bytes, at most {MAX_PAYLOAD_BYTES} allowed",
                payload.len()
            ),
            payload.len(),
        );
    }
    match payload.first() {
        Some(&wire::MAGIC) => binary::decode(kind, payload, now_us, window),
        _ => json::decode(kind, payload, now_us, window),
    }
}

/// One rejection covering the whole payload, and no readings.
fn whole_payload(reason: RejectReason, detail: String, payload_len: usize) -> Decoded {
    Decoded {
        rejects: vec![Rejection {
            reason,
            detail,
            span: 0..payload_len,
        }],
        ..Decoded::default()
    }
}

#[cfg(test)]
mod tests;
