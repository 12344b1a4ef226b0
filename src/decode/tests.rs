//! End-to-end tests of [`super::decode`]: every rejection reason, the limits, hostile input.

use std::time::Duration;

use super::{decode, MAX_BATCH_READINGS, MAX_PAYLOAD_BYTES};
use crate::reading::{Decoded, Dtc, GpsReading, Kind, ObdReading, RejectReason, Window};
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

// ---------------------------------------------------------------- JSON, GPS

#[test]
fn gps_object_with_every_field() {
    let r = one_gps(
        r#"{"ts":1700000000123,"lat":52.520008,"lon":13.404954,"speed_kmh":48.5,
            "heading_deg":271.25,"alt_m":34,"accuracy_m":3.5}"#,
    );
    assert_eq!(
        r,
        GpsReading {
            ts: 1_700_000_000_123_000,
            lat: 52.520008,
            lon: 13.404954,
            speed_kmh: Some(48.5),
            heading_deg: Some(271.25),
            alt_m: Some(34.0),
            accuracy_m: Some(3.5),
        }
    );
}

#[test]
fn rfc3339_ts_with_offset_is_utc_and_truncated_to_micros() {
    let r = one_gps(r#"{"ts":"2023-11-14T23:13:20.1234569+01:00","lat":1,"lon":2}"#);
    assert_eq!(r.ts, NOW + 123_456);
    let r = one_gps(r#"{"ts":"2023-11-14 22:13:20z","lat":1,"lon":2}"#);
    assert_eq!(r.ts, NOW);
}

#[test]
fn optional_null_is_absent_and_unknown_fields_are_ignored() {
    let r = one_gps(
        r#"{"ts":1700000000000,"lat":1.5,"lon":-2.5,"speed_kmh":null,"alt_m":null,
            "note":"'; DROP TABLE gps_readings; --","x":{"y":[1,{"z":null}]},"rpm":"ignored"}"#,
    );
    assert_eq!(r.speed_kmh, None);
    assert_eq!(r.alt_m, None);
    assert_eq!((r.lat, r.lon), (1.5, -2.5));
}

#[test]
fn missing_and_wrongly_typed_fields() {
    let cases = [
        (
            r#"{"lat":1,"lon":2}"#,
            RejectReason::MissingField,
            "missing field ts",
        ),
        (
            r#"{"ts":1700000000000,"lon":2}"#,
            RejectReason::MissingField,
            "missing field lat",
        ),
        (
            r#"{"ts":1700000000000,"lat":1}"#,
            RejectReason::MissingField,
            "missing field lon",
        ),
        (
            r#"{"ts":1700000000000,"lat":"1","lon":2}"#,
            RejectReason::InvalidField,
            "lat must be a number, found string",
        ),
        (
            r#"{"ts":1700000000000,"lat":null,"lon":2}"#,
            RejectReason::InvalidField,
            "lat must be a number, found null",
        ),
        (
            r#"{"ts":1700000000000,"lat":1,"lon":[2]}"#,
            RejectReason::InvalidField,
            "lon must be a number, found array",
        ),
        (
            r#"{"ts":1700000000000,"lat":1,"lon":2,"heading_deg":true}"#,
            RejectReason::InvalidField,
            "heading_deg must be a number, found boolean",
        ),
        (
            r#"{"ts":1700000000000,"lat":1,"lon":2,"accuracy_m":{}}"#,
            RejectReason::InvalidField,
            "accuracy_m must be a number, found object",
        ),
    ];
    for (payload, reason, detail) in cases {
        assert_eq!(
            gps_reject(payload),
            (reason, detail.to_owned()),
            "{payload}"
        );
    }
}

#[test]
fn bad_timestamps() {
    let cases = [
        (r#"1.5"#, "ts 1.5 is not an integer of epoch milliseconds"),
        (
            r#"1e12"#,
            "ts 1000000000000 is not an integer of epoch milliseconds",
        ),
        (
            r#"1700000000000.0"#,
            "ts 1700000000000 is not an integer of epoch milliseconds",
        ),
        (
            r#""yesterday""#,
            "ts \"yesterday\" is not an RFC 3339 date-time",
        ),
        (
            r#""2023-02-30T00:00:00Z""#,
            "ts \"2023-02-30T00:00:00Z\" is not an RFC 3339 date-time",
        ),
        (
            r#""1700000000000""#,
            "ts \"1700000000000\" is not an RFC 3339 date-time",
        ),
        (
            r#"null"#,
            "ts must be an RFC 3339 string or integer epoch milliseconds, found null",
        ),
        (
            r#"true"#,
            "ts must be an RFC 3339 string or integer epoch milliseconds, found boolean",
        ),
        (
            r#"[1]"#,
            "ts must be an RFC 3339 string or integer epoch milliseconds, found array",
        ),
        (
            r#"{"ms":1}"#,
            "ts must be an RFC 3339 string or integer epoch milliseconds, found object",
        ),
        (
            r#"-9000000000000000"#,
            "ts -9000000000000000 is outside the supported range of epoch milliseconds",
        ),
        (
            r#"18446744073709551615"#,
            "ts 9223372036854775807 is outside the supported range of epoch milliseconds",
        ),
        // Beyond u64: serde_json reads it as a float.
        (
            r#"99999999999999999999"#,
            "ts 100000000000000000000 is not an integer of epoch milliseconds",
        ),
    ];
    for (ts, detail) in cases {
        let payload = format!(r#"{{"ts":{ts},"lat":1,"lon":2}}"#);
        assert_eq!(
            gps_reject(&payload),
            (RejectReason::BadTimestamp, detail.to_owned()),
            "{payload}"
        );
    }
}

#[test]
fn range_boundaries() {
    let at = |field: &str, value: &str| {
        format!(r#"{{"ts":1700000000000,"lat":1,"lon":2,"{field}":{value}}}"#)
    };
    assert_eq!(
        one_gps(r#"{"ts":1700000000000,"lat":90,"lon":180}"#).lat,
        90.0
    );
    assert_eq!(
        one_gps(r#"{"ts":1700000000000,"lat":-90,"lon":-180}"#).lon,
        -180.0
    );
    assert_eq!(
        gps_reject(r#"{"ts":1700000000000,"lat":90.0000001,"lon":2}"#),
        (
            RejectReason::OutOfRange,
            "lat 90.0000001 is outside -90..=90".into()
        )
    );
    assert_eq!(
        gps_reject(r#"{"ts":1700000000000,"lat":91.5,"lon":2}"#),
        (
            RejectReason::OutOfRange,
            "lat 91.5 is outside -90..=90".into()
        )
    );
    assert_eq!(
        gps_reject(r#"{"ts":1700000000000,"lat":1,"lon":-180.5}"#),
        (
            RejectReason::OutOfRange,
            "lon -180.5 is outside -180..=180".into()
        )
    );
    assert_eq!(
        one_gps(&at("heading_deg", "359.5")).heading_deg,
        Some(359.5)
    );
    assert_eq!(one_gps(&at("heading_deg", "0")).heading_deg, Some(0.0));
    assert_eq!(
        gps_reject(&at("heading_deg", "360")),
        (
            RejectReason::OutOfRange,
            "heading_deg 360 is outside 0..360".into()
        )
    );
    assert_eq!(one_gps(&at("speed_kmh", "400")).speed_kmh, Some(400.0));
    assert_eq!(
        gps_reject(&at("speed_kmh", "400.01")).0,
        RejectReason::OutOfRange
    );
    assert_eq!(
        gps_reject(&at("speed_kmh", "-0.01")).0,
        RejectReason::OutOfRange
    );
    assert_eq!(one_gps(&at("alt_m", "-500")).alt_m, Some(-500.0));
    assert_eq!(one_gps(&at("alt_m", "9000")).alt_m, Some(9000.0));
    assert_eq!(
        gps_reject(&at("alt_m", "9000.5")).0,
        RejectReason::OutOfRange
    );
    assert_eq!(one_gps(&at("accuracy_m", "0")).accuracy_m, Some(0.0));
    assert_eq!(
        gps_reject(&at("accuracy_m", "-1")),
        (RejectReason::OutOfRange, "accuracy_m -1 is below 0".into())
    );
    // Finite in f64 but not in f32: the column is `real`.
    assert_eq!(
        gps_reject(&at("accuracy_m", "1e39")),
        (
            RejectReason::OutOfRange,
            "accuracy_m 1000000000000000000000000000000000000000 is outside the range of a 32-bit float".into()
        )
    );
}

#[test]
fn acceptance_window_is_inclusive_to_the_microsecond() {
    // NOW + 300 s and NOW - 30 days.
    let future = "2023-11-14T22:18:20Z";
    let oldest = "2023-10-15T22:13:20Z";
    let payload = |ts: &str| format!(r#"{{"ts":"{ts}","lat":1,"lon":2}}"#);
    assert_eq!(one_gps(&payload(future)).ts, NOW + 300_000_000);
    assert_eq!(one_gps(&payload(oldest)).ts, NOW - 30 * 86_400_000_000);
    let (reason, detail) = gps_reject(&payload("2023-11-14T22:18:20.000001Z"));
    assert_eq!(reason, RejectReason::TsInFuture);
    assert_eq!(
        detail,
        "ts 2023-11-14T22:18:20.000001Z is more than 300s ahead of the daemon clock"
    );
    let (reason, detail) = gps_reject(&payload("2023-10-15T22:13:19.999999Z"));
    assert_eq!(reason, RejectReason::TsTooOld);
    assert_eq!(
        detail,
        "ts 2023-10-15T22:13:19.999999Z is older than the retention of 2592000s"
    );
    // Same bounds as epoch milliseconds.
    let ms = |ms: i64| format!(r#"{{"ts":{ms},"lat":1,"lon":2}}"#);
    assert_eq!(one_gps(&ms(NOW_MS + 300_000)).ts, NOW + 300_000_000);
    assert_eq!(
        gps_reject(&ms(NOW_MS + 300_001)).0,
        RejectReason::TsInFuture
    );
    assert_eq!(gps_reject(&ms(0)).0, RejectReason::TsTooOld);
}

#[test]
fn duplicate_keys_reject_the_reading() {
    let cases = [
        (
            r#"{"ts":1700000000000,"lat":1,"lon":2,"lat":3}"#,
            "duplicate field \"lat\"",
        ),
        (
            r#"{"ts":1700000000000,"lat":1,"lon":2,"l\u0061t":3}"#,
            "duplicate field \"lat\"",
        ),
        (
            r#"{"ts":1700000000000,"ts":"x","lat":1,"lon":2}"#,
            "duplicate field \"ts\"",
        ),
        (
            r#"{"ts":1700000000000,"lat":1,"lon":2,"x":1,"y":2,"x":[]}"#,
            "duplicate field \"x\"",
        ),
        (
            r#"{"ts":1700000000000,"lat":1,"lon":2,"\u00e9":1,"é":2}"#,
            "duplicate field \"é\"",
        ),
    ];
    for (payload, detail) in cases {
        assert_eq!(
            gps_reject(payload),
            (RejectReason::InvalidField, detail.to_owned()),
            "{payload}"
        );
    }
    let r = one_gps(r#"{"ts":1700000000000,"lat":1,"lon":2,"x":1,"y":2,"z":3}"#);
    assert_eq!(r.lat, 1.0);
    // Many ignored keys: duplicates among the first few, among the rest, and across.
    let keys = |names: &[usize]| {
        let fields: String = names.iter().map(|k| format!(r#","k{k}":{k}"#)).collect();
        format!(r#"{{"ts":1700000000000,"lat":1,"lon":2{fields}}}"#)
    };
    let distinct: Vec<usize> = (0..5000).collect();
    assert_eq!(one_gps(&keys(&distinct)).lon, 2.0);
    for (dup_at, of) in [(3, 1), (40, 4000), (4000, 2), (4999, 4998)] {
        let mut names = distinct.clone();
        names[dup_at] = of;
        assert_eq!(
            gps_reject(&keys(&names)),
            (
                RejectReason::InvalidField,
                format!("duplicate field \"k{of}\"")
            ),
            "k{of} at {dup_at}"
        );
    }
}

// ---------------------------------------------------------------- JSON, batches

#[test]
fn batch_keeps_good_readings_in_order_and_rejects_bad_ones_with_their_span() {
    let good0 = good_gps_json(0);
    let bad1 = r#"{"ts":1700000000000,"lat":91.5,"lon":2}"#;
    let good2 = good_gps_json(2);
    let bad3 = r#"{"ts":"then","lat":1,"lon":2}"#;
    let bad4 = r#""just text""#;
    let good5 = good_gps_json(5);
    let payload = format!("\n [ {good0},{bad1} ,\n{good2},  {bad3},{bad4},{good5} ]\n");
    let d = gps(&payload);
    let lats: Vec<f64> = d.gps.iter().map(|r| r.lat).collect();
    assert_eq!(lats, [0.0, 0.02, 0.05]);
    assert_eq!(d.gps[1].ts, NOW - 2000);
    let got: Vec<_> = d
        .rejects
        .iter()
        .map(|r| (r.reason, r.detail.as_str(), &payload[r.span.clone()]))
        .collect();
    assert_eq!(
        got,
        [
            (
                RejectReason::OutOfRange,
                "reading 1: lat 91.5 is outside -90..=90",
                bad1
            ),
            (
                RejectReason::BadTimestamp,
                "reading 3: ts \"then\" is not an RFC 3339 date-time",
                bad3
            ),
            (
                RejectReason::NotAnObject,
                "reading 4: expected an object, found a string",
                bad4
            ),
        ]
    );
}

#[test]
fn batch_elements_that_are_not_objects() {
    let payload = r#"[1,"x",null,true,[],[{}],-2.5e3]"#;
    let d = gps(payload);
    assert!(d.gps.is_empty());
    let got: Vec<_> = d
        .rejects
        .iter()
        .map(|r| (r.reason, r.detail.as_str(), &payload[r.span.clone()]))
        .collect();
    assert_eq!(
        got,
        [
            (
                RejectReason::NotAnObject,
                "reading 0: expected an object, found a number",
                "1"
            ),
            (
                RejectReason::NotAnObject,
                "reading 1: expected an object, found a string",
                "\"x\""
            ),
            (
                RejectReason::NotAnObject,
                "reading 2: expected an object, found null",
                "null"
            ),
            (
                RejectReason::NotAnObject,
                "reading 3: expected an object, found a boolean",
                "true"
            ),
            (
                RejectReason::NotAnObject,
                "reading 4: expected an object, found an array",
                "[]"
            ),
            (
                RejectReason::NotAnObject,
                "reading 5: expected an object, found an array",
                "[{}]"
            ),
            (
                RejectReason::NotAnObject,
                "reading 6: expected an object, found a number",
                "-2.5e3"
            ),
        ]
    );
}

#[test]
fn batch_of_1000_is_accepted_and_1001_rejected_whole() {
    let batch = |n: usize| {
        let items: Vec<String> = (0..n).map(good_gps_json).collect();
        format!("[{}]", items.join(","))
    };
    let payload = batch(MAX_BATCH_READINGS);
    let d = gps(&payload);
    assert!(d.rejects.is_empty());
    assert_eq!(d.gps.len(), 1000);
    assert_eq!(d.gps[999].ts, NOW - 999_000);

    let payload = batch(MAX_BATCH_READINGS + 1);
    assert_eq!(
        gps_reject(&payload),
        (
            RejectReason::BatchTooLarge,
            "batch has 1001 readings, at most 1000 allowed".into()
        )
    );
    // Many tiny elements: counted, not kept.
    let payload = format!("[{}0]", "0,".repeat(100_000));
    assert_eq!(gps_reject(&payload).0, RejectReason::BatchTooLarge);
}

#[test]
fn empty_batch() {
    for payload in ["[]", " [ \n ] "] {
        assert_eq!(
            gps_reject(payload),
            (RejectReason::EmptyBatch, "batch has no readings".into())
        );
    }
}

#[test]
fn payload_size_limit_is_inclusive() {
    let body = format!("[{}]", good_gps_json(0));
    let padded = |len: usize| format!("{body}{}", " ".repeat(len - body.len()));
    let at_limit = padded(MAX_PAYLOAD_BYTES);
    assert_eq!(at_limit.len(), 262_144);
    assert_eq!(gps(&at_limit).gps.len(), 1);
    let over = padded(MAX_PAYLOAD_BYTES + 1);
    assert_eq!(
        gps_reject(&over),
        (
            RejectReason::PayloadTooLarge,
            "payload is 262145 bytes, at most 262144 allowed".into()
        )
    );
    // Checked before anything else, binary included.
    let mut binary = vec![MAGIC, 9];
    binary.resize(MAX_PAYLOAD_BYTES + 1, 0);
    let d = decode(Kind::Gps, &binary, NOW, &WINDOW);
    assert_eq!(
        only_reject(&d, binary.len()).0,
        RejectReason::PayloadTooLarge
    );
}

#[test]
fn syntax_errors_reject_the_whole_payload() {
    let good = good_gps_json(0);
    let cases = [
        format!("[{good},{good},{{\"ts\":1,]"),
        format!("[{good}] x"),
        format!("[{good}"),
        format!("{good},"),
        r#"{"ts":1700000000000,"lat":1,"lon":2"#.to_owned(),
        r#"{"ts":1700000000000,"lat":NaN,"lon":2}"#.to_owned(),
        r#"{"ts":1700000000000,"lat":Infinity,"lon":2}"#.to_owned(),
        r#"{"ts":1700000000000,"lat":01,"lon":2}"#.to_owned(),
        r#"{'ts':1700000000000}"#.to_owned(),
        "\u{feff}{}".to_owned(),
        String::new(),
        "   ".to_owned(),
        "nul".to_owned(),
        "42 43".to_owned(),
        "[".repeat(100_000),
        r#"{"a":"#.repeat(50_000),
        format!(
            r#"{{"ts":1700000000000,"lat":1,"lon":2,"x":{}}}"#,
            "[".repeat(100_000)
        ),
    ];
    for payload in &cases {
        let (reason, _) = gps_reject(payload);
        assert_eq!(reason, RejectReason::MalformedJson, "{:.80}", payload);
    }
    let (_, detail) = gps_reject("{\"ts\":1,]");
    assert_eq!(detail, "key must be a string at line 1 column 9");
}

#[test]
fn balanced_deep_nesting_does_not_overflow_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // Inside an ignored field: skipped without recursion.
    let payload = format!(r#"{{"ts":1700000000000,"lat":1,"lon":2,"x":{deep}}}"#);
    assert_eq!(one_gps(&payload).lat, 1.0);
    // As a field value or an array element: a wrong type, not a crash.
    let payload = format!(r#"{{"ts":1700000000000,"lat":{deep},"lon":2}}"#);
    assert_eq!(gps_reject(&payload).0, RejectReason::InvalidField);
    // A batch element: serde_json splits the array without recursion, so this is a
    // non-object element, not a syntax error.
    let d = gps(&format!("[{deep}]"));
    assert_eq!(d.rejects.len(), 1);
    assert_eq!(d.rejects[0].reason, RejectReason::NotAnObject);
    assert_eq!(d.rejects[0].span, 1..200_001);
    // Unbalanced, it is malformed wherever it sits.
    assert_eq!(
        gps_reject(&"[".repeat(100_000)).0,
        RejectReason::MalformedJson
    );
    assert_eq!(
        gps_reject(&"{\"a\":[".repeat(30_000)).0,
        RejectReason::MalformedJson
    );
}

#[test]
fn non_utf8_is_malformed() {
    let mut payload = br#"{"ts":1700000000000,"lat":1,"lon":2,"x":""#.to_vec();
    payload.extend([0xff, 0xfe, b'"', b'}']);
    let d = decode(Kind::Gps, &payload, NOW, &WINDOW);
    let (reason, detail) = only_reject(&d, payload.len());
    assert_eq!(reason, RejectReason::MalformedJson);
    assert_eq!(
        detail,
        "payload is not utf-8: invalid utf-8 sequence of 1 bytes from index 41"
    );
}

#[test]
fn top_level_scalars_are_not_objects() {
    let cases = [
        (
            "42",
            "payload is a number, expected an object or an array of objects",
        ),
        (
            " \"x\" ",
            "payload is a string, expected an object or an array of objects",
        ),
        (
            "null",
            "payload is null, expected an object or an array of objects",
        ),
        (
            "false",
            "payload is a boolean, expected an object or an array of objects",
        ),
    ];
    for (payload, detail) in cases {
        assert_eq!(
            gps_reject(payload),
            (RejectReason::NotAnObject, detail.to_owned())
        );
    }
}

#[test]
fn numbers_beyond_f64_are_malformed_but_only_for_their_element() {
    assert_eq!(
        gps_reject(r#"{"ts":1700000000000,"lat":1e400,"lon":2}"#).0,
        RejectReason::MalformedJson
    );
    let bad = r#"{"ts":1700000000000,"lat":1,"lon":-1e400}"#;
    let payload = format!("[{},{bad}]", good_gps_json(0));
    let d = gps(&payload);
    assert_eq!(d.gps.len(), 1);
    assert_eq!(d.rejects.len(), 1);
    assert_eq!(d.rejects[0].reason, RejectReason::MalformedJson);
    assert!(d.rejects[0]
        .detail
        .starts_with("reading 1: number out of range"));
    assert_eq!(&payload[d.rejects[0].span.clone()], bad);
    // In an ignored field nobody reads the number.
    assert_eq!(
        one_gps(r#"{"ts":1700000000000,"lat":1,"lon":2,"x":1e400}"#).lon,
        2.0
    );
}

#[test]
fn long_strings_are_not_echoed_whole() {
    let long = "9".repeat(200_000);
    let payload = format!(r#"{{"ts":"{long}","lat":1,"lon":2}}"#);
    let (reason, detail) = gps_reject(&payload);
    assert_eq!(reason, RejectReason::BadTimestamp);
    assert!(detail.len() < 120, "{detail}");
    let payload = format!(r#"{{"ts":1700000000000,"lat":1,"lon":2,"comment":"{long}"}}"#);
    assert_eq!(one_gps(&payload).lat, 1.0);
}

// ---------------------------------------------------------------- JSON, OBD

#[test]
fn obd_object_with_every_field() {
    let r = one_obd(
        r#"{"ts":"2023-11-14T22:13:20Z","rpm":2500,"speed_kmh":88.5,"coolant_c":-40,
            "fuel_pct":55.25,"engine_load_pct":100,"odometer_km":123456.789012,
            "dtc":["P0301","U0100"],"lat":999}"#,
    );
    assert_eq!(
        r,
        ObdReading {
            ts: NOW,
            rpm: Some(2500.0),
            speed_kmh: Some(88.5),
            coolant_c: Some(-40.0),
            fuel_pct: Some(55.25),
            engine_load_pct: Some(100.0),
            odometer_km: Some(123_456.789_012),
            dtc: Some(vec![Dtc(*b"P0301"), Dtc(*b"U0100")]),
        }
    );
}

#[test]
fn obd_values_presence() {
    let r = one_obd(r#"{"ts":1700000000000,"dtc":[]}"#);
    assert_eq!(r.dtc, Some(vec![]));
    let r = one_obd(r#"{"ts":1700000000000,"odometer_km":0}"#);
    assert_eq!(r.odometer_km, Some(0.0));
    for payload in [
        r#"{"ts":1700000000000}"#,
        r#"{"ts":1700000000000,"rpm":null,"dtc":null}"#,
        // GPS fields mean nothing on an OBD topic.
        r#"{"ts":1700000000000,"lat":1,"lon":2,"heading_deg":3}"#,
    ] {
        assert_eq!(
            obd_reject(payload),
            (
                RejectReason::NoObdValues,
                "obd reading has no value besides ts".into()
            )
        );
    }
    assert_eq!(obd_reject(r#"{"rpm":1}"#).0, RejectReason::MissingField);
}

#[test]
fn obd_ranges() {
    let at = |field: &str, value: &str| format!(r#"{{"ts":1700000000000,"{field}":{value}}}"#);
    assert_eq!(one_obd(&at("rpm", "20000")).rpm, Some(20_000.0));
    assert_eq!(
        obd_reject(&at("rpm", "20000.5")),
        (
            RejectReason::OutOfRange,
            "rpm 20000.5 is outside 0..=20000".into()
        )
    );
    assert_eq!(one_obd(&at("coolant_c", "200")).coolant_c, Some(200.0));
    assert_eq!(
        obd_reject(&at("coolant_c", "-61")).0,
        RejectReason::OutOfRange
    );
    assert_eq!(
        obd_reject(&at("fuel_pct", "101")).0,
        RejectReason::OutOfRange
    );
    assert_eq!(
        obd_reject(&at("engine_load_pct", "-1")).0,
        RejectReason::OutOfRange
    );
    assert_eq!(
        obd_reject(&at("odometer_km", "-0.001")).0,
        RejectReason::OutOfRange
    );
    assert_eq!(
        obd_reject(&at("speed_kmh", "401")).0,
        RejectReason::OutOfRange
    );
    assert_eq!(
        obd_reject(&at("fuel_pct", "\"full\"")),
        (
            RejectReason::InvalidField,
            "fuel_pct must be a number, found string".into()
        )
    );
}

#[test]
fn dtc_rules() {
    let at = |dtc: &str| format!(r#"{{"ts":1700000000000,"rpm":800,"dtc":{dtc}}}"#);
    let codes = |n: usize| {
        let list: Vec<String> = (0..n).map(|i| format!("\"P{i:04X}\"")).collect();
        format!("[{}]", list.join(","))
    };
    assert_eq!(one_obd(&at(&codes(64))).dtc.map(|d| d.len()), Some(64));
    assert_eq!(
        obd_reject(&at(&codes(65))),
        (
            RejectReason::BadDtc,
            "dtc has 65 codes, at most 64 allowed".into()
        )
    );
    let cases = [
        (
            r#"["P0301","p0302"]"#,
            RejectReason::BadDtc,
            "dtc[1] \"p0302\" does not match [PCBU][0-9A-F]{4}",
        ),
        (
            r#"["X0301"]"#,
            RejectReason::BadDtc,
            "dtc[0] \"X0301\" does not match [PCBU][0-9A-F]{4}",
        ),
        (
            r#"["P03011"]"#,
            RejectReason::BadDtc,
            "dtc[0] \"P03011\" does not match [PCBU][0-9A-F]{4}",
        ),
        (
            r#"["P0301",7]"#,
            RejectReason::InvalidField,
            "dtc[1] must be a string, found integer",
        ),
        (
            r#"["P0301",null]"#,
            RejectReason::InvalidField,
            "dtc[1] must be a string, found null",
        ),
        (
            r#""P0301""#,
            RejectReason::InvalidField,
            "dtc must be an array of strings, found string",
        ),
        (
            r#"{"P0301":1}"#,
            RejectReason::InvalidField,
            "dtc must be an array of strings, found object",
        ),
    ];
    for (dtc, reason, detail) in cases {
        assert_eq!(obd_reject(&at(dtc)), (reason, detail.to_owned()), "{dtc}");
    }
    // Escaped but valid.
    let r = one_obd(&at(r#"["\u0050\u0030301"]"#));
    assert_eq!(r.dtc, Some(vec![Dtc(*b"P0301")]));
}

// ---------------------------------------------------------------- binary

#[test]
fn binary_gps_round_trip() {
    let readings = [gps_v1(NOW_MS, 52.5), gps_v1(NOW_MS - 1, -33.25)];
    let payload = encode_gps(&readings);
    let d = decode(Kind::Gps, &payload, NOW, &WINDOW);
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    assert_eq!(
        d.gps,
        [
            GpsReading {
                ts: NOW,
                lat: 52.5,
                lon: 13.25,
                speed_kmh: Some(50.5),
                heading_deg: None,
                alt_m: Some(34.0),
                accuracy_m: None,
            },
            GpsReading {
                ts: NOW - 1000,
                lat: -33.25,
                lon: 13.25,
                speed_kmh: Some(50.5),
                heading_deg: None,
                alt_m: Some(34.0),
                accuracy_m: None,
            },
        ]
    );
}

#[test]
fn binary_obd_round_trip_and_dtc_check() {
    let good = ObdV1 {
        ts_ms: NOW_MS,
        rpm: Some(900.0),
        speed_kmh: None,
        coolant_c: Some(90.5),
        fuel_pct: None,
        engine_load_pct: None,
        odometer_km: Some(1234.5),
        dtc: Some(vec!["P0301", "B1234"]),
    };
    let bad = ObdV1 {
        dtc: Some(vec!["P0301", "P03G1"]),
        ..good.clone()
    };
    let too_many = ObdV1 {
        dtc: Some(vec!["C0001"; 65]),
        ..good.clone()
    };
    let empty = ObdV1 {
        ts_ms: NOW_MS,
        rpm: None,
        speed_kmh: None,
        coolant_c: None,
        fuel_pct: None,
        engine_load_pct: None,
        odometer_km: None,
        dtc: None,
    };
    let payload = encode_obd(&[good, bad, too_many, empty]);
    let d = decode(Kind::Obd, &payload, NOW, &WINDOW);
    assert_eq!(
        d.obd,
        [ObdReading {
            ts: NOW,
            rpm: Some(900.0),
            speed_kmh: None,
            coolant_c: Some(90.5),
            fuel_pct: None,
            engine_load_pct: None,
            odometer_km: Some(1234.5),
            dtc: Some(vec![Dtc(*b"P0301"), Dtc(*b"B1234")]),
        }]
    );
    let got: Vec<_> = d
        .rejects
        .iter()
        .map(|r| (r.reason, r.detail.as_str(), r.span.clone()))
        .collect();
    let all = 0..payload.len();
    assert_eq!(
        got,
        [
            (
                RejectReason::BadDtc,
                "reading 1: dtc[1] \"P03G1\" does not match [PCBU][0-9A-F]{4}",
                all.clone()
            ),
            (
                RejectReason::BadDtc,
                "reading 2: dtc has 65 codes, at most 64 allowed",
                all.clone()
            ),
            (
                RejectReason::NoObdValues,
                "reading 3: obd reading has no value besides ts",
                all
            ),
        ]
    );
}

#[test]
fn binary_readings_get_the_json_rules() {
    let readings = [
        gps_v1(NOW_MS, 90.0),
        gps_v1(NOW_MS, f64::NAN),
        GpsV1 {
            heading_deg: Some(360.0),
            ..gps_v1(NOW_MS, 1.0)
        },
        GpsV1 {
            speed_kmh: Some(f32::INFINITY),
            ..gps_v1(NOW_MS, 1.0)
        },
        gps_v1(NOW_MS + 300_001, 1.0),
        gps_v1(0, 1.0),
        gps_v1(i64::MIN, 1.0),
        gps_v1(NOW_MS - 5, -90.0),
    ];
    let payload = encode_gps(&readings);
    let d = decode(Kind::Gps, &payload, NOW, &WINDOW);
    assert_eq!(
        d.gps.iter().map(|r| r.lat).collect::<Vec<_>>(),
        [90.0, -90.0]
    );
    let got: Vec<_> = d
        .rejects
        .iter()
        .map(|r| (r.reason, r.detail.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (RejectReason::OutOfRange, "reading 1: lat NaN is not finite"),
            (RejectReason::OutOfRange, "reading 2: heading_deg 360 is outside 0..360"),
            (RejectReason::OutOfRange, "reading 3: speed_kmh inf is not finite"),
            (
                RejectReason::TsInFuture,
                "reading 4: ts 2023-11-14T22:18:20.001Z is more than 300s ahead of the daemon clock"
            ),
            (
                RejectReason::TsTooOld,
                "reading 5: ts 1970-01-01T00:00:00Z is older than the retention of 2592000s"
            ),
            (
                RejectReason::BadTimestamp,
                "reading 6: ts -9223372036854775808 is outside the supported range of epoch milliseconds"
            ),
        ]
    );
    assert!(d.rejects.iter().all(|r| r.span == (0..payload.len())));
}

#[test]
fn binary_envelope_errors() {
    let good = encode_gps(&[gps_v1(NOW_MS, 1.0)]);
    let mut trailing = good.clone();
    trailing.extend([0, 0, 0]);
    let mut version2 = good.clone();
    version2[1] = 2;
    let truncated = &good[..good.len() - 3];
    let empty = encode_gps(&[]);
    let mut lying = vec![MAGIC, VERSION_1];
    lying.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
    let mut unterminated = vec![MAGIC, VERSION_1];
    unterminated.extend([0xff; 12]);
    let mut bad_option = vec![MAGIC, VERSION_1, 1, 2];
    bad_option.extend([0; 16]);
    bad_option.push(7);
    bad_option.extend([0; 3]);
    let cases: [(&[u8], RejectReason, &str); 9] = [
        (
            &[MAGIC],
            RejectReason::BadBinary,
            "binary payload has no version byte",
        ),
        (
            &version2,
            RejectReason::UnsupportedVersion,
            "binary layout version 2 is not supported, only 1 is",
        ),
        (
            &[MAGIC, 0],
            RejectReason::UnsupportedVersion,
            "binary layout version 0 is not supported, only 1 is",
        ),
        (
            &[MAGIC, VERSION_1],
            RejectReason::BadBinary,
            "binary gps batch does not decode: truncated",
        ),
        (
            truncated,
            RejectReason::BadBinary,
            "binary gps batch does not decode: truncated",
        ),
        (
            &trailing,
            RejectReason::BadBinary,
            "binary gps batch is followed by 3 stray bytes",
        ),
        (&empty, RejectReason::EmptyBatch, "batch has no readings"),
        (
            &lying,
            RejectReason::BadBinary,
            "binary gps batch claims 4294967295 readings but only 0 bytes follow",
        ),
        (
            &bad_option,
            RejectReason::BadBinary,
            "binary gps batch does not decode: bad option tag",
        ),
    ];
    for (payload, reason, detail) in cases {
        let d = decode(Kind::Gps, payload, NOW, &WINDOW);
        assert_eq!(
            only_reject(&d, payload.len()),
            (reason, detail),
            "{payload:?}"
        );
    }
    let d = decode(Kind::Gps, &unterminated, NOW, &WINDOW);
    assert_eq!(
        only_reject(&d, unterminated.len()).0,
        RejectReason::BadBinary
    );
}

#[test]
fn binary_batch_limit() {
    let batch: Vec<GpsV1> = (0..MAX_BATCH_READINGS as i64)
        .map(|i| gps_v1(NOW_MS - i, 1.0))
        .collect();
    let payload = encode_gps(&batch);
    assert_eq!(decode(Kind::Gps, &payload, NOW, &WINDOW).gps.len(), 1000);
    let batch: Vec<GpsV1> = (0..=MAX_BATCH_READINGS as i64)
        .map(|i| gps_v1(NOW_MS - i, 1.0))
        .collect();
    let payload = encode_gps(&batch);
    let d = decode(Kind::Gps, &payload, NOW, &WINDOW);
    assert_eq!(
        only_reject(&d, payload.len()),
        (
            RejectReason::BatchTooLarge,
            "batch has 1001 readings, at most 1000 allowed"
        )
    );
}

#[test]
fn binary_garbage_never_yields_readings_silently() {
    // Non-UTF-8 DTC bytes, and a GPS body on an OBD topic.
    let mut payload = encode_obd(&[ObdV1 {
        ts_ms: NOW_MS,
        rpm: None,
        speed_kmh: None,
        coolant_c: None,
        fuel_pct: None,
        engine_load_pct: None,
        odometer_km: None,
        dtc: Some(vec!["P0301"]),
    }]);
    let at = payload.len() - 5;
    payload[at] = 0xff;
    let d = decode(Kind::Obd, &payload, NOW, &WINDOW);
    assert_eq!(
        only_reject(&d, payload.len()),
        (
            RejectReason::BadBinary,
            "binary obd batch does not decode: a string is not utf-8"
        )
    );
    // Whatever garbage follows the header, a reading that comes out obeys the rules and
    // every rejection covers the whole payload.
    for seed in 0u8..=255 {
        let payload: Vec<u8> = [MAGIC, VERSION_1]
            .into_iter()
            .chain((0..40u8).map(|i| i.wrapping_mul(seed).wrapping_add(seed)))
            .collect();
        for kind in [Kind::Gps, Kind::Obd] {
            let d = decode(kind, &payload, NOW, &WINDOW);
            assert!(!d.rejects.is_empty() || !d.gps.is_empty() || !d.obd.is_empty());
            assert!(d.rejects.iter().all(|r| r.span == (0..payload.len())));
            assert!(d
                .gps
                .iter()
                .all(|r| r.lat.abs() <= 90.0 && r.lon.abs() <= 180.0));
            assert!(d
                .gps
                .iter()
                .map(|r| r.ts)
                .chain(d.obd.iter().map(|r| r.ts))
                .all(|ts| (NOW - 30 * 86_400_000_000..=NOW + 300_000_000).contains(&ts)));
        }
    }
}

#[test]
fn every_payload_level_reason_is_covered() {
    use RejectReason::*;
    let produced: Vec<RejectReason> = [
        gps(&" ".repeat(MAX_PAYLOAD_BYTES + 1)),
        gps("{"),
        gps("1"),
        gps(&format!("[{}]", "{},".repeat(1000) + "{}")),
        gps("[]"),
        decode(Kind::Gps, &[MAGIC], NOW, &WINDOW),
        decode(Kind::Gps, &[MAGIC, 2], NOW, &WINDOW),
        gps("{}"),
        gps(r#"{"ts":1700000000000,"lat":"x","lon":1}"#),
        gps(r#"{"ts":1700000000000,"lat":100,"lon":1}"#),
        gps(r#"{"ts":"x","lat":1,"lon":1}"#),
        gps(r#"{"ts":99999999999999,"lat":1,"lon":1}"#),
        gps(r#"{"ts":1,"lat":1,"lon":1}"#),
        obd(r#"{"ts":1700000000000}"#),
        obd(r#"{"ts":1700000000000,"dtc":["x"]}"#),
    ]
    .iter()
    .map(|d| d.rejects[0].reason)
    .collect();
    let expected: Vec<RejectReason> = RejectReason::ALL
        .into_iter()
        .filter(|r| !matches!(r, BadTopic | DbRejected))
        .collect();
    assert_eq!(produced, expected);
}
