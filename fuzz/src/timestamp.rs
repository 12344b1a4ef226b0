//! `ts` read through the JSON decoder against chrono, its reference.
//!
//! src/ingest/decode/rfc3339.rs "accepts exactly what `chrono::DateTime::parse_from_rfc3339`
//! accepts ... except the Unicode minus sign in offsets", truncating to microseconds as
//! chrono's `timestamp_micros` does; docs/telemetry.md#ts adds integer epoch milliseconds
//! (no fraction, no exponent) within chrono's range. The window is [`WIDE_WINDOW`], so the
//! instant read is visible in the reading instead of being judged.

use chrono::DateTime;
use fleetd::ingest::decode::decode;
use fleetd::ingest::reading::{Decoded, Kind, RejectReason};

use crate::{NOW_US, WIDE_WINDOW};

/// Checks `s` as a `ts` string and, when it is an integer, as a `ts` number.
pub fn check(s: &str) {
    if !s.contains('\u{2212}') {
        let quoted = serde_json::to_string(s).expect("a str serializes");
        let expected = DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_micros());
        expect(&quoted, expected, s);
    }
    if let Ok(n) = s.parse::<i128>() {
        // JSON has no `+` and no leading zeros: write the number canonically.
        let expected = i64::try_from(n)
            .ok()
            .filter(|ms| DateTime::from_timestamp_millis(*ms).is_some())
            .map(|ms| ms * 1000);
        expect(&n.to_string(), expected, s);
    }
}

/// `{"ts":<ts_json>,"lat":0,"lon":0}` on a gps topic gives a reading at `expected`, or (None)
/// a `bad_timestamp` rejection.
fn expect(ts_json: &str, expected: Option<i64>, input: &str) {
    let payload = format!("{{\"ts\":{ts_json},\"lat\":0,\"lon\":0}}");
    let d = decode(Kind::Gps, payload.as_bytes(), NOW_US, &WIDE_WINDOW);
    let got = match &d {
        Decoded { gps, rejects, .. } if rejects.is_empty() && gps.len() == 1 => Some(gps[0].ts),
        Decoded { gps, rejects, .. }
            if gps.is_empty()
                && rejects.len() == 1
                && rejects[0].reason == RejectReason::BadTimestamp =>
        {
            None
        }
        other => panic!("ts {input:?}: neither a reading nor bad_timestamp: {other:?}"),
    };
    assert_eq!(
        got, expected,
        "ts {input:?} read as {got:?}, chrono says {expected:?}"
    );
}
