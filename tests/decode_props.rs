//! Property tests of the payload decoder (SPEC 1): it never panics, good readings survive
//! both encodings bit for bit, and a mixed batch keeps exactly its good readings.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use fleetd::decode::{decode, MAX_PAYLOAD_BYTES};
use fleetd::reading::{Decoded, Dtc, GpsReading, Kind, ObdReading, RejectReason, Window};
use fleetd::wire::{encode_gps, encode_obd, GpsV1, ObdV1, MAGIC, VERSION_1};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// 2023-11-14T22:13:20Z
const NOW: i64 = 1_700_000_000_000_000;
const NOW_MS: i64 = NOW / 1000;
const MAX_FUTURE_MS: i64 = 300_000;
const MAX_AGE_MS: i64 = 30 * 86_400_000;

const WINDOW: Window = Window {
    max_future: Duration::from_millis(MAX_FUTURE_MS as u64),
    max_age: Duration::from_millis(MAX_AGE_MS as u64),
};

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Gps), Just(Kind::Obd)]
}

/// What holds for every outcome, good or bad input.
fn assert_well_formed(d: &Decoded, kind: Kind, len: usize) {
    match kind {
        Kind::Gps => assert!(d.obd.is_empty()),
        Kind::Obd => assert!(d.gps.is_empty()),
    }
    for r in &d.rejects {
        assert!(r.span.start <= r.span.end && r.span.end <= len, "{r:?}");
        assert!(!r.detail.is_empty() && !r.detail.ends_with('.'), "{r:?}");
    }
    let window = NOW - MAX_AGE_MS * 1000..=NOW + MAX_FUTURE_MS * 1000;
    for r in &d.gps {
        assert!(window.contains(&r.ts));
        assert!(r.lat.abs() <= 90.0 && r.lon.abs() <= 180.0, "{r:?}");
    }
    for r in &d.obd {
        assert!(window.contains(&r.ts));
    }
}

// ---------------------------------------------------------------- models

/// A GPS reading in range, with values every encoding carries exactly: multiples of 1/1024
/// (f64) and 1/16 (f32) have short decimal forms that serde_json parses without rounding.
#[derive(Debug, Clone)]
struct Gps {
    ts_ms: i64,
    /// Sub-millisecond part, only expressible in the RFC 3339 form.
    extra_us: i64,
    lat: f64,
    lon: f64,
    speed_kmh: Option<f32>,
    heading_deg: Option<f32>,
    alt_m: Option<f32>,
    accuracy_m: Option<f32>,
}

#[derive(Debug, Clone)]
struct Obd {
    ts_ms: i64,
    extra_us: i64,
    rpm: Option<f32>,
    speed_kmh: Option<f32>,
    coolant_c: Option<f32>,
    fuel_pct: Option<f32>,
    engine_load_pct: Option<f32>,
    odometer_km: Option<f64>,
    dtc: Option<Vec<String>>,
}

/// How `ts` is written in JSON.
#[derive(Debug, Clone, Copy)]
enum TsForm {
    Millis,
    /// RFC 3339 at this UTC offset, in minutes.
    Rfc3339(i32),
}

fn sixteenths(lo: i32, hi: i32) -> impl Strategy<Value = f32> {
    (lo * 16..=hi * 16).prop_map(|n| n as f32 / 16.0)
}

fn ts_ms() -> impl Strategy<Value = i64> {
    NOW_MS - MAX_AGE_MS..=NOW_MS + MAX_FUTURE_MS
}

fn ts_form() -> impl Strategy<Value = TsForm> {
    prop_oneof![
        Just(TsForm::Millis),
        (-(23 * 60 + 59)..=(23 * 60 + 59)).prop_map(TsForm::Rfc3339),
    ]
}

fn gps_model() -> impl Strategy<Value = Gps> {
    (
        ts_ms(),
        0i64..1000,
        (-90 * 1024..=90 * 1024).prop_map(|n: i32| f64::from(n) / 1024.0),
        (-180 * 1024..=180 * 1024).prop_map(|n: i32| f64::from(n) / 1024.0),
        option::of(sixteenths(0, 400)),
        option::of((0..360 * 16).prop_map(|n: i32| n as f32 / 16.0)),
        option::of(sixteenths(-500, 9000)),
        option::of(sixteenths(0, 10_000)),
    )
        .prop_map(
            |(ts_ms, extra_us, lat, lon, speed_kmh, heading_deg, alt_m, accuracy_m)| Gps {
                ts_ms,
                extra_us,
                lat,
                lon,
                speed_kmh,
                heading_deg,
                alt_m,
                accuracy_m,
            },
        )
}

fn obd_model() -> impl Strategy<Value = Obd> {
    (
        ts_ms(),
        0i64..1000,
        option::of(sixteenths(0, 20_000)),
        option::of(sixteenths(0, 400)),
        option::of(sixteenths(-60, 200)),
        option::of(sixteenths(0, 100)),
        option::of(sixteenths(0, 100)),
        option::of((0i64..1 << 31).prop_map(|n| n as f64 / 8.0)),
        option::of(vec("[PCBU][0-9A-F]{4}", 0..=64)),
    )
        .prop_map(
            |(ts_ms, extra_us, rpm, speed_kmh, coolant_c, fuel_pct, load, odometer_km, dtc)| {
                let mut obd = Obd {
                    ts_ms,
                    extra_us,
                    rpm,
                    speed_kmh,
                    coolant_c,
                    fuel_pct,
                    engine_load_pct: load,
                    odometer_km,
                    dtc,
                };
                let has_value = obd.rpm.is_some()
                    || obd.speed_kmh.is_some()
                    || obd.coolant_c.is_some()
                    || obd.fuel_pct.is_some()
                    || obd.engine_load_pct.is_some()
                    || obd.odometer_km.is_some()
                    || obd.dtc.is_some();
                if !has_value {
                    obd.dtc = Some(vec![]);
                }
                obd
            },
        )
}

/// The instant the decoder must produce for `ts_ms` (and `extra_us`) written as `form`.
fn ts_us(ts_ms: i64, extra_us: i64, form: TsForm) -> i64 {
    match form {
        TsForm::Millis => ts_ms * 1000,
        TsForm::Rfc3339(_) => ts_ms * 1000 + extra_us,
    }
}

fn ts_json(ts_ms: i64, extra_us: i64, form: TsForm) -> String {
    match form {
        TsForm::Millis => ts_ms.to_string(),
        TsForm::Rfc3339(offset_min) => {
            let utc = DateTime::from_timestamp_micros(ts_ms * 1000 + extra_us).unwrap();
            let offset = FixedOffset::east_opt(offset_min * 60).unwrap();
            let text = utc
                .with_timezone(&offset)
                .to_rfc3339_opts(SecondsFormat::AutoSi, offset_min == 0);
            format!("\"{text}\"")
        }
    }
}

/// Writes `,"name":value` for present values, and `,"name":null` for absent ones when
/// `nulls` (an explicit null counts as absent).
fn field<T: ToString>(out: &mut String, name: &str, value: Option<T>, nulls: bool) {
    match value {
        Some(v) => write!(out, r#","{name}":{}"#, v.to_string()).unwrap(),
        None if nulls => write!(out, r#","{name}":null"#).unwrap(),
        None => {}
    }
}

fn gps_json(g: &Gps, form: TsForm, nulls: bool) -> String {
    let mut s = format!(
        r#"{{"ts":{},"lat":{},"lon":{}"#,
        ts_json(g.ts_ms, g.extra_us, form),
        g.lat,
        g.lon
    );
    field(&mut s, "speed_kmh", g.speed_kmh.map(f64::from), nulls);
    field(&mut s, "heading_deg", g.heading_deg.map(f64::from), nulls);
    field(&mut s, "alt_m", g.alt_m.map(f64::from), nulls);
    field(&mut s, "accuracy_m", g.accuracy_m.map(f64::from), nulls);
    s.push_str(r#","extra":{"note":"'; DROP TABLE x; --"}}"#);
    s
}

fn obd_json(o: &Obd, form: TsForm, nulls: bool) -> String {
    let mut s = format!(r#"{{"ts":{}"#, ts_json(o.ts_ms, o.extra_us, form));
    field(&mut s, "rpm", o.rpm.map(f64::from), nulls);
    field(&mut s, "speed_kmh", o.speed_kmh.map(f64::from), nulls);
    field(&mut s, "coolant_c", o.coolant_c.map(f64::from), nulls);
    field(&mut s, "fuel_pct", o.fuel_pct.map(f64::from), nulls);
    field(
        &mut s,
        "engine_load_pct",
        o.engine_load_pct.map(f64::from),
        nulls,
    );
    field(&mut s, "odometer_km", o.odometer_km, nulls);
    let dtc = o.dtc.as_ref().map(|codes| {
        let quoted: Vec<String> = codes.iter().map(|c| format!("\"{c}\"")).collect();
        format!("[{}]", quoted.join(","))
    });
    field(&mut s, "dtc", dtc, nulls);
    s.push('}');
    s
}

fn expected_gps(g: &Gps, form: TsForm) -> GpsReading {
    GpsReading {
        ts: ts_us(g.ts_ms, g.extra_us, form),
        lat: g.lat,
        lon: g.lon,
        speed_kmh: g.speed_kmh,
        heading_deg: g.heading_deg,
        alt_m: g.alt_m,
        accuracy_m: g.accuracy_m,
    }
}

fn expected_obd(o: &Obd, form: TsForm) -> ObdReading {
    ObdReading {
        ts: ts_us(o.ts_ms, o.extra_us, form),
        rpm: o.rpm,
        speed_kmh: o.speed_kmh,
        coolant_c: o.coolant_c,
        fuel_pct: o.fuel_pct,
        engine_load_pct: o.engine_load_pct,
        odometer_km: o.odometer_km,
        dtc: o.dtc.as_ref().map(|codes| {
            codes
                .iter()
                .map(|c| Dtc(c.as_bytes().try_into().unwrap()))
                .collect()
        }),
    }
}

fn gps_v1(g: &Gps) -> GpsV1 {
    GpsV1 {
        ts_ms: g.ts_ms,
        lat: g.lat,
        lon: g.lon,
        speed_kmh: g.speed_kmh,
        heading_deg: g.heading_deg,
        alt_m: g.alt_m,
        accuracy_m: g.accuracy_m,
    }
}

fn obd_v1(o: &Obd) -> ObdV1<'_> {
    ObdV1 {
        ts_ms: o.ts_ms,
        rpm: o.rpm,
        speed_kmh: o.speed_kmh,
        coolant_c: o.coolant_c,
        fuel_pct: o.fuel_pct,
        engine_load_pct: o.engine_load_pct,
        odometer_km: o.odometer_km,
        dtc: o
            .dtc
            .as_ref()
            .map(|codes| codes.iter().map(String::as_str).collect()),
    }
}

// ---------------------------------------------------------------- defects

/// One way to spoil a good GPS reading, and the reason the decoder must give.
#[derive(Debug, Clone, Copy)]
enum Defect {
    LatAbove90,
    LonNotFinite,
    HeadingIs360,
    MissingLon,
    LatIsString,
    TsIsFloat,
    TsNotRfc3339,
    TsInFuture,
    TsTooOld,
    DuplicateKey,
    NumberBeyondF64,
    NotAnObject,
}

const DEFECTS: [Defect; 12] = [
    Defect::LatAbove90,
    Defect::LonNotFinite,
    Defect::HeadingIs360,
    Defect::MissingLon,
    Defect::LatIsString,
    Defect::TsIsFloat,
    Defect::TsNotRfc3339,
    Defect::TsInFuture,
    Defect::TsTooOld,
    Defect::DuplicateKey,
    Defect::NumberBeyondF64,
    Defect::NotAnObject,
];

fn spoil_json(g: &Gps, defect: Defect) -> (String, RejectReason) {
    let ts = g.ts_ms;
    let (lat, lon) = (g.lat, g.lon);
    match defect {
        Defect::LatAbove90 => (
            format!(
                r#"{{"ts":{ts},"lat":{},"lon":{lon}}}"#,
                90.0 + lat.abs() + 0.5
            ),
            RejectReason::OutOfRange,
        ),
        Defect::LonNotFinite => (
            format!(r#"{{"ts":{ts},"lat":{lat},"lon":1e309}}"#),
            RejectReason::MalformedJson,
        ),
        Defect::HeadingIs360 => (
            format!(r#"{{"ts":{ts},"lat":{lat},"lon":{lon},"heading_deg":360}}"#),
            RejectReason::OutOfRange,
        ),
        Defect::MissingLon => (
            format!(r#"{{"ts":{ts},"lat":{lat}}}"#),
            RejectReason::MissingField,
        ),
        Defect::LatIsString => (
            format!(r#"{{"ts":{ts},"lat":"{lat}","lon":{lon}}}"#),
            RejectReason::InvalidField,
        ),
        Defect::TsIsFloat => (
            format!(r#"{{"ts":{ts}.5,"lat":{lat},"lon":{lon}}}"#),
            RejectReason::BadTimestamp,
        ),
        Defect::TsNotRfc3339 => (
            format!(r#"{{"ts":"{ts}","lat":{lat},"lon":{lon}}}"#),
            RejectReason::BadTimestamp,
        ),
        Defect::TsInFuture => (
            format!(
                r#"{{"ts":{},"lat":{lat},"lon":{lon}}}"#,
                NOW_MS + MAX_FUTURE_MS + 1 + (ts % 1000)
            ),
            RejectReason::TsInFuture,
        ),
        Defect::TsTooOld => (
            format!(
                r#"{{"ts":{},"lat":{lat},"lon":{lon}}}"#,
                NOW_MS - MAX_AGE_MS - 1 - (ts % 1000)
            ),
            RejectReason::TsTooOld,
        ),
        Defect::DuplicateKey => (
            format!(r#"{{"ts":{ts},"lat":{lat},"lon":{lon},"lat":{lat}}}"#),
            RejectReason::InvalidField,
        ),
        Defect::NumberBeyondF64 => (
            format!(r#"{{"ts":{ts},"lat":{lat},"lon":{lon},"alt_m":-1e400}}"#),
            RejectReason::MalformedJson,
        ),
        Defect::NotAnObject => (format!("[{lat},{lon}]"), RejectReason::NotAnObject),
    }
}

/// The defects binary can carry, or `None`.
fn spoil_binary(g: &Gps, defect: Defect) -> Option<(GpsV1, RejectReason)> {
    let good = gps_v1(g);
    Some(match defect {
        Defect::LatAbove90 => (
            GpsV1 {
                lat: 90.0 + g.lat.abs() + 0.5,
                ..good
            },
            RejectReason::OutOfRange,
        ),
        Defect::LonNotFinite => (
            GpsV1 {
                lon: f64::NAN,
                ..good
            },
            RejectReason::OutOfRange,
        ),
        Defect::HeadingIs360 => (
            GpsV1 {
                heading_deg: Some(360.0),
                ..good
            },
            RejectReason::OutOfRange,
        ),
        Defect::TsInFuture => (
            GpsV1 {
                ts_ms: NOW_MS + MAX_FUTURE_MS + 1,
                ..good
            },
            RejectReason::TsInFuture,
        ),
        Defect::TsTooOld => (
            GpsV1 {
                ts_ms: NOW_MS - MAX_AGE_MS - 1,
                ..good
            },
            RejectReason::TsTooOld,
        ),
        Defect::TsNotRfc3339 => (
            GpsV1 {
                ts_ms: i64::MAX - g.ts_ms,
                ..good
            },
            RejectReason::BadTimestamp,
        ),
        _ => return None,
    })
}

fn batch_entry() -> impl Strategy<Value = (Gps, Option<Defect>)> {
    (
        gps_model(),
        option::weighted(0.4, proptest::sample::select(DEFECTS.to_vec())),
    )
}

/// A JSON text that is valid or nearly so: a good batch with one byte changed.
fn almost_json() -> impl Strategy<Value = Vec<u8>> {
    (
        vec(gps_model(), 1..5),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0..3u8,
    )
        .prop_map(|(readings, at, byte, op)| {
            let items: Vec<String> = readings
                .iter()
                .map(|g| gps_json(g, TsForm::Millis, false))
                .collect();
            let mut bytes = format!("[{}]", items.join(",")).into_bytes();
            let at = at.index(bytes.len());
            match op {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_bytes(kind in kind(), bytes in vec(any::<u8>(), 0..1024)) {
        let d = decode(kind, &bytes, NOW, &WINDOW);
        assert_well_formed(&d, kind, bytes.len());
        prop_assert!(!d.rejects.is_empty() || !d.gps.is_empty() || !d.obd.is_empty());
    }

    #[test]
    fn never_panics_after_the_binary_header(
        kind in kind(),
        version in prop_oneof![Just(VERSION_1), any::<u8>()],
        body in vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = vec![MAGIC, version];
        bytes.extend(body);
        let d = decode(kind, &bytes, NOW, &WINDOW);
        assert_well_formed(&d, kind, bytes.len());
        for r in &d.rejects {
            prop_assert_eq!(r.span.clone(), 0..bytes.len());
        }
    }

    #[test]
    fn never_panics_on_almost_valid_json(kind in kind(), bytes in almost_json()) {
        let d = decode(kind, &bytes, NOW, &WINDOW);
        assert_well_formed(&d, kind, bytes.len());
    }

    #[test]
    fn never_panics_on_json_shaped_noise(
        kind in kind(),
        text in r#"[\[\]{}",:0-9.eE+\- a-z\\]{0,200}"#,
    ) {
        let d = decode(kind, text.as_bytes(), NOW, &WINDOW);
        assert_well_formed(&d, kind, text.len());
    }

    #[test]
    fn gps_round_trips_through_json(g in gps_model(), form in ts_form(), nulls: bool) {
        let payload = gps_json(&g, form, nulls);
        let d = decode(Kind::Gps, payload.as_bytes(), NOW, &WINDOW);
        prop_assert!(d.rejects.is_empty(), "{:?} for {}", d.rejects, payload);
        prop_assert_eq!(d.gps, vec![expected_gps(&g, form)]);
    }

    #[test]
    fn gps_round_trips_through_binary(readings in vec(gps_model(), 1..50)) {
        let payload = encode_gps(&readings.iter().map(gps_v1).collect::<Vec<_>>());
        let d = decode(Kind::Gps, &payload, NOW, &WINDOW);
        prop_assert!(d.rejects.is_empty(), "{:?}", d.rejects);
        let expected: Vec<GpsReading> =
            readings.iter().map(|g| expected_gps(g, TsForm::Millis)).collect();
        prop_assert_eq!(d.gps, expected);
    }

    #[test]
    fn json_and_binary_agree(readings in vec(gps_model(), 1..20)) {
        let items: Vec<String> =
            readings.iter().map(|g| gps_json(g, TsForm::Millis, false)).collect();
        let json = format!("[{}]", items.join(","));
        let binary = encode_gps(&readings.iter().map(gps_v1).collect::<Vec<_>>());
        let from_json = decode(Kind::Gps, json.as_bytes(), NOW, &WINDOW);
        let from_binary = decode(Kind::Gps, &binary, NOW, &WINDOW);
        prop_assert_eq!(from_json.gps.len(), readings.len());
        prop_assert_eq!(from_json.gps, from_binary.gps);
    }

    #[test]
    fn any_in_range_lat_lon_decode_as_serde_json_parses_them(
        lat in -90.0f64..=90.0,
        lon in -180.0f64..=180.0,
    ) {
        let payload = format!(r#"{{"ts":{NOW_MS},"lat":{lat},"lon":{lon}}}"#);
        let d = decode(Kind::Gps, payload.as_bytes(), NOW, &WINDOW);
        prop_assert!(d.rejects.is_empty(), "{:?}", d.rejects);
        prop_assert_eq!(d.gps[0].lat, serde_json::from_str::<f64>(&lat.to_string()).unwrap());
        prop_assert_eq!(d.gps[0].lon, serde_json::from_str::<f64>(&lon.to_string()).unwrap());
    }

    #[test]
    fn obd_round_trips_through_json(o in obd_model(), form in ts_form(), nulls: bool) {
        let payload = obd_json(&o, form, nulls);
        let d = decode(Kind::Obd, payload.as_bytes(), NOW, &WINDOW);
        prop_assert!(d.rejects.is_empty(), "{:?} for {}", d.rejects, payload);
        prop_assert_eq!(d.obd, vec![expected_obd(&o, form)]);
    }

    #[test]
    fn obd_round_trips_through_binary(readings in vec(obd_model(), 1..20)) {
        let payload = encode_obd(&readings.iter().map(obd_v1).collect::<Vec<_>>());
        let d = decode(Kind::Obd, &payload, NOW, &WINDOW);
        prop_assert!(d.rejects.is_empty(), "{:?}", d.rejects);
        let expected: Vec<ObdReading> =
            readings.iter().map(|o| expected_obd(o, TsForm::Millis)).collect();
        prop_assert_eq!(d.obd, expected);
    }

    #[test]
    fn json_batch_keeps_exactly_the_good_readings(entries in vec(batch_entry(), 1..60)) {
        let mut items = Vec::new();
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for (index, (g, defect)) in entries.iter().enumerate() {
            match defect {
                None => {
                    items.push(gps_json(g, TsForm::Millis, index % 2 == 0));
                    good.push(expected_gps(g, TsForm::Millis));
                }
                Some(defect) => {
                    let (text, reason) = spoil_json(g, *defect);
                    bad.push((index, reason, text.clone()));
                    items.push(text);
                }
            }
        }
        let payload = format!("[\n{}\n]", items.join(" ,\n "));
        prop_assume!(payload.len() <= MAX_PAYLOAD_BYTES);
        let d = decode(Kind::Gps, payload.as_bytes(), NOW, &WINDOW);
        prop_assert_eq!(&d.gps, &good);
        prop_assert_eq!(d.rejects.len(), bad.len(), "{:?}", d.rejects);
        for (r, (index, reason, text)) in d.rejects.iter().zip(&bad) {
            prop_assert_eq!(r.reason, *reason, "{:?} for {}", r, text);
            let prefix = format!("reading {index}: ");
            prop_assert!(r.detail.starts_with(&prefix), "{:?}", r);
            prop_assert_eq!(&payload[r.span.clone()], text.as_str());
        }
    }

    #[test]
    fn binary_batch_keeps_exactly_the_good_readings(entries in vec(batch_entry(), 1..60)) {
        let mut readings = Vec::new();
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for (g, defect) in &entries {
            match defect.and_then(|d| spoil_binary(g, d)) {
                None => {
                    readings.push(gps_v1(g));
                    good.push(expected_gps(g, TsForm::Millis));
                }
                Some((spoiled, reason)) => {
                    bad.push((readings.len(), reason));
                    readings.push(spoiled);
                }
            }
        }
        let payload = encode_gps(&readings);
        let d = decode(Kind::Gps, &payload, NOW, &WINDOW);
        prop_assert_eq!(&d.gps, &good);
        let got: Vec<_> = d
            .rejects
            .iter()
            .map(|r| {
                let index = r.detail["reading ".len()..]
                    .split(':')
                    .next()
                    .and_then(|i| i.parse::<usize>().ok());
                (index, r.reason, r.span.clone())
            })
            .collect();
        let expected: Vec<_> = bad
            .iter()
            .map(|(index, reason)| (Some(*index), *reason, 0..payload.len()))
            .collect();
        prop_assert_eq!(got, expected);
    }
}
