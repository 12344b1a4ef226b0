//! Every error status of the registry routes (users, vehicles, drivers, assignments,
//! customers): 400 malformed JSON, 404 unknown ids and other users' resources, 409
//! conflicts and illegal transitions, 413 bodies over the limit, 422 invalid values,
//! unknown fields and bad pagination. Each case checks the status and the envelope's code.

use crate::common::errors::*;

use crate::common::api::{assign_now, customer, driver, vehicle, vehicle_body, vin, Api};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_customers_errors() {
    let api = Api::start().await;
    let a = &api.admin;
    // POST /v1/users
    body_errors(a, "POST", "/v1/users").await;
    let user = json!({"username": "zed", "password": "password-123", "role": "driver"});
    let cases = [
        ("username", json!("bad name")),
        ("username", json!("")),
        ("username", json!("u".repeat(65))),
        ("password", json!("short")),
        ("role", json!("pilot")),
        ("-role", Value::Null),
        ("admin", json!(true)),
    ];
    each_invalid(a, "POST", "/v1/users", user.clone(), &cases).await;
    let (alice, alice_user) = a.user("alice", "customer").await;
    let (dave, dave_user) = a.user("dave", "driver").await;
    expect_status!(a, "POST" "/v1/users", with(user, "username", json!("alice")) => 409 "already_exists");
    // GET /v1/users, /v1/users/{id}, /v1/me
    list_errors(a, "/v1/users", true).await;
    unknown_ids(a, "GET", "/v1/users", "", None).await;
    expect_status!(alice, GET format!("/v1/users/{dave_user}") => 404 "not_found");
    let own = alice.get(&format!("/v1/users/{alice_user}")).await;
    assert_eq!(own.status, 200, "{}", own.body);
    let me = dave.get("/v1/me").await;
    assert_eq!(
        (me.status, me.json()["id"].as_str()),
        (200, Some(dave_user.as_str()))
    );

    // POST /v1/customers
    body_errors(a, "POST", "/v1/customers").await;
    let cust = json!({"name": "A", "email": "a@example.com"});
    let cases = [
        ("name", json!(" ")),
        ("name", json!("n".repeat(201))),
        ("email", json!("not-an-email")),
        ("email", json!("a b@example.com")),
        ("user_id", json!(dave_user)),
        ("user_id", json!(UNKNOWN_UUID)),
        ("user_id", json!("nope")),
        ("-email", Value::Null),
        ("vip", json!(true)),
    ];
    each_invalid(a, "POST", "/v1/customers", cust.clone(), &cases).await;
    let linked = with(cust, "user_id", json!(alice_user));
    let r = a.post("/v1/customers", linked.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let alice_customer = r.json()["id"].as_str().unwrap().to_string();
    expect_status!(a, "POST" "/v1/customers", linked => 409 "already_exists");
    let (bob, bob_customer) = customer(&api, "bob").await;
    // GET /v1/customers, /v1/customers/{id}
    list_errors(a, "/v1/customers", true).await;
    list_errors(&bob, "/v1/customers", true).await;
    unknown_ids(a, "GET", "/v1/customers", "", None).await;
    expect_status!(bob, GET format!("/v1/customers/{alice_customer}") => 404 "not_found");
    let own = bob.get(&format!("/v1/customers/{bob_customer}")).await;
    assert_eq!(own.status, 200, "{}", own.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicles_errors() {
    let api = Api::start().await;
    let a = &api.admin;
    // POST /v1/vehicles
    body_errors(a, "POST", "/v1/vehicles").await;
    let cases = [
        ("id", json!("has space")),
        ("id", json!("x".repeat(65))),
        ("plate", json!("")),
        ("plate", json!("P".repeat(21))),
        ("vin", json!("1M8GDM9A1KP042788")),
        ("vin", json!("short")),
        ("make", json!("\u{7}")),
        ("year", json!(1800)),
        ("year", json!("2020")),
        ("seats", json!(-1)),
        ("load_kg", json!(2_000_000)),
        ("specs", json!({"fuel": "\u{0}"})),
        ("specs", json!([1, 2])),
        ("-model", Value::Null),
        ("color", json!("red")),
    ];
    each_invalid(a, "POST", "/v1/vehicles", vehicle_body("v-bad", 90), &cases).await;
    vehicle(a, "v1", 1).await;
    vehicle(a, "v2", 2).await;
    // Extreme floats in specs: PostgreSQL's jsonb keeps them exactly (f64::MAX as a 309-digit
    // integer) and they read back as the same numbers, not as a 500.
    let extreme = json!({"max": -1.7976931348623157e308, "tiny": -5e-324, "small": 6.1e-5});
    let r = a.patch("/v1/vehicles/v2", json!({"specs": extreme})).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = a.get("/v1/vehicles/v2").await;
    assert_eq!((r.status, &r.json()["specs"]), (200, &extreme));
    expect_status!(a, "POST" "/v1/vehicles", vehicle_body("v1", 3) => 409 "already_exists");
    expect_status!(a, "POST" "/v1/vehicles", vehicle_body("v3", 1) => 409 "already_exists");
    // GET /v1/vehicles, /v1/vehicles/{id}
    list_errors(a, "/v1/vehicles", false).await;
    for bad in [
        "status=flying",
        "specs=nope",
        "specs=[1]",
        "min_seats=x",
        "min_load_kg=1.5",
        // PostgreSQL cannot store U+0000: 422, never 500.
        "type=a%00b",
        "specs=%7B%22a%22%3A%22%5Cu0000%22%7D",
    ] {
        expect_status!(a, GET format!("/v1/vehicles?{bad}") => 422 "invalid_value");
    }
    unknown_ids(a, "GET", "/v1/vehicles", "", None).await;
    // PATCH /v1/vehicles/{id}
    body_errors(a, "PATCH", "/v1/vehicles/v1").await;
    let cases = [
        ("status", json!("rented")),
        ("id", json!("v9")),
        ("year", json!(3000)),
        ("year", json!(1885)),
        ("seats", json!(-5)),
        ("load_kg", json!(1_000_001)),
        ("vin", json!("nope")),
        ("plate", json!(" ")),
        ("specs", json!("diesel")),
    ];
    each_invalid(a, "PATCH", "/v1/vehicles/v1", json!({}), &cases).await;
    expect_status!(a, "PATCH" "/v1/vehicles/v1", json!({"vin": vin(2)}) => 409 "already_exists");
    expect_status!(a, "PATCH" "/v1/vehicles/v1", json!({"plate": "PL-2"}) => 409 "already_exists");
    unknown_ids(a, "PATCH", "/v1/vehicles", "", Some(json!({}))).await;
    // POST /v1/vehicles/{id}/status
    body_errors(a, "POST", "/v1/vehicles/v1/status").await;
    let cases = [
        ("status", json!("flying")),
        ("why", json!(1)),
        ("-status", Value::Null),
    ];
    each_invalid(
        a,
        "POST",
        "/v1/vehicles/v1/status",
        json!({"status": "active"}),
        &cases,
    )
    .await;
    expect_status!(a, "POST" "/v1/vehicles/v1/status", json!({"status": "active"}) => 409 "illegal_transition");
    expect_status!(a, "POST" "/v1/vehicles/v1/status", json!({"status": "rented"}) => 409 "illegal_transition");
    for id in ["nope", "ghost"] {
        for to in ["active", "decommissioned"] {
            let path = format!("/v1/vehicles/{id}/status");
            expect_status!(a, "POST" path, json!({"status": to}) => 404 "not_found");
        }
    }
    // POST /v1/vehicles/{id}/odometer
    body_errors(a, "POST", "/v1/vehicles/v1/odometer").await;
    let cases = [
        ("reading_km", json!(-1)),
        ("reading_km", json!(200_000_000)),
        ("reading_km", json!("10")),
    ];
    each_invalid(a, "POST", "/v1/vehicles/v1/odometer", json!({}), &cases).await;
    let r = a
        .post("/v1/vehicles/v1/odometer", json!({"reading_km": 500}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    expect_status!(a, "POST" "/v1/vehicles/v1/odometer", json!({"reading_km": 499}) => 422 "invalid_value");
    expect_status!(a, "POST" "/v1/vehicles/ghost/odometer", json!({"reading_km": 1}) => 404 "not_found");
    let (olga, _) = driver(&api, "olga").await; // drives no vehicle
    expect_status!(olga, "POST" "/v1/vehicles/v1/odometer", json!({"reading_km": 600}) => 403 "forbidden");
    // DELETE /v1/vehicles/{id}: 409 while committed (and no decommissioning), 204, then 404.
    let t = ("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z");
    let job =
        json!({"vehicle_id": "v2", "description": "brakes", "starts_at": t.0, "ends_at": t.1});
    let r = a.post("/v1/maintenance", job).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let job = r.json()["id"].as_str().unwrap().to_string();
    expect_status!(a, "DELETE" "/v1/vehicles/v2", json!({}) => 409 "vehicle_committed");
    expect_status!(a, "POST" "/v1/vehicles/v2/status", json!({"status": "decommissioned"}) => 409 "vehicle_committed");
    let r = a
        .post(&format!("/v1/maintenance/{job}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.delete("/v1/vehicles/v2").await.status, 204);
    expect_status!(a, "DELETE" "/v1/vehicles/v2", json!({}) => 404 "not_found");
    expect_status!(a, "DELETE" "/v1/vehicles/ghost", json!({}) => 404 "not_found");
    expect_status!(a, "PATCH" "/v1/vehicles/v2", json!({"make": "Scania"}) => 404 "not_found");
    expect_status!(a, GET "/v1/vehicles/v2" => 404 "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_and_assignments_errors() {
    let api = Api::start().await;
    let a = &api.admin;
    for (id, n) in [("v1", 1), ("v2", 2), ("v3", 3)] {
        vehicle(a, id, n).await;
    }
    let (_, free_user) = a.user("free", "driver").await;
    let (_, cust_user) = a.user("carl", "customer").await;
    // POST /v1/drivers
    body_errors(a, "POST", "/v1/drivers").await;
    let drv = json!({"user_id": free_user, "name": "Free", "licence_number": "L-1", "licence_expiry": "2099-01-01"});
    let cases = [
        ("licence_expiry", json!("2001-01-01")),
        ("licence_expiry", json!("tomorrow")),
        ("licence_number", json!(" ")),
        ("name", json!("")),
        ("user_id", json!(cust_user)),
        ("user_id", json!(UNKNOWN_UUID)),
        ("user_id", json!("nope")),
        ("duty_status", json!("asleep")),
        ("-name", Value::Null),
        ("x", json!(1)),
    ];
    each_invalid(a, "POST", "/v1/drivers", drv.clone(), &cases).await;
    let (dave, d1) = driver(&api, "dave").await;
    let (erin, d2) = driver(&api, "erin").await;
    expect_status!(a, "POST" "/v1/drivers", with(drv.clone(), "licence_number", json!("L-dave")) => 409 "already_exists");
    let dave_user = dave.get("/v1/me").await.json()["id"].clone();
    expect_status!(a, "POST" "/v1/drivers", with(drv, "user_id", dave_user) => 409 "already_exists");
    // GET /v1/drivers, /v1/drivers/{id}
    list_errors(a, "/v1/drivers", true).await;
    list_errors(&dave, "/v1/drivers", true).await;
    expect_status!(a, GET "/v1/drivers?duty_status=asleep" => 422 "invalid_value");
    unknown_ids(a, "GET", "/v1/drivers", "", None).await;
    expect_status!(dave, GET format!("/v1/drivers/{d2}") => 404 "not_found");
    // PATCH /v1/drivers/{id}
    let path = format!("/v1/drivers/{d1}");
    body_errors(a, "PATCH", &path).await;
    let cases = [
        ("duty_status", json!("asleep")),
        ("current_vehicle_id", json!("has space")),
        ("current_vehicle_id", json!("ghost")),
        ("name", json!("")),
        ("licence_expiry", json!("soon")),
        ("user_id", json!(UNKNOWN_UUID)),
    ];
    each_invalid(a, "PATCH", &path, json!({}), &cases).await;
    expect_status!(dave, "PATCH" path, json!({"name": "D"}) => 403 "forbidden");
    expect_status!(erin, "PATCH" path, json!({"duty_status": "busy"}) => 404 "not_found");
    unknown_ids(a, "PATCH", "/v1/drivers", "", Some(json!({}))).await;
    expect_status!(dave, "PATCH" path, json!({"current_vehicle_id": "v1"}) => 409 "vehicle_not_assigned");
    let shift = assign_now(a, &d1, "v1", 1).await;
    let r = dave.patch(&path, json!({"current_vehicle_id": "v1"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect_status!(erin, "PATCH" format!("/v1/drivers/{d2}"), json!({"current_vehicle_id": "v1"}) => 409 "vehicle_not_assigned");
    expect_status!(a, "PATCH" format!("/v1/drivers/{d2}"), json!({"current_vehicle_id": "v1"}) => 409 "already_exists");
    let r = a
        .post(&format!("/v1/assignments/{shift}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // POST /v1/assignments
    body_errors(a, "POST", "/v1/assignments").await;
    let (t0, t1) = ("2030-01-01T08:00:00Z", "2030-01-01T16:00:00Z");
    let asg =
        |d: &str, v: &str| json!({"driver_id": d, "vehicle_id": v, "starts_at": t0, "ends_at": t1});
    let cases = [
        ("ends_at", json!("2030-01-01T07:00:00Z")),
        ("ends_at", json!(t0)),
        ("ends_at", json!("2030-03-01T00:00:00Z")),
        ("starts_at", json!("yesterday")),
        ("vehicle_id", json!("has space")),
        ("vehicle_id", json!("ghost")),
        ("driver_id", json!(UNKNOWN_UUID)),
        ("driver_id", json!("nope")),
        ("-vehicle_id", Value::Null),
        ("x", json!(1)),
    ];
    each_invalid(a, "POST", "/v1/assignments", asg(&d1, "v1"), &cases).await;
    let (_, short_user) = a.user("shorty", "driver").await;
    let short = json!({"user_id": short_user, "name": "S", "licence_number": "L-S", "licence_expiry": "2029-01-01"});
    let r = a.post("/v1/drivers", short).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d3 = r.json()["id"].as_str().unwrap().to_string();
    expect_status!(a, "POST" "/v1/assignments", asg(&d3, "v3") => 422 "invalid_value");
    let r = a.post("/v1/assignments", asg(&d1, "v1")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first = r.json()["id"].as_str().unwrap().to_string();
    expect_status!(a, "POST" "/v1/assignments", asg(&d1, "v2") => 409 "overlap");
    expect_status!(a, "POST" "/v1/assignments", asg(&d2, "v1") => 409 "overlap");
    let r = a
        .post(
            "/v1/vehicles/v3/status",
            json!({"status": "decommissioned"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect_status!(a, "POST" "/v1/assignments", asg(&d2, "v3") => 409 "vehicle_decommissioned");
    expect_status!(a, "PATCH" format!("/v1/drivers/{d2}"), json!({"current_vehicle_id": "v3"}) => 409 "vehicle_decommissioned");
    // GET /v1/assignments, /v1/assignments/{id}
    list_errors(a, "/v1/assignments", true).await;
    list_errors(&dave, "/v1/assignments", true).await;
    expect_status!(a, GET "/v1/assignments?driver_id=nope" => 422 "invalid_value");
    unknown_ids(a, "GET", "/v1/assignments", "", None).await;
    expect_status!(erin, GET format!("/v1/assignments/{first}") => 404 "not_found");
    let own = dave.get(&format!("/v1/assignments/{first}")).await;
    assert_eq!(own.status, 200, "{}", own.body);
    // POST /v1/assignments/{id}/cancel and /complete
    for action in ["cancel", "complete"] {
        unknown_ids(
            a,
            "POST",
            "/v1/assignments",
            &format!("/{action}"),
            Some(json!({})),
        )
        .await;
    }
    let r = a
        .post(&format!("/v1/assignments/{first}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for action in ["cancel", "complete"] {
        let path = format!("/v1/assignments/{first}/{action}");
        expect_status!(a, "POST" path, json!({}) => 409 "illegal_transition");
    }
}

/// A body that does not parse is 400 `malformed_request`, even when the part read before the
/// syntax error already broke a rule: a truncated body (`{"x": `) and trailing bytes after a
/// complete value (`{} {}`) are both 400, not 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_body_with_unknown_key_is_400() {
    let api = Api::start().await;
    for path in ["/v1/users", "/v1/vehicles", "/v1/customers"] {
        for body in [&b"{\"x\": "[..], b"{} {}"] {
            let r = send_raw(&api.admin, "POST", path, body).await;
            is(&r, 400, "malformed_request", path);
        }
    }
}
