//! Commitments that cannot overlap, against a real daemon and PostgreSQL: drivers,
//! assignments and maintenance windows share the vehicle's exclusion constraint.

use crate::common::api::{assign_now, driver, vehicle, Api};
use crate::common::errors::is;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_assignments_and_maintenance_never_overlap() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    vehicle(a, "v2", 2).await;
    let (d1_client, d1) = driver(&api, "ann").await;
    let (d2_client, d2) = driver(&api, "bob").await;
    let (customer, customer_user) = a.user("cus", "customer").await;

    // Drivers.
    let r = a
        .post(
            "/v1/drivers",
            json!({"user_id": customer_user, "name": "x", "licence_number": "L9", "licence_expiry": "2099-01-01"}),
        )
        .await;
    assert_eq!(r.status, 422, "only users with role driver: {}", r.body);
    let (_, u3) = a.user("cid", "driver").await;
    let r = a
        .post(
            "/v1/drivers",
            json!({"user_id": u3, "name": "x", "licence_number": "L-ann", "licence_expiry": "2099-01-01"}),
        )
        .await;
    assert_eq!(r.status, 409, "licence numbers are unique: {}", r.body);
    let r = a
        .post(
            "/v1/drivers",
            json!({"user_id": u3, "name": "x", "licence_number": "L3", "licence_expiry": "2001-01-01"}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = a
        .post(
            "/v1/drivers",
            json!({"user_id": u3, "name": "x", "licence_number": "L3", "licence_expiry": "not a date"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(customer.get("/v1/drivers").await.status, 403);
    let own = d1_client.get("/v1/drivers").await.json();
    assert_eq!(
        own["items"].as_array().unwrap().len(),
        1,
        "a driver sees itself only"
    );
    assert_eq!(own["items"][0]["id"], d1.as_str());
    assert_eq!(
        d1_client.get(&format!("/v1/drivers/{d2}")).await.status,
        404
    );
    assert_eq!(
        a.get("/v1/drivers?limit=10").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A driver takes the vehicle of their shift; staff seat drivers freely, but one driver
    // per vehicle.
    let now_shift = assign_now(a, &d1, "v1", 1).await;
    let r = d1_client
        .patch(
            &format!("/v1/drivers/{d1}"),
            json!({"duty_status": "available", "current_vehicle_id": "v1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["duty_status"], "available");
    assert_eq!(r.json()["current_vehicle_id"], "v1");
    let r = d2_client
        .patch(
            &format!("/v1/drivers/{d2}"),
            json!({"current_vehicle_id": "v1"}),
        )
        .await;
    is(&r, 409, "vehicle_not_assigned", "");
    let r = a
        .patch(
            &format!("/v1/drivers/{d2}"),
            json!({"current_vehicle_id": "v1"}),
        )
        .await;
    is(&r, 409, "already_exists", "one driver per vehicle");
    let r = a
        .post(&format!("/v1/assignments/{now_shift}/complete"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = d1_client
        .patch(
            &format!("/v1/drivers/{d1}"),
            json!({"licence_number": "forged"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        d1_client
            .patch(&format!("/v1/drivers/{d2}"), json!({"duty_status": "busy"}))
            .await
            .status,
        404
    );
    let r = a
        .patch(
            &format!("/v1/drivers/{d1}"),
            json!({"current_vehicle_id": null}),
        )
        .await;
    assert!(r.json()["current_vehicle_id"].is_null());
    assert_eq!(
        a.get("/v1/drivers?duty_status=available").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Assignments: a driver cannot hold two overlapping ones, nor a vehicle.
    let shift = |driver: &str, vehicle: &str, from: &str, to: &str| json!({"driver_id": driver, "vehicle_id": vehicle, "starts_at": from, "ends_at": to});
    let r = a
        .post(
            "/v1/assignments",
            shift(&d1, "v1", "2030-01-01T08:00:00Z", "2030-01-01T16:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .post(
            "/v1/assignments",
            shift(&d1, "v2", "2030-01-01T15:00:00Z", "2030-01-01T20:00:00Z"),
        )
        .await;
    is(&r, 409, "overlap", "");
    assert!(
        r.body.contains(&first),
        "409 names the conflict: {}",
        r.body
    );
    assert_eq!(
        r.json()["error"]["conflict"],
        json!({"kind": "assignment", "id": first}),
        "the driver's assignment in the way, as data"
    );
    let r = a
        .post(
            "/v1/assignments",
            shift(&d2, "v1", "2030-01-01T12:00:00Z", "2030-01-01T13:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains(&first), "{}", r.body);
    assert_eq!(
        r.json()["error"]["conflict"],
        json!({"kind": "assignment", "id": first}),
        "the vehicle's commitment in the way, as data"
    );
    // Touching ranges are fine: [08:00, 16:00) then [16:00, 18:00).
    let r = a
        .post(
            "/v1/assignments",
            shift(&d2, "v1", "2030-01-01T16:00:00Z", "2030-01-01T18:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = a
        .post(
            "/v1/assignments",
            shift(&d2, "v1", "2030-01-02T16:00:00Z", "2030-01-02T15:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = a
        .post(
            "/v1/assignments",
            shift(&d2, "nope", "2030-01-03T10:00:00Z", "2030-01-03T11:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        d1_client
            .post(
                "/v1/assignments",
                shift(&d1, "v2", "2030-02-01T10:00:00Z", "2030-02-01T11:00:00Z")
            )
            .await
            .status,
        403
    );
    let mine = d1_client.get("/v1/assignments").await.json();
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        2,
        "a driver sees its own jobs (the completed shift and `first`)"
    );
    assert_eq!(
        d2_client
            .get(&format!("/v1/assignments/{first}"))
            .await
            .status,
        404
    );
    assert_eq!(
        d1_client
            .get(&format!("/v1/assignments/{first}"))
            .await
            .status,
        200
    );
    assert_eq!(customer.get("/v1/assignments").await.status, 403);

    // Maintenance shares the vehicle's commitments with assignments (and rentals).
    let window = |v: &str, from: &str, to: &str| json!({"vehicle_id": v, "description": "brakes", "starts_at": from, "ends_at": to});
    let r = a
        .post(
            "/v1/maintenance",
            window("v1", "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains(&first), "{}", r.body);
    let r = a
        .post(&format!("/v1/assignments/{first}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "cancelled");
    let r = a
        .post(&format!("/v1/assignments/{first}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 409);
    let r = a
        .post(
            "/v1/maintenance",
            window("v1", "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z"),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "the cancelled shift freed the window: {}",
        r.body
    );
    let job = r.json()["id"].as_str().unwrap().to_string();
    // The freed driver can be assigned again.
    let r = a
        .post(
            "/v1/assignments",
            shift(&d1, "v2", "2030-01-01T09:00:00Z", "2030-01-01T10:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // An overdue job (scheduled in the past, never started) is listed as overdue.
    let r = a
        .post(
            "/v1/maintenance",
            window("v2", "2020-01-01T10:00:00Z", "2020-01-01T11:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 201);
    let late = r.json()["id"].as_str().unwrap().to_string();
    let overdue = a.get("/v1/maintenance/overdue").await.json();
    let ids: Vec<&str> = overdue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [late.as_str()]);
    assert_eq!(
        a.get("/v1/maintenance?overdue=true").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        a.get("/v1/maintenance?limit=1").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(d1_client.get("/v1/maintenance").await.status, 403);

    // Start → vehicle under maintenance; the vehicle can then not be rented or re-started.
    let r = a
        .post(&format!("/v1/maintenance/{job}/start"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "in_progress");
    assert_eq!(
        a.get("/v1/vehicles/v1").await.json()["status"],
        "under_maintenance"
    );
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/start"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/cancel"), json!({}))
            .await
            .status,
        409
    );
    // Its window is over: it can no longer start (cancel it and schedule another).
    let r = a
        .post(&format!("/v1/maintenance/{late}/start"), json!({}))
        .await;
    is(&r, 409, "window_ended", "");
    assert_eq!(
        a.get(&format!("/v1/maintenance/{late}")).await.json()["status"],
        "scheduled"
    );
    assert_eq!(a.get("/v1/vehicles/v2").await.json()["status"], "active");
    let done = json!({"labour_cost": 12000, "currency": "EUR", "parts": [
        {"part_name": "brake pad", "quantity": 4, "unit_cost": 2500},
        {"part_name": "fluid", "quantity": 1, "unit_cost": 900}
    ]});
    let mut neg = done.clone();
    neg["labour_cost"] = json!(-1);
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/complete"), neg)
            .await
            .status,
        422
    );
    let mut zero = done.clone();
    zero["parts"][0]["quantity"] = json!(0);
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/complete"), zero)
            .await
            .status,
        422
    );
    let mut cur = done.clone();
    cur["currency"] = json!("euro");
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/complete"), cur)
            .await
            .status,
        422
    );
    let r = a
        .post(&format!("/v1/maintenance/{job}/complete"), done.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["status"], "completed");
    assert_eq!(j["total_cost"], 12000 + 4 * 2500 + 900);
    assert_eq!(j["parts"].as_array().unwrap().len(), 2);
    assert_eq!(a.get("/v1/vehicles/v1").await.json()["status"], "active");
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/complete"), done)
            .await
            .status,
        409
    );
    assert_eq!(
        a.get(&format!("/v1/maintenance/{job}")).await.json()["total_cost"],
        22900
    );
    assert_eq!(
        a.get("/v1/maintenance/00000000-0000-0000-0000-000000000000")
            .await
            .status,
        404
    );
    assert_eq!(
        a.post("/v1/maintenance/nope/start", json!({})).await.status,
        404
    );
    let db = api.db.client().await;
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM vehicle_commitments WHERE kind = 'maintenance'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        n, 1,
        "the completed job released its window, the overdue one holds it"
    );
    // The database itself refuses an overlap, whatever the application does.
    let e = db
        .execute(
            "INSERT INTO vehicle_commitments (vehicle_id, kind, ref_id, period)
             VALUES ('v1', 'rental', gen_random_uuid(), tstzrange('2030-01-01T16:30:00Z', '2030-01-01T17:00:00Z'))",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.as_db_error().unwrap().constraint(),
        Some("vehicle_commitments_no_overlap"),
        "{e:?}"
    );
    api.daemon.shutdown().await;
}
