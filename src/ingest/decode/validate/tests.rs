use super::*;

const NOW: i64 = 1_700_000_000_000_000;

fn window() -> Window {
    Window {
        max_future: Duration::from_secs(300),
        max_age: Duration::from_secs(30 * 86_400),
    }
}

fn gps_input() -> GpsInput {
    GpsInput {
        ts: NOW,
        lat: 52.5,
        lon: 13.25,
        speed_kmh: None,
        heading_deg: None,
        alt_m: None,
        accuracy_m: None,
    }
}

fn obd_input() -> ObdInput {
    ObdInput {
        ts: NOW,
        rpm: None,
        speed_kmh: None,
        coolant_c: None,
        fuel_pct: None,
        engine_load_pct: None,
        odometer_km: None,
        dtc: None,
    }
}

fn gps_err(input: GpsInput) -> Fault {
    gps(input, NOW, &window()).expect_err("reading should be rejected")
}

#[test]
fn limits_print_in_range_syntax() {
    assert_eq!(LAT.to_string(), "-90..=90");
    assert_eq!(HEADING_DEG.to_string(), "0..360");
    assert_eq!(ACCURACY_M.to_string(), "0..");
}

#[test]
fn lat_boundaries() {
    for lat in [90.0, -90.0] {
        let r = gps(GpsInput { lat, ..gps_input() }, NOW, &window()).unwrap();
        assert_eq!(r.lat, lat);
    }
    let f = gps_err(GpsInput {
        lat: 90.000_000_1,
        ..gps_input()
    });
    assert_eq!(f.reason, RejectReason::OutOfRange);
    assert_eq!(f.detail, "lat 90.0000001 is outside -90..=90");
    let f = gps_err(GpsInput {
        lat: 91.5,
        ..gps_input()
    });
    assert_eq!(f.detail, "lat 91.5 is outside -90..=90");
}

#[test]
fn heading_is_half_open_also_after_narrowing() {
    let ok = gps(
        GpsInput {
            heading_deg: Some(0.0),
            ..gps_input()
        },
        NOW,
        &window(),
    )
    .unwrap();
    assert_eq!(ok.heading_deg, Some(0.0));
    let f = gps_err(GpsInput {
        heading_deg: Some(360.0),
        ..gps_input()
    });
    assert_eq!(f.detail, "heading_deg 360 is outside 0..360");
    // Below 360 as f64, exactly 360 as f32.
    let f = gps_err(GpsInput {
        heading_deg: Some(359.999_999_999),
        ..gps_input()
    });
    assert_eq!(f.reason, RejectReason::OutOfRange);
}

#[test]
fn optional_ranges() {
    let cases: [(GpsInput, &str); 5] = [
        (
            GpsInput {
                speed_kmh: Some(400.5),
                ..gps_input()
            },
            "speed_kmh 400.5 is outside 0..=400",
        ),
        (
            GpsInput {
                speed_kmh: Some(-1.0),
                ..gps_input()
            },
            "speed_kmh -1 is outside 0..=400",
        ),
        (
            GpsInput {
                alt_m: Some(9000.5),
                ..gps_input()
            },
            "alt_m 9000.5 is outside -500..=9000",
        ),
        (
            GpsInput {
                accuracy_m: Some(-0.5),
                ..gps_input()
            },
            "accuracy_m -0.5 is below 0",
        ),
        (
            GpsInput {
                accuracy_m: Some(f64::INFINITY),
                ..gps_input()
            },
            "accuracy_m inf is not finite",
        ),
    ];
    for (input, detail) in cases {
        let f = gps_err(input);
        assert_eq!(f.reason, RejectReason::OutOfRange);
        assert_eq!(f.detail, detail);
    }
    let ok = gps(
        GpsInput {
            speed_kmh: Some(400.0),
            alt_m: Some(-500.0),
            accuracy_m: Some(0.0),
            ..gps_input()
        },
        NOW,
        &window(),
    )
    .unwrap();
    assert_eq!(ok.speed_kmh, Some(400.0));
    assert_eq!(ok.alt_m, Some(-500.0));
    assert_eq!(ok.accuracy_m, Some(0.0));
}

#[test]
fn nan_is_not_finite() {
    let f = gps_err(GpsInput {
        lon: f64::NAN,
        ..gps_input()
    });
    assert_eq!(f.reason, RejectReason::OutOfRange);
    assert_eq!(f.detail, "lon NaN is not finite");
}

#[test]
fn window_bounds_are_inclusive() {
    let w = window();
    let future = 300_000_000;
    let age = 30 * 86_400 * 1_000_000;
    assert!(check_window(NOW + future, NOW, &w).is_ok());
    assert!(check_window(NOW - age, NOW, &w).is_ok());
    let f = check_window(NOW + future + 1, NOW, &w).unwrap_err();
    assert_eq!(f.reason, RejectReason::TsInFuture);
    assert_eq!(
        f.detail,
        "ts 2023-11-14T22:18:20.000001Z is more than 300s ahead of the daemon clock"
    );
    let f = check_window(NOW - age - 1, NOW, &w).unwrap_err();
    assert_eq!(f.reason, RejectReason::TsTooOld);
    // Saturation instead of overflow near the ends of i64.
    assert!(check_window(i64::MIN, i64::MIN, &w).is_ok());
    assert_eq!(
        check_window(i64::MAX, 0, &w).unwrap_err().reason,
        RejectReason::TsInFuture
    );
}

#[test]
fn millis_range_is_chronos() {
    for ms in [
        MIN_MS - 1,
        MIN_MS,
        MIN_MS + 1,
        -1,
        0,
        MAX_MS - 1,
        MAX_MS,
        MAX_MS + 1,
    ] {
        assert_eq!(
            ts_from_millis(ms).ok(),
            DateTime::from_timestamp_millis(ms).map(|t| t.timestamp_micros()),
            "{ms}"
        );
    }
}

#[test]
fn millis_conversion_and_range() {
    assert_eq!(ts_from_millis(1_700_000_000_123), Ok(1_700_000_000_123_000));
    assert_eq!(ts_from_millis(-1), Ok(-1000));
    for ms in [i64::MIN, i64::MAX, -9_000_000_000_000_000] {
        assert_eq!(
            ts_from_millis(ms).unwrap_err().reason,
            RejectReason::BadTimestamp
        );
    }
}

#[test]
fn dtc_codes() {
    for ok in ["P0301", "C1234", "B0ABC", "U0F00"] {
        assert_eq!(dtc_code(0, ok).unwrap().as_str(), ok);
    }
    for bad in [
        "p0301", "X0301", "P030", "P03011", "P030G", "P03a1", "", "P0301\0",
    ] {
        let f = dtc_code(2, bad).unwrap_err();
        assert_eq!(f.reason, RejectReason::BadDtc, "{bad:?}");
    }
    assert_eq!(
        dtc_code(2, "p0301").unwrap_err().detail,
        "dtc[2] \"p0301\" does not match [PCBU][0-9A-F]{4}"
    );
}

#[test]
fn obd_needs_a_value_and_an_empty_dtc_list_counts() {
    let f = obd(obd_input(), NOW, &window()).unwrap_err();
    assert_eq!(f.reason, RejectReason::NoObdValues);
    let r = obd(
        ObdInput {
            dtc: Some(Ok(vec![])),
            ..obd_input()
        },
        NOW,
        &window(),
    )
    .unwrap();
    assert_eq!(r.dtc, Some(vec![]));
}

#[test]
fn obd_ranges() {
    let cases: [(ObdInput, &str); 6] = [
        (
            ObdInput {
                rpm: Some(20_001.0),
                ..obd_input()
            },
            "rpm 20001 is outside 0..=20000",
        ),
        (
            ObdInput {
                coolant_c: Some(-61.0),
                ..obd_input()
            },
            "coolant_c -61 is outside -60..=200",
        ),
        (
            ObdInput {
                fuel_pct: Some(100.5),
                ..obd_input()
            },
            "fuel_pct 100.5 is outside 0..=100",
        ),
        (
            ObdInput {
                engine_load_pct: Some(-0.1),
                ..obd_input()
            },
            "engine_load_pct -0.1 is outside 0..=100",
        ),
        (
            ObdInput {
                odometer_km: Some(-1.0),
                ..obd_input()
            },
            "odometer_km -1 is below 0",
        ),
        (
            ObdInput {
                speed_kmh: Some(f64::NAN),
                ..obd_input()
            },
            "speed_kmh NaN is not finite",
        ),
    ];
    for (input, detail) in cases {
        let f = obd(input, NOW, &window()).unwrap_err();
        assert_eq!(f.reason, RejectReason::OutOfRange);
        assert_eq!(f.detail, detail);
    }
    let r = obd(
        ObdInput {
            rpm: Some(20_000.0),
            coolant_c: Some(-60.0),
            fuel_pct: Some(100.0),
            engine_load_pct: Some(0.0),
            odometer_km: Some(123_456.789),
            ..obd_input()
        },
        NOW,
        &window(),
    )
    .unwrap();
    assert_eq!(r.rpm, Some(20_000.0));
    assert_eq!(r.odometer_km, Some(123_456.789));
}

#[test]
fn echo_cuts_long_input_on_a_char_boundary() {
    let long = "é".repeat(1000);
    let e = echo(&long);
    assert!(e.len() < 100, "{e}");
    assert!(e.ends_with("..."));
    assert_eq!(echo("a\"b"), "\"a\\\"b\"");
}
