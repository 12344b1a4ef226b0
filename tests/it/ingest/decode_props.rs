//! Property tests of the payload decoder (docs/telemetry.md): it never panics, good readings survive
//! both encodings bit for bit, and a mixed batch keeps exactly its good readings.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use fleetd::ingest::decode::{decode, MAX_PAYLOAD_BYTES};
use fleetd::ingest::reading::{Decoded, Dtc, GpsReading, Kind, ObdReading, RejectReason, Window};
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

mod models;
use models::*;

proptest! {
    #![proptest_config(crate::common::proptest_config(512))]

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
