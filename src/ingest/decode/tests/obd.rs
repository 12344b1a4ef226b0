//! Decoder unit tests: JSON, OBD.

use super::*;

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
