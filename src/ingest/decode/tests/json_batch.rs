//! Decoder unit tests: JSON, batches.

use super::*;

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
