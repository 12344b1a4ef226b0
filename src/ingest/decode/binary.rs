//! Binary payloads (`0xF1`, version, postcard batch; layout in [`crate::wire`]).
//!
//! postcard reports no offsets, so every rejection here spans the whole payload; per-reading
//! rejections name the reading's index instead.

use serde::Deserialize;

use super::validate::{self, Fault, GpsInput, ObdInput, MAX_DTC_CODES};
use super::{whole_payload, MAX_BATCH_READINGS};
use crate::ingest::reading::{Decoded, Dtc, Kind, RejectReason, Rejection, Window};
use crate::wire::{GpsV1, ObdV1, VERSION_1};

/// Fewest bytes one encoded [`GpsV1`] can take: a 1-byte varint `ts_ms`, two `f64`, four
/// `None` tags.
const MIN_GPS_V1_BYTES: usize = 1 + 8 + 8 + 4;
/// Fewest bytes one encoded [`ObdV1`] can take: a 1-byte varint `ts_ms`, seven `None` tags.
const MIN_OBD_V1_BYTES: usize = 1 + 7;

/// Decodes a payload whose first byte is [`crate::wire::MAGIC`].
pub(crate) fn decode(kind: Kind, payload: &[u8], now_us: i64, window: &Window) -> Decoded {
    let len = payload.len();
    let Some(&version) = payload.get(1) else {
        return whole_payload(
            RejectReason::BadBinary,
            "binary payload has no version byte".into(),
            len,
        );
    };
    if version != VERSION_1 {
        return whole_payload(
            RejectReason::UnsupportedVersion,
            format!("binary layout version {version} is not supported, only {VERSION_1} is"),
            len,
        );
    }
    let body = &payload[2..];
    let mut out = Decoded::default();
    let reject = |index: usize, fault: Fault| Rejection {
        reason: fault.reason,
        detail: format!("reading {index}: {}", fault.detail),
        span: 0..len,
    };
    match kind {
        Kind::Gps => {
            let batch = match take_batch::<GpsV1>(body, MIN_GPS_V1_BYTES, "gps", len) {
                Ok(batch) => batch,
                Err(rejected) => return rejected,
            };
            out.gps.reserve_exact(batch.len());
            for (index, reading) in batch.into_iter().enumerate() {
                match gps_input(reading).and_then(|input| validate::gps(input, now_us, window)) {
                    Ok(reading) => out.gps.push(reading),
                    Err(fault) => out.rejects.push(reject(index, fault)),
                }
            }
        }
        Kind::Obd => {
            let batch = match take_batch::<ObdV1<'_>>(body, MIN_OBD_V1_BYTES, "obd", len) {
                Ok(batch) => batch,
                Err(rejected) => return rejected,
            };
            out.obd.reserve_exact(batch.len());
            for (index, reading) in batch.into_iter().enumerate() {
                match obd_input(reading).and_then(|input| validate::obd(input, now_us, window)) {
                    Ok(reading) => out.obd.push(reading),
                    Err(fault) => out.rejects.push(reject(index, fault)),
                }
            }
        }
    }
    out
}

/// Decodes the postcard vector that must fill `body` exactly, and checks the batch size.
fn take_batch<'a, T: Deserialize<'a>>(
    body: &'a [u8],
    min_item_bytes: usize,
    what: &str,
    payload_len: usize,
) -> Result<Vec<T>, Decoded> {
    let bad = |detail: String| whole_payload(RejectReason::BadBinary, detail, payload_len);
    // A lying length prefix would make the vector preallocate for readings that are not there.
    if let Some((claimed, rest)) = varint(body) {
        if claimed > (rest / min_item_bytes) as u64 {
            return Err(bad(format!(
                "binary {what} batch claims {claimed} readings but only {rest} bytes follow"
            )));
        }
    }
    let batch = match postcard::take_from_bytes::<Vec<T>>(body) {
        Ok((batch, [])) => batch,
        Ok((_, trailing)) => {
            return Err(bad(format!(
                "binary {what} batch is followed by {} stray bytes",
                trailing.len()
            )))
        }
        Err(e) => {
            return Err(bad(format!(
                "binary {what} batch does not decode: {}",
                describe(&e)
            )))
        }
    };
    if batch.is_empty() {
        return Err(whole_payload(
            RejectReason::EmptyBatch,
            "batch has no readings".into(),
            payload_len,
        ));
    }
    if batch.len() > MAX_BATCH_READINGS {
        return Err(whole_payload(
            RejectReason::BatchTooLarge,
            format!(
                "batch has {} readings, at most {MAX_BATCH_READINGS} allowed",
                batch.len()
            ),
            payload_len,
        ));
    }
    Ok(batch)
}

/// A postcard (LEB128) varint at the start of `bytes`, and how many bytes follow it.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, bytes.len() - i - 1));
        }
    }
    None
}

/// postcard's own messages are capitalised sentences; these fit a rejection detail.
fn describe(e: &postcard::Error) -> &'static str {
    match e {
        postcard::Error::DeserializeUnexpectedEnd => "truncated",
        postcard::Error::DeserializeBadVarint => "bad varint",
        postcard::Error::DeserializeBadBool | postcard::Error::DeserializeBadOption => {
            "bad option tag"
        }
        postcard::Error::DeserializeBadUtf8 => "a string is not utf-8",
        _ => "unexpected data",
    }
}

fn gps_input(r: GpsV1) -> Result<GpsInput, Fault> {
    Ok(GpsInput {
        ts: validate::ts_from_millis(r.ts_ms)?,
        lat: r.lat,
        lon: r.lon,
        speed_kmh: r.speed_kmh.map(f64::from),
        heading_deg: r.heading_deg.map(f64::from),
        alt_m: r.alt_m.map(f64::from),
        accuracy_m: r.accuracy_m.map(f64::from),
    })
}

fn obd_input(r: ObdV1<'_>) -> Result<ObdInput, Fault> {
    Ok(ObdInput {
        ts: validate::ts_from_millis(r.ts_ms)?,
        rpm: r.rpm.map(f64::from),
        speed_kmh: r.speed_kmh.map(f64::from),
        coolant_c: r.coolant_c.map(f64::from),
        fuel_pct: r.fuel_pct.map(f64::from),
        engine_load_pct: r.engine_load_pct.map(f64::from),
        odometer_km: r.odometer_km,
        dtc: r.dtc.map(|codes| dtc_codes(&codes)),
    })
}

fn dtc_codes(codes: &[&str]) -> Result<Vec<Dtc>, Fault> {
    if codes.len() > MAX_DTC_CODES {
        return Err(validate::too_many_dtcs(codes.len()));
    }
    codes
        .iter()
        .enumerate()
        .map(|(index, code)| validate::dtc_code(index, code))
        .collect()
}
