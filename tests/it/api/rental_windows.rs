//! Rental and maintenance windows against the clock, against a real daemon and PostgreSQL:
//! starting early claims the vehicle from now, starting late is refused, and a vehicle out
//! past its booking is offered for no window.

use crate::common::api::{
    customer, hours_from_now, ids, plan, reserve_body, standard_plan, vehicle, Api, Client, Resp,
};
use crate::common::errors::is;
use serde_json::json;

/// Reserves `vehicle` for `customer` over `[now + from_h, now + to_h)` hours, as staff.
async fn reserve(
    a: &Client,
    plan: &str,
    customer: &str,
    vehicle: &str,
    from_h: i64,
    to_h: i64,
) -> Resp {
    let mut b = reserve_body(
        vehicle,
        plan,
        &hours_from_now(from_h),
        &hours_from_now(to_h),
        10,
    );
    b["customer_id"] = json!(customer);
    a.post("/v1/rentals", b).await
}

/// Whether the commitment of `id` starts at or before the database's now.
async fn claimed_from_now(api: &Api, id: &str) -> bool {
    let db = api.db.client().await;
    db.query_one(
        &format!("SELECT lower(period) <= now() FROM vehicle_commitments WHERE ref_id = '{id}'"),
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// Activating a rental or starting a job early claims the vehicle from now (refused when it
/// is booked in between); within the window nothing changes; after it, 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_start_claims_from_now_and_late_start_is_refused() {
    let api = Api::start().await;
    let a = &api.admin;
    for (id, n) in [("car-1", 1), ("car-2", 2), ("car-3", 3)] {
        vehicle(a, id, n).await;
    }
    let (_, cust) = customer(&api, "cat").await;
    let p = plan(a, standard_plan()).await;
    let id = |r: Resp| -> String {
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_str().unwrap().to_string()
    };
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
    assert!(!claimed_from_now(&api, &far).await);
    // Early, with the way clear: the vehicle is claimed from now on.
    let r = a.post(&activate(&near), odo.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(claimed_from_now(&api, &near).await);
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
               "starts_at": hours_from_now(from_h), "ends_at": hours_from_now(to_h)})
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
    assert!(claimed_from_now(&api, &near).await);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vehicle_out_past_its_booking_is_offered_for_no_window() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "late-1", 1).await;
    vehicle(a, "free-2", 2).await;
    let (_, cust) = customer(&api, "lou").await;
    let p = plan(a, standard_plan()).await;
    let r = reserve(a, &p, &cust, "late-1", -1, 24).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rental = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .post(
            &format!("/v1/rentals/{rental}/activate"),
            json!({"odometer_km": 0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let free_later = || async {
        let (from, to) = (hours_from_now(48), hours_from_now(72));
        let q = format!(
            "/v1/availability?from={}&to={}",
            from.replace('+', "%2B"),
            to.replace('+', "%2B")
        );
        let r = a.get(&q).await;
        assert_eq!(r.status, 200, "{}", r.body);
        ids(&r)
    };
    // On time: back tomorrow, so free the day after.
    assert_eq!(free_later().await, ["free-2", "late-1"]);
    // Overdue: its booking ended an hour ago and it is still out.
    api.db
        .client()
        .await
        .batch_execute(&format!(
            "UPDATE rentals SET starts_at = now() - interval '3 hours',
                                ends_at = now() - interval '1 hour' WHERE id = '{rental}';
             UPDATE vehicle_commitments SET period = tstzrange(now() - interval '3 hours',
                                                               now() - interval '1 hour')
              WHERE ref_id = '{rental}'"
        ))
        .await
        .unwrap();
    assert_eq!(free_later().await, ["free-2"]);
    // A breakdown (by hand, no booking) is out for a time nobody knows either.
    let r = a
        .post(
            "/v1/vehicles/free-2/status",
            json!({"status": "under_maintenance"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(free_later().await.is_empty());
    // Returned: offered again.
    let r = a
        .post(
            &format!("/v1/rentals/{rental}/complete"),
            json!({"odometer_km": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(free_later().await, ["late-1"]);
    api.daemon.shutdown().await;
}
