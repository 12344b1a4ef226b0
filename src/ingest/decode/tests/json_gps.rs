//! Decoder unit tests: JSON, GPS.

use super::*;

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
