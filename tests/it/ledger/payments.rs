//! Payment states and refunds through the API, each posted to the ledger: pending, captured
//! and failed payments, partial and full refunds, overpayment, hostile amounts and
//! currencies, 50 concurrent refunds of one payment, and maintenance costs.

use serde_json::{json, Value};

use super::{balance, count, RECEIVABLE, UNBALANCED};
use crate::common::api::{
    customer, hours_from_now, plan, reserve_body, standard_plan, vehicle, Api, Client,
};
use crate::common::errors::{each_invalid, expect_status, is};

/// A reserved rental of two days on the standard plan: 10,000 EUR charged. Its id and its
/// customer's receivable account.
async fn rental(api: &Api, vehicle_id: &str, n: u32) -> (String, String) {
    let a = &api.admin;
    vehicle(a, vehicle_id, n).await;
    let p = plan(a, standard_plan()).await;
    let (_, cust) = customer(api, &format!("cust-{n}")).await;
    let mut body = reserve_body(
        vehicle_id,
        &p,
        &hours_from_now(100),
        &hours_from_now(148),
        0,
    );
    body["customer_id"] = json!(cust);
    let r = a.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["total_charged"], 10_000);
    (
        r.json()["id"].as_str().unwrap().to_string(),
        format!("receivable:customer:{cust}"),
    )
}

fn pay(amount: Value, method: &str, status: Option<&str>) -> Value {
    let mut p = json!({"amount": amount, "currency": "EUR", "method": method});
    if let Some(s) = status {
        p["status"] = json!(s);
    }
    p
}

async fn created(c: &Client, path: &str, body: Value) -> Value {
    let r = c.post(path, body).await;
    assert_eq!(r.status, 201, "{path}: {}", r.body);
    r.json()
}

async fn receivable(api: &Api, rental: &str) -> i64 {
    let db = api.db.client().await;
    let id: uuid::Uuid = rental.parse().unwrap();
    db.query_one(RECEIVABLE, &[&id]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_move_through_their_states_and_post_each_capture() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    let (id, owed) = rental(&api, "v-1", 1).await;
    let payments = format!("/v1/rentals/{id}/payments");
    assert_eq!(balance(&db, &owed).await, 10_000);
    assert_eq!(balance(&db, "revenue:base").await, -10_000);

    // Captured at once, as before states existed.
    let p1 = created(a, &payments, pay(json!(3_000), "card", None)).await;
    assert_eq!(
        (p1["status"].as_str(), p1["captured_at"].is_string()),
        (Some("captured"), true)
    );
    assert_eq!(balance(&db, "bank").await, 3_000);
    // Pending: nothing moves until it is captured.
    let p2 = created(a, &payments, pay(json!(2_000), "cash", Some("pending"))).await;
    assert_eq!(
        (p2["status"].as_str(), &p2["captured_at"]),
        (Some("pending"), &Value::Null)
    );
    assert_eq!(balance(&db, "cash").await, 0);
    let r = a.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(
        (r["total_paid"].as_i64(), r["balance"].as_i64()),
        (Some(3_000), Some(7_000))
    );
    let p2_id = p2["id"].as_str().unwrap();
    let r = a
        .post(&format!("{payments}/{p2_id}/capture"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("captured")),
        "{}",
        r.body
    );
    assert_eq!(balance(&db, "cash").await, 2_000);
    // No second capture, no failing a captured payment.
    expect_status!(a, "POST" format!("{payments}/{p2_id}/capture"), json!({}) => 409 "illegal_transition");
    expect_status!(a, "POST" format!("{payments}/{p2_id}/fail"), json!({}) => 409 "illegal_transition");
    // A failed payment posts nothing and cannot be captured or refunded.
    let p3 = created(a, &payments, pay(json!(1_000), "transfer", Some("pending"))).await;
    let p3_id = p3["id"].as_str().unwrap();
    let r = a.post(&format!("{payments}/{p3_id}/fail"), json!({})).await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("failed")),
        "{}",
        r.body
    );
    expect_status!(a, "POST" format!("{payments}/{p3_id}/capture"), json!({}) => 409 "illegal_transition");
    expect_status!(a, "POST" format!("{payments}/{p3_id}/refunds"), json!({"amount": 1}) => 409 "illegal_transition");
    assert_eq!(balance(&db, "bank").await, 3_000);
    // Unknown payments, another rental's payment, and ids that are not ids: 404.
    let (other, _) = rental(&api, "v-2", 2).await;
    for path in [
        format!("/v1/rentals/{other}/payments/{p2_id}/capture"),
        format!("/v1/rentals/{other}/payments/{p2_id}/refunds"),
        format!("{payments}/00000000-0000-4000-8000-000000000000/fail"),
        format!("{payments}/nope/capture"),
    ] {
        let r = a.post(&path, json!({"amount": 1})).await;
        is(&r, 404, "not_found", &path);
    }

    // Refunds: partial, then the rest; the payment becomes refunded; no more after that.
    let p1_id = p1["id"].as_str().unwrap();
    let refunds = format!("{payments}/{p1_id}/refunds");
    let r1 = created(
        a,
        &refunds,
        json!({"amount": 1_000, "reason": "scratch found"}),
    )
    .await;
    assert_eq!(
        (r1["amount"].as_i64(), r1["currency"].as_str()),
        (Some(1_000), Some("EUR"))
    );
    expect_status!(a, "POST" refunds.clone(), json!({"amount": 2_001}) => 409 "refund_exceeds_captured");
    created(a, &refunds, json!({"amount": 2_000, "currency": "EUR"})).await;
    expect_status!(a, "POST" refunds.clone(), json!({"amount": 1}) => 409 "refund_exceeds_captured");
    let r = a.get(&format!("/v1/rentals/{id}")).await.json();
    let shown = &r["payments"][0];
    assert_eq!(
        (shown["status"].as_str(), shown["refunded"].as_i64()),
        (Some("refunded"), Some(3_000))
    );
    assert_eq!(shown["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(shown["refunds"][0]["reason"], "scratch found");
    assert_eq!(r["payments"][2]["status"], "failed");
    // Charged 10,000; 3,000 + 2,000 captured, 3,000 refunded.
    assert_eq!(
        (
            r["total_paid"].as_i64(),
            r["total_refunded"].as_i64(),
            r["balance"].as_i64()
        ),
        (Some(2_000), Some(3_000), Some(8_000))
    );
    assert_eq!(receivable(&api, &id).await, 8_000);
    assert_eq!(balance(&db, "bank").await, 0);

    // Overpayment is refused, at once or at capture; exactly the balance is fine.
    expect_status!(a, "POST" payments.clone(), pay(json!(8_001), "card", None) => 409 "overpayment");
    let late = created(a, &payments, pay(json!(8_000), "card", Some("pending"))).await;
    created(a, &payments, pay(json!(1), "cash", None)).await;
    let late_id = late["id"].as_str().unwrap();
    expect_status!(a, "POST" format!("{payments}/{late_id}/capture"), json!({}) => 409 "overpayment");
    created(a, &payments, pay(json!(7_999), "card", None)).await;
    let r = a.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(r["balance"], 0);
    assert_eq!(receivable(&api, &id).await, 0);

    // Cancelling after paying leaves the customer in credit, which a refund pays back.
    let r = a.post(&format!("/v1/rentals/{id}/cancel"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let credit = r.json()["balance"].as_i64().unwrap();
    assert!(credit < 0, "{}", r.body);
    assert_eq!(receivable(&api, &id).await, credit);

    // Events: one payment.captured per capture, one refund.issued per refund.
    let events = |t: &str| {
        format!("SELECT count(*) FROM (SELECT type FROM event_outbox UNION ALL SELECT type FROM events) e WHERE type = '{t}'")
    };
    assert_eq!(count(&db, &events("payment.captured")).await, 4);
    assert_eq!(count(&db, &events("payment.failed")).await, 1);
    assert_eq!(count(&db, &events("refund.issued")).await, 2);
    assert_eq!(count(&db, &events("rental.payment_recorded")).await, 6);
    assert_eq!(count(&db, UNBALANCED).await, 0);
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_amounts_and_currencies_are_refused() {
    let api = Api::start().await;
    let a = &api.admin;
    let (id, _) = rental(&api, "v-1", 1).await;
    let payments = format!("/v1/rentals/{id}/payments");
    let p = created(a, &payments, pay(json!(5_000), "card", None)).await;
    let refunds = format!("{payments}/{}/refunds", p["id"].as_str().unwrap());
    let hostile = [
        json!(0),
        json!(-1),
        json!(-5_000),
        json!(1_000_000_000_001_i64),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(9_223_372_036_854_775_808_u64),
        json!(1e30),
        json!(12.5),
        json!("100"),
        Value::Null,
    ];
    let mut cases: Vec<(&str, Value)> = hostile.iter().map(|v| ("amount", v.clone())).collect();
    cases.extend([
        ("currency", json!("USD")),
        ("currency", json!("eur")),
        ("currency", json!("EURO")),
        ("status", json!("refunded")),
        ("status", json!("failed")),
    ]);
    each_invalid(a, "POST", &payments, pay(json!(100), "card", None), &cases).await;
    let mut cases: Vec<(&str, Value)> = hostile.iter().map(|v| ("amount", v.clone())).collect();
    cases.extend([
        ("currency", json!("USD")),
        ("currency", json!("e")),
        ("reason", json!(" ")),
        ("reason", json!("r".repeat(501))),
        ("-amount", Value::Null),
        ("note", json!("x")),
    ]);
    each_invalid(a, "POST", &refunds, json!({"amount": 100}), &cases).await;
    // Nothing moved.
    let db = api.db.client().await;
    assert_eq!(balance(&db, "bank").await, 5_000);
    assert_eq!(count(&db, "SELECT count(*) FROM rental_refunds").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM rental_payments").await, 1);
    // The document names the new codes where they can happen.
    let doc = api.anonymous().get("/openapi.json").await.json();
    let codes = |path: &str| doc["paths"][path]["post"]["responses"]["409"].to_string();
    assert!(codes("/v1/rentals/{id}/payments").contains("overpayment"));
    assert!(codes("/v1/rentals/{id}/payments/{payment_id}/capture").contains("overpayment"));
    assert!(
        codes("/v1/rentals/{id}/payments/{payment_id}/refunds").contains("refund_exceeds_captured")
    );
    assert!(!codes("/v1/rentals").contains("overpayment"));
    api.daemon.shutdown().await;
}

/// 50 refunds of 100 at once against a payment of 2,000: exactly 20 succeed, the rest are
/// refused, and the books agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_refunds_never_exceed_the_capture() {
    let api = Api::start().await;
    let a = &api.admin;
    let (id, owed) = rental(&api, "v-1", 1).await;
    let payments = format!("/v1/rentals/{id}/payments");
    let p = created(a, &payments, pay(json!(2_000), "card", None)).await;
    let refunds = format!("{payments}/{}/refunds", p["id"].as_str().unwrap());
    let all = futures_util::future::join_all(
        (0..50).map(|_| a.post(&refunds, json!({"amount": 100, "reason": "race"}))),
    )
    .await;
    let ok = all.iter().filter(|r| r.status == 201).count();
    for r in all.iter().filter(|r| r.status != 201) {
        is(
            r,
            409,
            "refund_exceeds_captured",
            "a refund over the capture",
        );
    }
    assert_eq!(ok, 20);
    let db = api.db.client().await;
    let refunded: i64 = db
        .query_one("SELECT sum(amount)::bigint FROM rental_refunds", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(refunded, 2_000);
    let r = a.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(r["payments"][0]["status"], "refunded");
    assert_eq!(r["payments"][0]["refunds"].as_array().unwrap().len(), 20);
    assert_eq!(balance(&db, "bank").await, 0);
    assert_eq!(balance(&db, &owed).await, 10_000);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM journal_entries WHERE event_key LIKE 'refund.issued:%'"
        )
        .await,
        20
    );
    assert_eq!(count(&db, UNBALANCED).await, 0);
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_maintenance_posts_labour_and_parts_per_vehicle() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "truck-7", 7).await;
    let job = created(
        a,
        "/v1/maintenance",
        json!({"vehicle_id": "truck-7", "description": "brake pads",
               "starts_at": hours_from_now(-1), "ends_at": hours_from_now(2)}),
    )
    .await;
    let job = job["id"].as_str().unwrap();
    let r = a
        .post(&format!("/v1/maintenance/{job}/start"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = json!({"labour_cost": 12_000, "currency": "EUR",
                      "parts": [{"part_name": "brake pad", "quantity": 4, "unit_cost": 2_500},
                                {"part_name": "fluid", "quantity": 1, "unit_cost": 900}]});
    let r = a
        .post(&format!("/v1/maintenance/{job}/complete"), body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let db = api.db.client().await;
    assert_eq!(
        balance(&db, "expense:maintenance:labour:truck-7").await,
        12_000
    );
    assert_eq!(
        balance(&db, "expense:maintenance:parts:truck-7").await,
        10_900
    );
    assert_eq!(balance(&db, "payable:maintenance").await, -22_900);
    let key = format!("maintenance.completed:{job}");
    assert_eq!(super::entries_with_key(&db, &key).await, 1);
    api.daemon.shutdown().await;
}
