//! Checks on what `decode` returns for any payload.

use fleetd::ingest::decode::{decode, MAX_BATCH_READINGS};
use fleetd::ingest::reading::{
    Decoded, GpsReading, Kind, ObdReading, RejectReason, Rejection, Window,
};
use fleetd::wire::MAGIC;

use crate::{render, NOW_US, WINDOW};

/// Readings per payload in the round trips: well inside the 1,000-reading and 256 KiB limits.
const CHUNK: usize = 100;

/// Decodes `payload` on a `kind` topic and runs every check below on the result.
pub fn decode_checked(kind: Kind, payload: &[u8]) -> Decoded {
    let d = decode(kind, payload, NOW_US, &WINDOW);
    check(kind, payload, &d);
    // decode() is "pure" (src/ingest/decode/mod.rs): same input, same output.
    assert_eq!(
        d,
        decode(kind, payload, NOW_US, &WINDOW),
        "decode is not deterministic"
    );
    round_trips(&d);
    d
}

/// The shape of a [`Decoded`], as `decode()` documents it and docs/telemetry.md#rejects
/// describes the rows it becomes.
pub fn check(kind: Kind, payload: &[u8], d: &Decoded) {
    match kind {
        Kind::Gps => assert!(d.obd.is_empty(), "obd readings from a gps topic: {d:?}"),
        Kind::Obd => assert!(d.gps.is_empty(), "gps readings from an obd topic: {d:?}"),
    }
    let readings = d.gps.len() + d.obd.len();
    let total = readings + d.rejects.len();
    // "Never fails: everything that is not a good reading becomes a rejection."
    assert!(total >= 1, "the payload came out as nothing");
    assert!(
        total <= MAX_BATCH_READINGS,
        "{total} readings and rejections"
    );

    let binary = payload.first() == Some(&MAGIC);
    let whole = 0..payload.len();
    let mut previous: Option<usize> = None;
    for r in &d.rejects {
        assert!(
            r.span.start <= r.span.end && r.span.end <= payload.len(),
            "span of {r:?} is outside the payload of {} bytes",
            payload.len()
        );
        assert!(!r.detail.is_empty(), "{r:?} has no detail");
        assert!(
            !matches!(
                r.reason,
                RejectReason::BadTopic | RejectReason::DbRejected | RejectReason::UnknownVehicle
            ),
            "{r:?}: not a reason the decoder gives"
        );
        // A single JSON object's rejection, or any payload-scope reason, spans the whole
        // payload; "payload" scope means "one row for the whole payload and no reading
        // stored from it" (docs/telemetry.md#reject-reasons).
        if payload_scope(r.reason) || (!binary && r.span == whole) {
            assert!(
                d.rejects.len() == 1 && readings == 0 && r.span == whole,
                "a payload rejection with other output: {d:?}"
            );
            continue;
        }
        // One reading of a batch: the detail starts with `reading N: `, in payload order.
        let index =
            reading_index(&r.detail).unwrap_or_else(|| panic!("{r:?} does not name its reading"));
        assert!(
            previous.is_none_or(|p| index > p) && index < total,
            "reading {index} out of order, {total} in all: {d:?}"
        );
        previous = Some(index);
        if binary {
            assert_eq!(r.span, whole, "a binary rejection spans the payload");
        } else {
            // An array element: inside the brackets, never empty.
            assert!(
                r.span.start > 0 && r.span.start < r.span.end && r.span.end < payload.len(),
                "{r:?} is not an element of the array"
            );
        }
    }
    let first = payload
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if !binary && first == Some(&b'{') {
        assert_eq!(total, 1, "one object, one reading or one rejection: {d:?}");
    }
    for r in &d.gps {
        check_gps(r, &WINDOW);
    }
    for r in &d.obd {
        check_obd(r, &WINDOW);
    }
}

/// The reasons docs/telemetry.md scopes to the payload only.
fn payload_scope(reason: RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::PayloadTooLarge
            | RejectReason::BatchTooLarge
            | RejectReason::EmptyBatch
            | RejectReason::BadBinary
            | RejectReason::UnsupportedVersion
    )
}

/// N of a detail that starts with `reading N: `.
fn reading_index(detail: &str) -> Option<usize> {
    let (n, _) = detail.strip_prefix("reading ")?.split_once(": ")?;
    n.parse().ok()
}

/// A stored reading follows docs/telemetry.md's field rules and acceptance window.
pub fn check_gps(r: &GpsReading, window: &Window) {
    check_ts(r.ts, window);
    in_range("lat", Some(r.lat), -90.0, 90.0);
    in_range("lon", Some(r.lon), -180.0, 180.0);
    in_range("speed_kmh", r.speed_kmh.map(f64::from), 0.0, 400.0);
    in_range("heading_deg", r.heading_deg.map(f64::from), 0.0, 360.0);
    assert!(
        r.heading_deg != Some(360.0),
        "heading_deg must stay below 360: {r:?}"
    );
    in_range("alt_m", r.alt_m.map(f64::from), -500.0, 9000.0);
    in_range("accuracy_m", r.accuracy_m.map(f64::from), 0.0, f64::MAX);
}

/// A stored reading follows docs/telemetry.md's field rules and acceptance window.
pub fn check_obd(r: &ObdReading, window: &Window) {
    check_ts(r.ts, window);
    in_range("rpm", r.rpm.map(f64::from), 0.0, 20_000.0);
    in_range("speed_kmh", r.speed_kmh.map(f64::from), 0.0, 400.0);
    in_range("coolant_c", r.coolant_c.map(f64::from), -60.0, 200.0);
    in_range("fuel_pct", r.fuel_pct.map(f64::from), 0.0, 100.0);
    in_range(
        "engine_load_pct",
        r.engine_load_pct.map(f64::from),
        0.0,
        100.0,
    );
    in_range("odometer_km", r.odometer_km, 0.0, f64::MAX);
    let has_value = r.rpm.is_some()
        || r.speed_kmh.is_some()
        || r.coolant_c.is_some()
        || r.fuel_pct.is_some()
        || r.engine_load_pct.is_some()
        || r.odometer_km.is_some()
        || r.dtc.is_some();
    assert!(has_value, "an obd reading with no value: {r:?}");
    if let Some(codes) = &r.dtc {
        assert!(codes.len() <= 64, "{} codes", codes.len());
        for code in codes {
            let [system, digits @ ..] = code.0;
            assert!(
                matches!(system, b'P' | b'C' | b'B' | b'U')
                    && digits
                        .iter()
                        .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')),
                "dtc {:?}",
                code.0
            );
        }
    }
}

fn check_ts(ts: i64, window: &Window) {
    let micros = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    let lo = NOW_US.saturating_sub(micros(window.max_age));
    let hi = NOW_US.saturating_add(micros(window.max_future));
    assert!(
        (lo..=hi).contains(&ts),
        "ts {ts} outside the window {lo}..={hi}"
    );
}

fn in_range(field: &str, v: Option<f64>, lo: f64, hi: f64) {
    if let Some(v) = v {
        assert!(
            v.is_finite() && lo <= v && v <= hi,
            "{field} {v} outside {lo}..={hi}"
        );
    }
}

/// Good readings written back as a JSON array, and (those with whole-millisecond `ts`) as a
/// binary batch, decode to the same readings: both encodings go through the same rules
/// (src/ingest/decode/validate.rs), and nothing is lost between them.
pub fn round_trips(d: &Decoded) {
    for chunk in d.gps.chunks(CHUNK) {
        let expected = Decoded {
            gps: chunk.to_vec(),
            ..Decoded::default()
        };
        same(Kind::Gps, render::gps_json(chunk).as_bytes(), &expected);
    }
    for chunk in d.obd.chunks(CHUNK) {
        let expected = Decoded {
            obd: chunk.to_vec(),
            ..Decoded::default()
        };
        same(Kind::Obd, render::obd_json(chunk).as_bytes(), &expected);
    }
    let gps: Vec<GpsReading> = d.gps.iter().filter(|r| r.ts % 1000 == 0).cloned().collect();
    for chunk in gps.chunks(CHUNK) {
        let expected = Decoded {
            gps: chunk.to_vec(),
            ..Decoded::default()
        };
        same(Kind::Gps, &render::gps_binary(chunk), &expected);
    }
    let obd: Vec<ObdReading> = d.obd.iter().filter(|r| r.ts % 1000 == 0).cloned().collect();
    for chunk in obd.chunks(CHUNK) {
        let expected = Decoded {
            obd: chunk.to_vec(),
            ..Decoded::default()
        };
        same(Kind::Obd, &render::obd_binary(chunk), &expected);
    }
}

fn same(kind: Kind, payload: &[u8], expected: &Decoded) {
    let again = decode(kind, payload, NOW_US, &WINDOW);
    assert!(
        &again == expected,
        "written back, the readings decode differently:\n{}\n{:?}\nexpected {:?}",
        String::from_utf8_lossy(payload),
        again,
        expected
    );
}

/// `rejects` with only their reasons, for messages.
pub fn reasons(rejects: &[Rejection]) -> Vec<RejectReason> {
    rejects.iter().map(|r| r.reason).collect()
}
