//! Models of good and spoiled readings for the decoder property tests.

use super::*;

pub(crate) fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Gps), Just(Kind::Obd)]
}

/// What holds for every outcome, good or bad input.
pub(crate) fn assert_well_formed(d: &Decoded, kind: Kind, len: usize) {
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
pub(crate) struct Gps {
    pub(crate) ts_ms: i64,
    /// Sub-millisecond part, only expressible in the RFC 3339 form.
    pub(crate) extra_us: i64,
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    pub(crate) speed_kmh: Option<f32>,
    pub(crate) heading_deg: Option<f32>,
    pub(crate) alt_m: Option<f32>,
    pub(crate) accuracy_m: Option<f32>,
}

#[derive(Debug, Clone)]
pub(crate) struct Obd {
    pub(crate) ts_ms: i64,
    pub(crate) extra_us: i64,
    pub(crate) rpm: Option<f32>,
    pub(crate) speed_kmh: Option<f32>,
    pub(crate) coolant_c: Option<f32>,
    pub(crate) fuel_pct: Option<f32>,
    pub(crate) engine_load_pct: Option<f32>,
    pub(crate) odometer_km: Option<f64>,
    pub(crate) dtc: Option<Vec<String>>,
}

/// How `ts` is written in JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TsForm {
    Millis,
    /// RFC 3339 at this UTC offset, in minutes.
    Rfc3339(i32),
}

pub(crate) fn sixteenths(lo: i32, hi: i32) -> impl Strategy<Value = f32> {
    (lo * 16..=hi * 16).prop_map(|n| n as f32 / 16.0)
}

pub(crate) fn ts_ms() -> impl Strategy<Value = i64> {
    NOW_MS - MAX_AGE_MS..=NOW_MS + MAX_FUTURE_MS
}

pub(crate) fn ts_form() -> impl Strategy<Value = TsForm> {
    prop_oneof![
        Just(TsForm::Millis),
        (-(23 * 60 + 59)..=(23 * 60 + 59)).prop_map(TsForm::Rfc3339),
    ]
}

pub(crate) fn gps_model() -> impl Strategy<Value = Gps> {
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

pub(crate) fn obd_model() -> impl Strategy<Value = Obd> {
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
pub(crate) fn ts_us(ts_ms: i64, extra_us: i64, form: TsForm) -> i64 {
    match form {
        TsForm::Millis => ts_ms * 1000,
        TsForm::Rfc3339(_) => ts_ms * 1000 + extra_us,
    }
}

pub(crate) fn ts_json(ts_ms: i64, extra_us: i64, form: TsForm) -> String {
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
pub(crate) fn field<T: ToString>(out: &mut String, name: &str, value: Option<T>, nulls: bool) {
    match value {
        Some(v) => write!(out, r#","{name}":{}"#, v.to_string()).unwrap(),
        None if nulls => write!(out, r#","{name}":null"#).unwrap(),
        None => {}
    }
}

pub(crate) fn gps_json(g: &Gps, form: TsForm, nulls: bool) -> String {
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

pub(crate) fn obd_json(o: &Obd, form: TsForm, nulls: bool) -> String {
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

pub(crate) fn expected_gps(g: &Gps, form: TsForm) -> GpsReading {
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

pub(crate) fn expected_obd(o: &Obd, form: TsForm) -> ObdReading {
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

pub(crate) fn gps_v1(g: &Gps) -> GpsV1 {
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

pub(crate) fn obd_v1(o: &Obd) -> ObdV1<'_> {
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
pub(crate) enum Defect {
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

pub(crate) const DEFECTS: [Defect; 12] = [
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

pub(crate) fn spoil_json(g: &Gps, defect: Defect) -> (String, RejectReason) {
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
pub(crate) fn spoil_binary(g: &Gps, defect: Defect) -> Option<(GpsV1, RejectReason)> {
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

pub(crate) fn batch_entry() -> impl Strategy<Value = (Gps, Option<Defect>)> {
    (
        gps_model(),
        option::weighted(0.4, proptest::sample::select(DEFECTS.to_vec())),
    )
}

/// A JSON text that is valid or nearly so: a good batch with one byte changed.
pub(crate) fn almost_json() -> impl Strategy<Value = Vec<u8>> {
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
