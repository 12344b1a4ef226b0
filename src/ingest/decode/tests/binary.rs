//! Decoder unit tests: binary.

use super::*;

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
        // Not the decoder's: the topic's, PostgreSQL's and the registry's.
        .filter(|r| !matches!(r, BadTopic | DbRejected | UnknownVehicle))
        .collect();
    assert_eq!(produced, expected);
}
