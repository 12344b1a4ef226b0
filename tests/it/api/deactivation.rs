//! Customers and pricing plans are renamed and deactivated, never deleted: a deactivated
//! plan quotes and reserves nothing new while its rentals run on at its unchanged terms; a
//! deactivated customer reserves nothing new; only staff (plans: admins) change them.

use serde_json::json;

use crate::common::api::{customer, plan, reserve_body, standard_plan, vehicle, Api};
use crate::common::errors::is;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_plans_and_customers_book_nothing_new() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "deact-1", 1).await;
    vehicle(a, "deact-2", 2).await;
    let p = plan(a, standard_plan()).await;
    let (cust_client, c) = customer(&api, "dora").await;
    let window = |d: i64| {
        let from = chrono::Utc::now() + chrono::Duration::days(d);
        (
            from.to_rfc3339(),
            (from + chrono::Duration::days(1)).to_rfc3339(),
        )
    };
    let (f, t) = window(3);
    let mut body = reserve_body("deact-1", &p, &f, &t, 10);
    body["customer_id"] = json!(c);
    let r = a.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rental = r.json()["id"].as_str().unwrap().to_string();

    // Plans: rename and deactivate; terms cannot change.
    let r = a
        .patch(
            &format!("/v1/pricing-plans/{p}"),
            json!({"name": "legacy", "active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "legacy");
    assert_eq!(r.json()["active"], false);
    assert_eq!(r.json()["daily_rate"], 5000);
    let r = a
        .patch(&format!("/v1/pricing-plans/{p}"), json!({"daily_rate": 1}))
        .await;
    is(&r, 422, "invalid_value", "terms never change");
    let (f2, t2) = window(10);
    let r = a
        .post(
            "/v1/rentals/quote",
            json!({"plan_id": p, "starts_at": f2, "ends_at": t2, "estimated_km": 0}),
        )
        .await;
    is(&r, 422, "invalid_value", "no quote on a deactivated plan");
    assert!(r.body.contains("plan_id"), "{}", r.body);
    let mut body = reserve_body("deact-2", &p, &f2, &t2, 10);
    body["customer_id"] = json!(c);
    let r = a.post("/v1/rentals", body).await;
    is(
        &r,
        422,
        "invalid_value",
        "no reservation on a deactivated plan",
    );
    // The existing rental runs on: cancelling it applies the plan's rule as before.
    let r = a
        .post(&format!("/v1/rentals/{rental}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a
        .patch(&format!("/v1/pricing-plans/{p}"), json!({"active": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Customers: update and deactivate.
    let r = a
        .patch(
            &format!("/v1/customers/{c}"),
            json!({"name": "Dora B.", "email": "dora@b.example", "active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["email"], "dora@b.example");
    assert_eq!(r.json()["active"], false);
    let mut body = reserve_body("deact-2", &p, &f2, &t2, 10);
    body["customer_id"] = json!(c);
    let r = a.post("/v1/rentals", body.clone()).await;
    is(
        &r,
        422,
        "invalid_value",
        "staff reserving for a deactivated customer",
    );
    assert!(r.body.contains("customer_id"), "{}", r.body);
    let r = cust_client
        .post("/v1/rentals", reserve_body("deact-2", &p, &f2, &t2, 10))
        .await;
    is(&r, 403, "forbidden", "a deactivated customer reserving");
    let r = cust_client.get(&format!("/v1/customers/{c}")).await;
    assert_eq!(r.status, 200, "they still see their profile: {}", r.body);
    let r = a
        .patch(&format!("/v1/customers/{c}"), json!({"active": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "active again: {}", r.body);

    // Who may, and hostile input.
    let (dispatcher, _) = a.user("disp", "dispatcher").await;
    let r = dispatcher
        .patch(&format!("/v1/pricing-plans/{p}"), json!({"active": false}))
        .await;
    is(&r, 403, "forbidden", "plans are the admin's");
    let r = dispatcher
        .patch(&format!("/v1/customers/{c}"), json!({"name": "x"}))
        .await;
    assert_eq!(r.status, 200, "staff update customers: {}", r.body);
    let r = cust_client
        .patch(&format!("/v1/customers/{c}"), json!({"active": true}))
        .await;
    is(&r, 403, "forbidden", "a customer changes no customer");
    for (path, body, status, code) in [
        (
            format!("/v1/customers/{c}"),
            json!({"email": "no-at-sign"}),
            422,
            "invalid_value",
        ),
        (
            format!("/v1/customers/{c}"),
            json!({"name": "a\u{0}b"}),
            422,
            "invalid_value",
        ),
        (
            format!("/v1/customers/{c}"),
            json!({"name": "x".repeat(201)}),
            422,
            "invalid_value",
        ),
        (
            format!("/v1/customers/{c}"),
            json!({"active": "no"}),
            422,
            "invalid_value",
        ),
        (
            format!("/v1/customers/{c}"),
            json!({"user_id": null}),
            422,
            "invalid_value",
        ),
        (
            "/v1/customers/not-a-uuid".to_string(),
            json!({"name": "x"}),
            404,
            "not_found",
        ),
        (
            format!("/v1/customers/{}", uuid::Uuid::new_v4()),
            json!({"name": "x"}),
            404,
            "not_found",
        ),
        (
            format!("/v1/pricing-plans/{p}"),
            json!({"name": ""}),
            422,
            "invalid_value",
        ),
        (
            format!("/v1/pricing-plans/{p}"),
            json!({"currency": "USD"}),
            422,
            "invalid_value",
        ),
        (
            format!("/v1/pricing-plans/{}", uuid::Uuid::new_v4()),
            json!({"active": true}),
            404,
            "not_found",
        ),
    ] {
        let r = a.patch(&path, body.clone()).await;
        is(&r, status, code, &format!("PATCH {path} {body}"));
    }
}
