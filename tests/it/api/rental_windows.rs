//! Rental and maintenance windows against the clock, against a real daemon and PostgreSQL
//! whose clock is a manual one (`Api::start_at`): starting early claims the vehicle from
//! now, starting late is refused, a vehicle out past its booking is offered for no window,
//! and as the clock moves, bookings end, jobs fall overdue, cancellation fees apply and
//! tokens expire, with no waiting and no rows edited by hand.

use chrono::{DateTime, Duration, Utc};

use crate::common::api::{
    customer, ids, plan, reserve_body, standard_plan, vehicle, Api, Client, Resp, ADMIN_PASSWORD,
};
use crate::common::errors::is;
use serde_json::json;

/// Where the daemon's clock starts: fixed, so these tests mean the same in any year.
fn t0() -> DateTime<Utc> {
    "2031-03-10T09:00:00Z".parse().unwrap()
}

/// `t0` plus `hours`, RFC 3339.
fn at(hours: i64) -> String {
    (t0() + Duration::hours(hours)).to_rfc3339()
}

/// Reserves `vehicle` for `customer` over `[t0 + from_h, t0 + to_h)` hours, as staff.
async fn reserve(
    a: &Client,
    plan: &str,
    customer: &str,
    vehicle: &str,
    from_h: i64,
    to_h: i64,
) -> Resp {
    let mut b = reserve_body(vehicle, plan, &at(from_h), &at(to_h), 10);
    b["customer_id"] = json!(customer);
    a.post("/v1/rentals", b).await
}

/// The start of the commitment of `id`.
async fn claimed_from(api: &Api, id: &str) -> DateTime<Utc> {
    let db = api.db.client().await;
    db.query_one(
        &format!("SELECT lower(period) FROM vehicle_commitments WHERE ref_id = '{id}'"),
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

fn created(r: Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

/// Activating a rental or starting a job early claims the vehicle from now (refused when it
/// is booked in between); within the window nothing changes; after it, 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_start_claims_from_now_and_late_start_is_refused() {
    let (api, _hand) = Api::start_at(t0()).await;
    let a = &api.admin;
    for (id, n) in [("car-1", 1), ("car-2", 2), ("car-3", 3)] {
        vehicle(a, id, n).await;
    }
    let (_, cust) = customer(&api, "cat").await;
    let p = plan(a, standard_plan()).await;
    let id = created;
    let odo = json!({"odometer_km": 0});
    let activate = |r: &str| format!("/v1/rentals/{r}/activate");

    // Early, with another booking in between: 409 naming it, and nothing changes.
    let far = id(reserve(a, &p, &cust, "car-1", 72, 96).await);
    let near = id(reserve(a, &p, &cust, "car-1", 24, 48).await);
    let r = a.post(&activate(&far), odo.clone()).await;
    is(&r, 409, "overlap", "");
    assert!(
        r.body.contains(&near),
        "names the booking in the way: {}",
        r.body
    );
    assert_eq!(
        a.get(&format!("/v1/rentals/{far}")).await.json()["status"],
        "reserved"
    );
    assert_eq!(a.get("/v1/vehicles/car-1").await.json()["status"], "active");
    assert_eq!(claimed_from(&api, &far).await, t0() + Duration::hours(72));
    // Early, with the way clear: the vehicle is claimed from now on.
    let r = a.post(&activate(&near), odo.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        claimed_from(&api, &near).await,
        t0(),
        "claimed from the clock's now"
    );
    let r = reserve(a, &p, &cust, "car-1", 1, 2).await;
    is(&r, 409, "overlap", "");
    assert!(r.body.contains(&near), "{}", r.body);

    // Within the window: the booking stays as it was.
    let now = id(reserve(a, &p, &cust, "car-2", -1, 24).await);
    let r = a.post(&activate(&now), odo.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let db = api.db.client().await;
    let unchanged: bool = db
        .query_one(
            &format!(
                "SELECT lower(c.period) = r.starts_at FROM vehicle_commitments c
                 JOIN rentals r ON r.id = c.ref_id WHERE r.id = '{now}'"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(unchanged);

    // After the window: 409, and the rental stays reserved.
    let over = id(reserve(a, &p, &cust, "car-3", -48, -24).await);
    let r = a.post(&activate(&over), odo.clone()).await;
    is(&r, 409, "window_ended", "");
    assert_eq!(
        a.get(&format!("/v1/rentals/{over}")).await.json()["status"],
        "reserved"
    );
    assert_eq!(a.get("/v1/vehicles/car-3").await.json()["status"], "active");

    // Maintenance jobs start by the same rule.
    let job = |v: &str, from_h: i64, to_h: i64| {
        json!({"vehicle_id": v, "description": "service",
               "starts_at": at(from_h), "ends_at": at(to_h)})
    };
    let start = |j: &str| format!("/v1/maintenance/{j}/start");
    let far = id(a.post("/v1/maintenance", job("car-3", 72, 74)).await);
    let near = id(a.post("/v1/maintenance", job("car-3", 24, 26)).await);
    let r = a.post(&start(&far), json!({})).await;
    is(&r, 409, "overlap", "");
    assert!(r.body.contains(&near), "{}", r.body);
    assert_eq!(
        a.get(&format!("/v1/maintenance/{far}")).await.json()["status"],
        "scheduled"
    );
    let r = a.post(&start(&near), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(claimed_from(&api, &near).await, t0());
    assert_eq!(
        a.get(&format!("/v1/maintenance/{near}")).await.json()["started_at"],
        json!(t0()),
        "started at the clock's now"
    );
    assert_eq!(
        a.get("/v1/vehicles/car-3").await.json()["status"],
        "under_maintenance"
    );
    let old = id(a.post("/v1/maintenance", job("car-2", -10, -9)).await);
    let r = a.post(&start(&old), json!({})).await;
    is(&r, 409, "window_ended", "");
    assert_eq!(
        a.get(&format!("/v1/maintenance/{old}")).await.json()["status"],
        "scheduled"
    );
    api.daemon.shutdown().await;
}

/// Availability with the clock: a vehicle out past its booking is offered for no window
/// until it is returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vehicle_out_past_its_booking_is_offered_for_no_window() {
    let (api, hand) = Api::start_at(t0()).await;
    let a = &api.admin;
    vehicle(a, "late-1", 1).await;
    vehicle(a, "free-2", 2).await;
    let (_, cust) = customer(&api, "lou").await;
    let p = plan(a, standard_plan()).await;
    let rental = created(reserve(a, &p, &cust, "late-1", -1, 24).await);
    let r = a
        .post(
            &format!("/v1/rentals/{rental}/activate"),
            json!({"odometer_km": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Vehicles free from `h` to `h + 24` hours after t0.
    let free = |a: Client, h: i64| async move {
        let q = format!(
            "/v1/availability?from={}&to={}",
            at(h).replace('+', "%2B"),
            at(h + 24).replace('+', "%2B")
        );
        let r = a.get(&q).await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids(&r)
    };
    // On time: back tomorrow, so free the day after.
    assert_eq!(free(a.clone(), 48).await, ["free-2", "late-1"]);
    // 26 hours on, its booking ended 2 hours ago and it is still out: offered for no window.
    hand.advance(Duration::hours(26));
    let a = api.anonymous().login("admin", ADMIN_PASSWORD).await;
    assert_eq!(free(a.clone(), 48).await, ["free-2"]);
    assert_eq!(free(a.clone(), 24 * 30).await, ["free-2"]);
    // A breakdown (by hand, no booking) is out for a time nobody knows either.
    let r = a
        .post(
            "/v1/vehicles/free-2/status",
            json!({"status": "under_maintenance"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(free(a.clone(), 48).await.is_empty());
    // Returned (late: charged for it): offered again.
    let r = a
        .post(
            &format!("/v1/rentals/{rental}/complete"),
            json!({"odometer_km": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["returned_at"], json!(t0() + Duration::hours(26)));
    let kinds: Vec<String> = r.json()["charges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"late_fee".to_string()), "{kinds:?}");
    assert_eq!(free(a.clone(), 48).await, ["late-1"]);
    api.daemon.shutdown().await;
}

/// The clock moves and the rules follow: a reservation's window passes, maintenance falls
/// overdue and out of it, a cancellation fee applies inside the free-cancellation period,
/// a licence expires, and a token dies at its expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_follow_the_clock_as_it_moves() {
    let (api, hand) = Api::start_at(t0()).await;
    let a = api.admin.clone();
    vehicle(&a, "car-1", 1).await;
    vehicle(&a, "car-2", 2).await;
    let (_, cust) = customer(&api, "max").await;
    let p = plan(&a, standard_plan()).await;
    let late = created(reserve(&a, &p, &cust, "car-1", 2, 26).await);
    let free_cancel = created(reserve(&a, &p, &cust, "car-1", 100, 124).await);
    let fee_cancel = created(reserve(&a, &p, &cust, "car-1", 130, 154).await);
    let job = created(
        a.post(
            "/v1/maintenance",
            json!({"vehicle_id": "car-2", "description": "brakes",
                   "starts_at": at(1), "ends_at": at(3)}),
        )
        .await,
    );
    let overdue = |a: Client| async move {
        let r = a.get("/v1/maintenance/overdue").await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids(&r)
    };
    assert!(overdue(a.clone()).await.is_empty());

    // t0 + 30 min: the token issued at t0 (1 h) still works.
    hand.advance(Duration::minutes(30));
    assert_eq!(a.get("/v1/vehicles/car-1").await.status, 200);
    // t0 + 2 h: the job was due to start an hour ago.
    hand.advance(Duration::minutes(90));
    let r = a.get("/v1/vehicles/car-1").await;
    is(&r, 401, "token_expired", "a token issued at t0 for an hour");
    let a = api.anonymous().login("admin", ADMIN_PASSWORD).await;
    assert_eq!(overdue(a.clone()).await, [job.as_str()]);
    let r = a
        .post(&format!("/v1/maintenance/{job}/start"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        overdue(a.clone()).await.is_empty(),
        "started within its window"
    );
    // t0 + 4 h: in progress past its end.
    hand.advance(Duration::hours(2));
    let a = api.anonymous().login("admin", ADMIN_PASSWORD).await;
    assert_eq!(overdue(a.clone()).await, [job.as_str()]);
    let r = a
        .post(
            &format!("/v1/maintenance/{job}/complete"),
            json!({"labour_cost": 0, "currency": "EUR"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["completed_at"], json!(t0() + Duration::hours(4)));
    assert!(overdue(a.clone()).await.is_empty());

    // t0 + 30 h: the first reservation's window has passed.
    hand.advance(Duration::hours(26));
    let a = api.anonymous().login("admin", ADMIN_PASSWORD).await;
    let r = a
        .post(
            &format!("/v1/rentals/{late}/activate"),
            json!({"odometer_km": 0}),
        )
        .await;
    is(&r, 409, "window_ended", "activated after its window");
    // 70 h before its start (free cancellation ends 48 h before): free.
    let cust_client = api.anonymous().login("max", "password-123").await;
    let r = cust_client
        .post(&format!("/v1/rentals/{free_cancel}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["total_charged"], 0);
    // t0 + 90 h: 40 h before the other's start, inside the 48 h: the plan's 20 %.
    hand.advance(Duration::hours(60));
    let cust_client = api.anonymous().login("max", "password-123").await;
    let r = cust_client
        .post(&format!("/v1/rentals/{fee_cancel}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["total_charged"], 5000 * 20 / 100);

    // A licence valid until the clock's yesterday is expired, whatever the real date.
    let (_, user) = api
        .anonymous()
        .login("admin", ADMIN_PASSWORD)
        .await
        .user("dee", "driver")
        .await;
    let a = api.anonymous().login("admin", ADMIN_PASSWORD).await;
    let yesterday = (t0() + Duration::hours(90) - Duration::days(1)).date_naive();
    let body = |expiry: chrono::NaiveDate| {
        json!({"user_id": user, "name": "Dee", "licence_number": "L-1",
               "licence_expiry": expiry.to_string()})
    };
    is(
        &a.post("/v1/drivers", body(yesterday)).await,
        422,
        "invalid_value",
        "expired by the clock",
    );
    let r = a
        .post("/v1/drivers", body(yesterday + Duration::days(1)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let driver = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .patch(
            &format!("/v1/drivers/{driver}"),
            json!({"licence_expiry": yesterday.to_string()}),
        )
        .await;
    is(
        &r,
        422,
        "invalid_value",
        "an update may not set an expired licence either",
    );
    api.daemon.shutdown().await;
}
