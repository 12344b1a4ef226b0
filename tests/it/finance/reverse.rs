//! `POST /v1/ledger/entries/{id}/reverse`: a correcting entry, once per entry, posted in the
//! open period even for an entry of a closed month.

use serde_json::json;

use super::{month_back, post_at};
use crate::common::api::{alice_reserves, raw, Api};
use crate::common::errors::expect_status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_is_reversed_once_into_the_open_period() {
    let api = Api::start().await;
    let a = &api.admin;
    let (alice, _, rental) = alice_reserves(&api).await;
    let entries = a.get("/v1/ledger/entries").await.json();
    let entry = &entries["items"][0];
    let id = entry["id"].as_i64().unwrap();

    // Without a body: the lines flipped, linked, under its own business event.
    let r = a
        .send(
            "POST",
            &format!("/v1/ledger/entries/{id}/reverse"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rev = r.json();
    assert_eq!(rev["reverses"], id);
    assert_eq!(rev["event_key"], format!("journal_entry.reversed:{id}"));
    assert_eq!(rev["memo"], format!("reversal of entry {id}"));
    assert_eq!(rev["rental_id"], rental.as_str());
    let flipped: Vec<(String, i64)> = entry["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["account"].as_str().unwrap().to_string(),
                -l["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut got: Vec<(String, i64)> = rev["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["account"].as_str().unwrap().to_string(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let mut want = flipped;
    want.sort();
    assert_eq!(got, want);
    // Once.
    let r = a
        .post(
            &format!("/v1/ledger/entries/{id}/reverse"),
            json!({"memo": "again"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "already_reversed".into()),
        "{}",
        r.body
    );
    assert_eq!(r.json()["error"]["reversed_by"], rev["id"]);
    // The reversal itself can be reversed (a correction of the correction), with a memo.
    let rid = rev["id"].as_i64().unwrap();
    let r = a
        .post(
            &format!("/v1/ledger/entries/{rid}/reverse"),
            json!({"memo": "typo"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["memo"], "typo");

    // An Idempotency-Key replays the first answer.
    let (m1, m1_at) = month_back(1);
    let mut db = api.db.client().await;
    let old = post_at(
        &mut db,
        "t.old:1",
        m1_at + chrono::Duration::days(2),
        None,
        &[("cash", 40), ("revenue:late_fee", -40)],
    )
    .await
    .unwrap();
    let r = a
        .post(&format!("/v1/ledger/periods/{m1}/close"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = a
        .post_key(
            &format!("/v1/ledger/entries/{old}/reverse"),
            json!({}),
            "rev-1",
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let replay = a
        .post_key(
            &format!("/v1/ledger/entries/{old}/reverse"),
            json!({}),
            "rev-1",
        )
        .await;
    assert_eq!(
        (replay.status, replay.body.as_str()),
        (201, first.body.as_str())
    );
    // The entry was in a closed month; its reversal is posted now, in the open one.
    let posted: chrono::DateTime<chrono::Utc> =
        first.json()["posted_at"].as_str().unwrap().parse().unwrap();
    assert!(posted >= month_back(0).1, "{posted}");

    // Hostile input.
    for bad in ["999999", "0", "-1", "abc", "1.5", "99999999999999999999"] {
        expect_status!(a, "POST" format!("/v1/ledger/entries/{bad}/reverse"), json!({}) => 404 "not_found");
    }
    let long = "x".repeat(501);
    for body in [
        json!({"memo": long}),
        json!({"memo": "a\u{0}b"}),
        json!({"evil": 1}),
        json!({"memo": 5}),
        json!([]),
    ] {
        let r = a
            .post(&format!("/v1/ledger/entries/{rid}/reverse"), body.clone())
            .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "invalid_value".into()),
            "{body}: {}",
            r.body
        );
    }
    let auth = format!("Bearer {}", a.token.as_deref().unwrap());
    let r = raw(
        a.addr,
        "POST",
        &format!("/v1/ledger/entries/{rid}/reverse"),
        &[("Authorization", &auth)],
        b"{\"memo\":".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    expect_status!(alice, "POST" format!("/v1/ledger/entries/{rid}/reverse"), json!({}) => 403 "forbidden");
    api.daemon.shutdown().await;
}
