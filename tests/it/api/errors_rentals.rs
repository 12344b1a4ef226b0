//! Every error status of the rental-side routes (pricing plans, rentals and their flow,
//! availability, maintenance and its flow): 400 malformed JSON, 403 where the code answers
//! it, 404 unknown ids and other customers' rentals, 409 overlaps and illegal transitions,
//! 413 bodies over the limit, 422 invalid values, unknown fields and bad pagination. Each
//! case checks the status and the envelope's code.

use crate::common::errors::*;

use crate::common::api::{customer, plan, reserve_body, standard_plan, vehicle, Api};
use serde_json::{json, Value};

const T0: &str = "2030-01-01T00:00:00Z";
const T1: &str = "2030-01-05T00:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pricing_quote_reserve_and_lists_errors() {
    let api = Api::start().await;
    let a = &api.admin;
    // POST /v1/pricing-plans
    body_errors(a, "POST", "/v1/pricing-plans").await;
    let cases = [
        ("name", json!(" ")),
        ("currency", json!("eur")),
        ("currency", json!("EURO")),
        ("daily_rate", json!(-1)),
        ("daily_rate", json!(1_000_000_000_001_i64)),
        ("extra_km_rate", json!(1.5)),
        ("late_fee_per_hour", json!(-1)),
        ("included_km_per_day", json!(100_001)),
        ("free_cancellation_hours", json!(24 * 365 + 1)),
        ("cancellation_fee_pct", json!(101)),
        ("cancellation_fee_pct", json!(-1)),
        ("-daily_rate", Value::Null),
        ("discount", json!(5)),
    ];
    each_invalid(a, "POST", "/v1/pricing-plans", standard_plan(), &cases).await;
    let p = plan(a, standard_plan()).await;
    // GET /v1/pricing-plans, /v1/pricing-plans/{id}
    list_errors(a, "/v1/pricing-plans", true).await;
    unknown_ids(a, "GET", "/v1/pricing-plans", "", None).await;

    vehicle(a, "car-1", 1).await;
    vehicle(a, "car-2", 2).await;
    let (alice, alice_id) = customer(&api, "alice").await;
    let (bob, bob_id) = customer(&api, "bob").await;
    let (nobody, _) = a.user("nobody", "customer").await;
    // POST /v1/rentals/quote
    body_errors(&alice, "POST", "/v1/rentals/quote").await;
    let quote = json!({"plan_id": p, "starts_at": T0, "ends_at": T1, "estimated_km": 100});
    assert_eq!(
        alice.post("/v1/rentals/quote", quote.clone()).await.status,
        200
    );
    let cases = [
        ("plan_id", json!(UNKNOWN_UUID)),
        ("plan_id", json!("nope")),
        ("ends_at", json!(T0)),
        ("ends_at", json!("2031-06-01T00:00:00Z")),
        ("starts_at", json!("soon")),
        ("estimated_km", json!(-1)),
        ("estimated_km", json!(10_000_001)),
        ("-estimated_km", Value::Null),
        ("vehicle_id", json!("car-1")),
    ];
    each_invalid(&alice, "POST", "/v1/rentals/quote", quote, &cases).await;
    // POST /v1/rentals
    body_errors(a, "POST", "/v1/rentals").await;
    let staff = with(
        reserve_body("car-1", &p, T0, T1, 100),
        "customer_id",
        json!(alice_id),
    );
    let cases = [
        ("-customer_id", Value::Null),
        ("customer_id", json!(UNKNOWN_UUID)),
        ("plan_id", json!(UNKNOWN_UUID)),
        ("vehicle_id", json!("ghost")),
        ("vehicle_id", json!("has space")),
        ("ends_at", json!(T0)),
        ("estimated_km", json!(-5)),
        ("paid", json!(true)),
    ];
    each_invalid(a, "POST", "/v1/rentals", staff, &cases).await;
    let mine = reserve_body("car-1", &p, T0, T1, 100);
    expect_status!(nobody, "POST" "/v1/rentals", mine.clone() => 403 "forbidden");
    expect_status!(alice, "POST" "/v1/rentals", with(mine.clone(), "customer_id", json!(bob_id)) => 403 "forbidden");
    let r = alice.post("/v1/rentals", mine).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let alice_rental = r.json()["id"].as_str().unwrap().to_string();
    let later = reserve_body(
        "car-1",
        &p,
        "2030-01-04T00:00:00Z",
        "2030-01-06T00:00:00Z",
        1,
    );
    expect_status!(bob, "POST" "/v1/rentals", later => 409 "overlap");
    let r = a
        .post(
            "/v1/vehicles/car-2/status",
            json!({"status": "decommissioned"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect_status!(bob, "POST" "/v1/rentals", reserve_body("car-2", &p, T0, T1, 1) => 409 "vehicle_decommissioned");
    // GET /v1/rentals, /v1/rentals/{id}
    list_errors(a, "/v1/rentals", true).await;
    list_errors(&bob, "/v1/rentals", true).await;
    expect_status!(a, GET "/v1/rentals?customer_id=nope" => 422 "invalid_value");
    unknown_ids(a, "GET", "/v1/rentals", "", None).await;
    expect_status!(bob, GET format!("/v1/rentals/{alice_rental}") => 404 "not_found");
    // GET /v1/availability
    let avail = |from: &str, to: &str| format!("/v1/availability?from={from}&to={to}");
    for path in [
        "/v1/availability".to_string(),
        format!("/v1/availability?from={T0}"),
        avail("x", T1),
        avail(T1, T0),
        avail(T0, T0),
        avail(T0, "2031-06-01T00:00:00Z"),
        format!("{}&min_seats=x", avail(T0, T1)),
    ] {
        expect_status!(alice, GET path => 422 "invalid_value");
    }
    list_errors(&alice, &avail(T0, T1), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rental_flow_errors() {
    let api = Api::start().await;
    let a = &api.admin;
    let p = plan(a, standard_plan()).await;
    vehicle(a, "car-1", 1).await;
    let (alice, alice_id) = customer(&api, "alice").await;
    let (bob, _) = customer(&api, "bob").await;
    let body = with(
        reserve_body("car-1", &p, T0, T1, 100),
        "customer_id",
        json!(alice_id),
    );
    let r = a.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rid = r.json()["id"].as_str().unwrap().to_string();
    let path = |action: &str| format!("/v1/rentals/{rid}/{action}");
    let odo = |km: i64| json!({"odometer_km": km});
    // POST /v1/rentals/{id}/activate
    body_errors(a, "POST", &path("activate")).await;
    let cases = [
        ("odometer_km", json!(-1)),
        ("odometer_km", json!(100_000_001)),
        ("-odometer_km", Value::Null),
        ("fuel", json!("full")),
    ];
    each_invalid(a, "POST", &path("activate"), odo(1), &cases).await;
    unknown_ids(a, "POST", "/v1/rentals", "/activate", Some(odo(1))).await;
    // POST /v1/rentals/{id}/complete while reserved: 409.
    expect_status!(a, "POST" path("complete"), odo(10) => 409 "illegal_transition");
    let r = a
        .post("/v1/vehicles/car-1/odometer", json!({"reading_km": 1000}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The vehicle is under maintenance: the rental cannot go out (409), and rolls back.
    let st = |s: &str| json!({"status": s});
    let r = a
        .post("/v1/vehicles/car-1/status", st("under_maintenance"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect_status!(a, "POST" path("activate"), odo(1000) => 409 "illegal_transition");
    let r = a.post("/v1/vehicles/car-1/status", st("active")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Below the vehicle's reading: 422 naming the body's field (the database's trigger
    // refuses it), and the activation rolls back.
    let r = a.post(&path("activate"), odo(999)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "invalid_value"),
        "{}",
        r.body
    );
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("odometer_km: "), "{message}");
    let r = a.post(&path("activate"), odo(1000)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect_status!(a, "POST" path("activate"), odo(1000) => 409 "illegal_transition");
    // POST /v1/rentals/{id}/cancel
    expect_status!(alice, "POST" path("cancel"), json!({}) => 409 "illegal_transition");
    unknown_ids(a, "POST", "/v1/rentals", "/cancel", Some(json!({}))).await;
    expect_status!(bob, "POST" path("cancel"), json!({}) => 404 "not_found");
    // POST /v1/rentals/{id}/complete
    body_errors(a, "POST", &path("complete")).await;
    let cases = [
        ("odometer_km", json!(999)),
        ("odometer_km", json!(-1)),
        ("returned_at", json!("2099-01-01T00:00:00Z")),
        ("returned_at", json!("2020-01-01T00:00:00Z")),
        ("returned_at", json!("later")),
        ("damage", json!(true)),
    ];
    each_invalid(a, "POST", &path("complete"), odo(1100), &cases).await;
    unknown_ids(a, "POST", "/v1/rentals", "/complete", Some(odo(1))).await;
    // POST /v1/rentals/{id}/payments
    body_errors(a, "POST", &path("payments")).await;
    let pay = json!({"amount": 100, "currency": "EUR", "method": "card"});
    let cases = [
        ("amount", json!(0)),
        ("amount", json!(-100)),
        ("amount", json!(1_000_000_000_001_i64)),
        ("currency", json!("USD")),
        ("currency", json!("eur")),
        ("method", json!("bitcoin")),
        ("-method", Value::Null),
        ("note", json!("x")),
    ];
    each_invalid(a, "POST", &path("payments"), pay.clone(), &cases).await;
    unknown_ids(a, "POST", "/v1/rentals", "/payments", Some(pay.clone())).await;
    let r = a.post(&path("payments"), pay).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Completed: no further transition (cancel reads no body).
    let r = a.post(&path("complete"), odo(1100)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for action in ["activate", "complete", "cancel"] {
        expect_status!(a, "POST" path(action), odo(1200) => 409 "illegal_transition");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_errors() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    vehicle(a, "v2", 2).await;
    let job = |v: &str, from: &str, to: &str| json!({"vehicle_id": v, "description": "brakes", "starts_at": from, "ends_at": to});
    // POST /v1/maintenance
    body_errors(a, "POST", "/v1/maintenance").await;
    let cases = [
        ("vehicle_id", json!("ghost")),
        ("vehicle_id", json!("has space")),
        ("ends_at", json!("2029-12-31T00:00:00Z")),
        ("ends_at", json!("2030-06-01T00:00:00Z")),
        ("starts_at", json!("soon")),
        ("description", json!(" ")),
        ("description", json!("d".repeat(2001))),
        ("-description", Value::Null),
        ("priority", json!(1)),
    ];
    each_invalid(a, "POST", "/v1/maintenance", job("v1", T0, T1), &cases).await;
    let r = a.post("/v1/maintenance", job("v1", T0, T1)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let j1 = r.json()["id"].as_str().unwrap().to_string();
    expect_status!(a, "POST" "/v1/maintenance", job("v1", "2030-01-04T00:00:00Z", "2030-01-09T00:00:00Z") => 409 "overlap");
    let r = a
        .post(
            "/v1/vehicles/v2/status",
            json!({"status": "decommissioned"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect_status!(a, "POST" "/v1/maintenance", job("v2", T0, T1) => 409 "vehicle_decommissioned");
    // GET /v1/maintenance, /v1/maintenance/overdue, /v1/maintenance/{id}
    list_errors(a, "/v1/maintenance", true).await;
    list_errors(a, "/v1/maintenance/overdue", true).await;
    expect_status!(a, GET "/v1/maintenance?overdue=maybe" => 422 "invalid_value");
    unknown_ids(a, "GET", "/v1/maintenance", "", None).await;
    // POST /v1/maintenance/{id}/complete while scheduled: 409.
    let path = |action: &str| format!("/v1/maintenance/{j1}/{action}");
    let done = json!({"labour_cost": 100, "currency": "EUR"});
    expect_status!(a, "POST" path("complete"), done.clone() => 409 "illegal_transition");
    // POST /v1/maintenance/{id}/start
    unknown_ids(a, "POST", "/v1/maintenance", "/start", Some(json!({}))).await;
    // The vehicle is out (rented; only the rental flow sets that, so SQL stands in for a
    // rental here): the job cannot start (409), and rolls back.
    let sql = api.db.client().await;
    let set = |s: &'static str| format!("UPDATE vehicles SET status = '{s}' WHERE id = 'v1'");
    sql.batch_execute(&set("rented")).await.unwrap();
    expect_status!(a, "POST" path("start"), json!({}) => 409 "illegal_transition");
    sql.batch_execute(&set("active")).await.unwrap();
    let r = a.post(&path("start"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect_status!(a, "POST" path("start"), json!({}) => 409 "illegal_transition");
    // POST /v1/maintenance/{id}/cancel
    expect_status!(a, "POST" path("cancel"), json!({}) => 409 "illegal_transition");
    unknown_ids(a, "POST", "/v1/maintenance", "/cancel", Some(json!({}))).await;
    // POST /v1/maintenance/{id}/complete
    body_errors(a, "POST", &path("complete")).await;
    let part = |name: &str, qty: i64, cost: i64| json!({"part_name": name, "quantity": qty, "unit_cost": cost});
    let many: Vec<Value> = (0..201).map(|_| part("bolt", 1, 1)).collect();
    let mut sku = part("pad", 1, 1);
    sku["sku"] = json!("x");
    let cases = [
        ("labour_cost", json!(-1)),
        ("currency", json!("euro")),
        ("-labour_cost", Value::Null),
        ("parts", json!([part(" ", 1, 1)])),
        ("parts", json!([part("pad", 0, 1)])),
        ("parts", json!([part("pad", 10_001, 1)])),
        ("parts", json!([part("pad", 1, -1)])),
        ("parts", json!([sku])),
        ("parts", json!(many)),
        ("notes", json!("x")),
    ];
    each_invalid(a, "POST", &path("complete"), done.clone(), &cases).await;
    unknown_ids(
        a,
        "POST",
        "/v1/maintenance",
        "/complete",
        Some(done.clone()),
    )
    .await;
    let r = a
        .post(
            &path("complete"),
            with(done.clone(), "parts", json!([part("pad", 2, 50)])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A list page carries each job exactly as its own read does (parts fetched per page).
    let r = a
        .post(
            "/v1/maintenance",
            job("v1", "2030-02-01T00:00:00Z", "2030-02-03T00:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let listed = a.get("/v1/maintenance").await.json();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    for item in items {
        let id = item["id"].as_str().unwrap();
        assert_eq!(item, &a.get(&format!("/v1/maintenance/{id}")).await.json());
    }
    let first = items.iter().find(|j| j["id"] == json!(j1)).unwrap();
    assert_eq!(first["parts"], json!([part("pad", 2, 50)]));
    assert_eq!(first["total_cost"], 200);
    // Completed: no further transition (start and cancel read no body).
    for action in ["start", "complete", "cancel"] {
        expect_status!(a, "POST" path(action), done.clone() => 409 "illegal_transition");
    }
}

/// An invalid query value is 422: the `status` filters of rentals and maintenance refuse an
/// unknown status (`invalid_value`), as `GET /v1/vehicles?status=flying` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_status_filters_are_422() {
    let api = Api::start().await;
    let a = &api.admin;
    for path in [
        "/v1/rentals?status=flying",
        "/v1/maintenance?status=flying",
        "/v1/maintenance/overdue?status=flying",
    ] {
        expect_status!(a, GET path => 422 "invalid_value");
    }
}
