//! The fleet registry and its commitments against a real daemon and PostgreSQL: vehicles,
//! drivers, assignments, maintenance and the exclusion constraints.

use crate::common::api::{driver, vehicle, vehicle_body, Api};
use crate::common::errors::is;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicles_registry_lifecycle_and_odometer() {
    let api = Api::start().await;
    let a = &api.admin;
    let (dispatcher, _) = a.user("disp", "dispatcher").await;
    let (customer, _) = a.user("cust", "customer").await;

    let v = vehicle(&dispatcher, "truck-1", 1).await;
    assert_eq!(v["status"], "active");
    assert_eq!(v["specs"]["fuel"], "diesel");
    vehicle(a, "van-2", 2).await;
    let mut b = vehicle_body("car-3", 3);
    b["type"] = json!("car");
    b["seats"] = json!(5);
    b["load_kg"] = json!(400);
    b["specs"] = json!({"fuel": "electric"});
    assert_eq!(a.post("/v1/vehicles", b).await.status, 201);

    // Validation: VIN check digit, charset of the id, duplicates.
    let mut bad = vehicle_body("x-1", 9);
    bad["vin"] = json!("1M8GDM9A1KP042788");
    let r = a.post("/v1/vehicles", bad).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("vin"), "{}", r.body);
    assert_eq!(
        a.post("/v1/vehicles", vehicle_body("bad id", 9))
            .await
            .status,
        422
    );
    let r = a.post("/v1/vehicles", vehicle_body("truck-1", 9)).await;
    is(&r, 409, "already_exists", "");
    let r = a.post("/v1/vehicles", vehicle_body("other", 1)).await; // same plate and VIN
    assert_eq!(r.status, 409);
    let mut neg = vehicle_body("neg", 10);
    neg["seats"] = json!(-1);
    assert_eq!(a.post("/v1/vehicles", neg).await.status, 422);
    let mut specs = vehicle_body("specs", 11);
    specs["specs"] = json!([1, 2]);
    assert_eq!(a.post("/v1/vehicles", specs).await.status, 422);
    assert_eq!(
        customer
            .post("/v1/vehicles", vehicle_body("c-1", 12))
            .await
            .status,
        403
    );

    // Reads, filters (GIN-indexed specs), pagination.
    assert_eq!(customer.get("/v1/vehicles/truck-1").await.status, 200);
    assert_eq!(a.get("/v1/vehicles/nope").await.status, 404);
    let ids = |r: &crate::common::api::Resp| -> Vec<String> {
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    let r = a.get("/v1/vehicles?type=car").await;
    assert_eq!(ids(&r), ["car-3"]);
    let r = a
        .get("/v1/vehicles?specs=%7B%22fuel%22%3A%22diesel%22%7D")
        .await;
    assert_eq!(ids(&r), ["truck-1", "van-2"]);
    assert_eq!(a.get("/v1/vehicles?specs=nope").await.status, 422);
    assert_eq!(ids(&a.get("/v1/vehicles?min_seats=4").await), ["car-3"]);
    assert_eq!(a.get("/v1/vehicles?status=flying").await.status, 422);
    // Empty optional parameters count as absent (generated clients send them).
    let all = a.get("/v1/vehicles?limit=&cursor=").await;
    assert_eq!(all.status, 200, "{}", all.body);
    let p1 = a.get("/v1/vehicles?limit=2").await;
    assert_eq!(ids(&p1), ["car-3", "truck-1"]);
    let cursor = p1.json()["next_cursor"].as_str().unwrap().to_string();
    let p2 = a
        .get(&format!("/v1/vehicles?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&p2), ["van-2"]);
    assert!(p2.json()["next_cursor"].is_null());

    // Update.
    let r = a
        .patch(
            "/v1/vehicles/van-2",
            json!({"model": "Sprinter", "specs": {"fuel": "lpg"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["model"], "Sprinter");
    assert_eq!(r.json()["make"], "Volvo");
    assert_eq!(
        a.patch("/v1/vehicles/van-2", json!({"year": 1200}))
            .await
            .status,
        422
    );
    assert_eq!(
        a.patch("/v1/vehicles/van-2", json!({"status": "rented"}))
            .await
            .status,
        422
    );
    assert_eq!(a.patch("/v1/vehicles/none", json!({})).await.status, 404);
    assert_eq!(
        customer.patch("/v1/vehicles/van-2", json!({})).await.status,
        403
    );

    // Lifecycle by hand: a breakdown and back pass; `rented` belongs to the rental flow, and
    // illegal transitions are 409.
    let st = |to: &str| json!({"status": to});
    let r = a.post("/v1/vehicles/truck-1/status", st("rented")).await;
    is(&r, 409, "illegal_transition", "");
    assert_eq!(
        a.get("/v1/vehicles/truck-1").await.json()["status"],
        "active"
    );
    let r = a
        .post("/v1/vehicles/truck-1/status", st("under_maintenance"))
        .await;
    assert_eq!(r.json()["status"], "under_maintenance");
    let r = a.post("/v1/vehicles/truck-1/status", st("rented")).await;
    is(&r, 409, "illegal_transition", "");
    assert_eq!(
        a.post("/v1/vehicles/truck-1/status", st("active"))
            .await
            .status,
        200
    );
    assert_eq!(
        a.post("/v1/vehicles/truck-1/status", st("active"))
            .await
            .status,
        409
    );
    assert_eq!(
        a.post("/v1/vehicles/truck-1/status", st("retired"))
            .await
            .status,
        422
    );
    assert_eq!(
        a.post("/v1/vehicles/nope/status", st("active"))
            .await
            .status,
        404
    );
    assert_eq!(
        customer
            .post("/v1/vehicles/truck-1/status", st("active"))
            .await
            .status,
        403
    );

    // Odometer readings never decrease, also when written straight to the database.
    let odo = |km: i64| json!({"reading_km": km});
    assert_eq!(
        a.post("/v1/vehicles/truck-1/odometer", odo(1000))
            .await
            .status,
        201
    );
    let r = a.post("/v1/vehicles/truck-1/odometer", odo(999)).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("reading_km"),
        "{}",
        r.body
    );
    assert_eq!(
        a.post("/v1/vehicles/truck-1/odometer", odo(-5))
            .await
            .status,
        422
    );
    assert_eq!(
        a.post("/v1/vehicles/nope/odometer", odo(5)).await.status,
        404
    );
    let db = api.db.client().await;
    let e = db
        .execute(
            "INSERT INTO odometer_readings (vehicle_id, reading_km, source) VALUES ('truck-1', 10, 'sql')",
            &[],
        )
        .await
        .unwrap_err();
    let db_err = e.as_db_error().unwrap();
    assert_eq!(
        db_err.constraint(),
        Some("odometer_never_decreases"),
        "{e:?}"
    );
    assert!(db
        .execute(
            "UPDATE vehicles SET odometer_km = 1 WHERE id = 'truck-1'",
            &[]
        )
        .await
        .is_err());
    let r = a.get("/v1/vehicles/truck-1").await;
    assert_eq!(r.json()["odometer_km"], 1000);

    // Decommission and soft delete.
    let r = a
        .post("/v1/vehicles/car-3/status", st("decommissioned"))
        .await;
    assert_eq!(r.json()["status"], "decommissioned");
    assert_eq!(
        a.post("/v1/vehicles/car-3/status", st("active"))
            .await
            .status,
        409
    );
    assert_eq!(dispatcher.delete("/v1/vehicles/car-3").await.status, 403);
    assert_eq!(a.delete("/v1/vehicles/car-3").await.status, 204);
    assert_eq!(a.get("/v1/vehicles/car-3").await.status, 404);
    assert_eq!(a.delete("/v1/vehicles/car-3").await.status, 404);
    let deleted: i64 = db
        .query_one(
            "SELECT count(*) FROM vehicles WHERE id = 'car-3' AND deleted_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(deleted, 1, "soft delete keeps the row");
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transitions_one_wins() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    // Twenty concurrent maintenance windows on one vehicle at the same time: one wins.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let c = a.clone();
        tasks.push(tokio::spawn(async move {
            c.post(
                "/v1/maintenance",
                json!({"vehicle_id": "v1", "description": format!("job {i}"),
                       "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T12:00:00Z"}),
            )
            .await
        }));
    }
    let mut ok = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => ok.push(r.json()["id"].as_str().unwrap().to_string()),
            409 => assert_eq!(r.code(), "overlap"),
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    assert_eq!(ok.len(), 1);
    // Starting the job and a breakdown reported by hand at once: both want the active
    // vehicle, exactly one applies, and the job's state says which.
    let job = ok[0].clone();
    let (c1, c2) = (a.clone(), a.clone());
    let path = format!("/v1/maintenance/{job}/start");
    let start = tokio::spawn(async move { c1.post(&path, json!({})).await });
    let breakdown = tokio::spawn(async move {
        c2.post(
            "/v1/vehicles/v1/status",
            json!({"status": "under_maintenance"}),
        )
        .await
    });
    let (s, b) = (start.await.unwrap(), breakdown.await.unwrap());
    let wins = [s.status, b.status].iter().filter(|s| **s == 200).count();
    assert_eq!(
        wins, 1,
        "start {} {}, breakdown {} {}",
        s.status, s.body, b.status, b.body
    );
    assert_eq!(
        a.get("/v1/vehicles/v1").await.json()["status"],
        "under_maintenance"
    );
    let job_status = a.get(&format!("/v1/maintenance/{job}")).await.json()["status"].clone();
    if s.status == 200 {
        assert_eq!(job_status, "in_progress");
        // The job owns the vehicle now: putting it back by hand would strand the job.
        let r = a
            .post("/v1/vehicles/v1/status", json!({"status": "active"}))
            .await;
        is(&r, 409, "maintenance_in_progress", "");
        assert!(r.body.contains(&job), "{}", r.body);
        let r = a
            .post(
                "/v1/vehicles/v1/status",
                json!({"status": "decommissioned"}),
            )
            .await;
        is(&r, 409, "vehicle_committed", "");
    } else {
        assert_eq!(job_status, "scheduled");
        assert_eq!(s.code(), "illegal_transition");
    }
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remaining_routes_success_and_errors() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    let (d_client, d) = driver(&api, "dee").await;
    let (cust, cust_user) = a.user("cee", "customer").await;

    // A customer reads its own customer profile, not others'.
    let r = a
        .post(
            "/v1/customers",
            json!({"name": "Cee", "email": "c@e.example", "user_id": cust_user}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cid = r.json()["id"].as_str().unwrap().to_string();
    let other = a
        .post(
            "/v1/customers",
            json!({"name": "Other", "email": "o@e.example"}),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cust.get(&format!("/v1/customers/{cid}")).await.status, 200);
    assert_eq!(
        cust.get(&format!("/v1/customers/{other}")).await.status,
        404
    );
    assert_eq!(a.get(&format!("/v1/customers/{other}")).await.status, 200);
    assert_eq!(a.get("/v1/customers/nope").await.status, 404);
    let r = a
        .post(
            "/v1/customers",
            json!({"name": "X", "email": "x@e.example", "user_id": d_client_user(&api).await}),
        )
        .await;
    assert_eq!(r.status, 422, "only customer users link: {}", r.body);
    assert_eq!(d_client.get("/v1/customers").await.status, 403);

    // A driver reads its own profile.
    assert_eq!(d_client.get(&format!("/v1/drivers/{d}")).await.status, 200);
    assert_eq!(a.get("/v1/drivers/nope").await.status, 404);
    assert_eq!(a.get("/v1/drivers?duty_status=sleeping").await.status, 422);

    // Assignments: complete frees the window; filters; bad ids.
    let body = json!({"driver_id": d, "vehicle_id": "v1",
                      "starts_at": "2030-01-01T08:00:00Z", "ends_at": "2030-01-01T16:00:00Z"});
    let id = a.post("/v1/assignments", body.clone()).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .get(&format!("/v1/assignments?driver_id={d}&vehicle_id=v1"))
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(a.get("/v1/assignments?driver_id=nope").await.status, 422);
    assert_eq!(
        d_client
            .post(&format!("/v1/assignments/{id}/complete"), json!({}))
            .await
            .status,
        403
    );
    let r = a
        .post(&format!("/v1/assignments/{id}/complete"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("completed"))
    );
    assert_eq!(
        a.post(&format!("/v1/assignments/{id}/complete"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        a.post("/v1/assignments/nope/complete", json!({}))
            .await
            .status,
        404
    );
    assert_eq!(a.get("/v1/assignments/nope").await.status, 404);
    let again = a.post("/v1/assignments", body).await;
    assert_eq!(again.status, 201, "completed frees it: {}", again.body);
    let shift = again.json()["id"].as_str().unwrap().to_string();

    // Maintenance: cancel frees the window; a decommissioned vehicle takes no new work.
    let w = json!({"vehicle_id": "v1", "description": "tyres",
                   "starts_at": "2030-02-01T08:00:00Z", "ends_at": "2030-02-01T10:00:00Z"});
    let job = a.post("/v1/maintenance", w.clone()).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .post(&format!("/v1/maintenance/{job}/cancel"), json!({}))
        .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("cancelled"))
    );
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/cancel"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/start"), json!({}))
            .await
            .status,
        409
    );
    let job2 = a.post("/v1/maintenance", w.clone()).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut bad = w.clone();
    bad["description"] = json!("");
    assert_eq!(a.post("/v1/maintenance", bad).await.status, 422);
    // Decommissioning waits until the vehicle's commitments are released.
    let r = a
        .post(
            "/v1/vehicles/v1/status",
            json!({"status": "decommissioned"}),
        )
        .await;
    is(&r, 409, "vehicle_committed", "");
    assert!(
        r.body.contains(&job2) || r.body.contains("assignment"),
        "{}",
        r.body
    );
    for path in [
        format!("/v1/maintenance/{job2}/cancel"),
        format!("/v1/assignments/{shift}/cancel"),
    ] {
        assert_eq!(a.post(&path, json!({})).await.status, 200, "{path}");
    }
    assert_eq!(
        a.post(
            "/v1/vehicles/v1/status",
            json!({"status": "decommissioned"})
        )
        .await
        .status,
        200
    );
    let mut later = w.clone();
    later["starts_at"] = json!("2031-01-01T00:00:00Z");
    later["ends_at"] = json!("2031-01-02T00:00:00Z");
    let r = a.post("/v1/maintenance", later).await;
    is(&r, 409, "vehicle_decommissioned", "");
    api.daemon.shutdown().await;
}

/// A fresh user with role driver, for "wrong role" links.
async fn d_client_user(api: &Api) -> String {
    api.admin.user("drv2", "driver").await.1
}
