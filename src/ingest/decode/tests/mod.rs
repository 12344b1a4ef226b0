//! End-to-end tests of [`super::decode`]: every rejection reason, the limits, hostile input.

use std::time::Duration;

use super::{decode, MAX_BATCH_READINGS, MAX_PAYLOAD_BYTES};
use crate::ingest::reading::{Decoded, Dtc, GpsReading, Kind, ObdReading, RejectReason, Window};
use crate::wire::{encode_gps, encode_obd, GpsV1, ObdV1, MAGIC, VERSION_1};

/// 2023-11-14T22:13:20Z
const NOW: i64 = 1_700_000_000_000_000;
const NOW_MS: i64 = NOW / 1000;

const WINDOW: Window = Window {
    max_future: Duration::from_secs(300),
    max_age: Duration::from_secs(30 * 86_400),
};

fn gps(payload: &str) -> Decoded {
    decode(Kind::Gps, payload.as_bytes(), NOW, &WINDOW)
}

fn obd(payload: &str) -> Decoded {
    decode(Kind::Obd, payload.as_bytes(), NOW, &WINDOW)
}

/// Asserts the payload produced no reading and exactly one rejection, spanning `len` bytes
/// from 0, and returns its reason and detail.
fn only_reject(d: &Decoded, len: usize) -> (RejectReason, &str) {
    assert!(d.gps.is_empty() && d.obd.is_empty(), "{d:?}");
    assert_eq!(d.rejects.len(), 1, "{d:?}");
    let r = &d.rejects[0];
    assert_eq!(r.span, 0..len, "{r:?}");
    assert_detail_style(&r.detail);
    (r.reason, &r.detail)
}

fn gps_reject(payload: &str) -> (RejectReason, String) {
    let d = gps(payload);
    let (reason, detail) = only_reject(&d, payload.len());
    (reason, detail.to_owned())
}

fn obd_reject(payload: &str) -> (RejectReason, String) {
    let d = obd(payload);
    let (reason, detail) = only_reject(&d, payload.len());
    (reason, detail.to_owned())
}

fn assert_detail_style(detail: &str) {
    assert!(!detail.is_empty());
    assert!(!detail.ends_with(['.', '!']), "{detail}");
    assert!(
        !detail.starts_with(|c: char| c.is_ascii_uppercase()) || detail.starts_with("EOF"),
        "{detail}"
    );
}

fn one_gps(payload: &str) -> GpsReading {
    let d = gps(payload);
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    assert_eq!(d.gps.len(), 1);
    d.gps[0].clone()
}

fn one_obd(payload: &str) -> ObdReading {
    let d = obd(payload);
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    assert_eq!(d.obd.len(), 1);
    d.obd[0].clone()
}

fn good_gps_json(i: usize) -> String {
    format!(
        r#"{{"ts":{},"lat":{},"lon":13.25}}"#,
        NOW_MS - i as i64,
        i as f64 / 100.0
    )
}

fn gps_v1(ts_ms: i64, lat: f64) -> GpsV1 {
    GpsV1 {
        ts_ms,
        lat,
        lon: 13.25,
        speed_kmh: Some(50.5),
        heading_deg: None,
        alt_m: Some(34.0),
        accuracy_m: None,
    }
}

mod binary;
mod json_batch;
mod json_gps;
mod obd;
