//! What a driver may do with vehicles, against a real daemon and PostgreSQL: record the
//! odometer only of the vehicle they drive, take a vehicle only with an assignment covering
//! now, never a decommissioned or deleted one.

use crate::common::api::{assign_now, driver, hours_from_now, vehicle, Api};
use crate::common::errors::is;
use serde_json::json;

/// A driver acts only on the vehicle they drive, and takes only one they are assigned to
/// now; nobody takes a decommissioned or deleted vehicle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_act_only_on_their_vehicle() {
    let api = Api::start().await;
    let a = &api.admin;
    for (id, n) in [("v1", 1), ("v2", 2), ("v3", 3), ("v4", 4), ("v5", 5)] {
        vehicle(a, id, n).await;
    }
    let (dee, d) = driver(&api, "dee").await;
    let (eve, e) = driver(&api, "eve").await;
    let take = |v: &str| json!({"current_vehicle_id": v});
    let dee_path = format!("/v1/drivers/{d}");

    // No assignment, or one that does not cover now: 409, and nothing changes.
    let r = dee.patch(&dee_path, take("v1")).await;
    is(&r, 409, "vehicle_not_assigned", "");
    assert!(r.body.contains("current_vehicle_id"), "{}", r.body);
    let later = json!({"driver_id": d, "vehicle_id": "v2",
                       "starts_at": hours_from_now(48), "ends_at": hours_from_now(56)});
    assert_eq!(a.post("/v1/assignments", later).await.status, 201);
    let r = dee.patch(&dee_path, take("v2")).await;
    is(&r, 409, "vehicle_not_assigned", "");
    assert!(a.get(&dee_path).await.json()["current_vehicle_id"].is_null());

    // Assigned now: the driver takes the vehicle and records its odometer.
    let shift = assign_now(a, &d, "v1", 8).await;
    let r = dee.patch(&dee_path, take("v1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["current_vehicle_id"], "v1");
    let odo = |km: i64| json!({"reading_km": km});
    let r = dee.post("/v1/vehicles/v1/odometer", odo(1200)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["odometer_km"], 1200);

    // Another vehicle's odometer: 403, and no reading is stored.
    let r = dee.post("/v1/vehicles/v2/odometer", odo(999_999)).await;
    is(&r, 403, "forbidden", "");
    let r = eve.post("/v1/vehicles/v1/odometer", odo(999_999)).await;
    is(&r, 403, "forbidden", "");
    assert_eq!(a.get("/v1/vehicles/v1").await.json()["odometer_km"], 1200);
    assert_eq!(a.get("/v1/vehicles/v2").await.json()["odometer_km"], 0);
    let db = api.db.client().await;
    let readings: i64 = db
        .query_one("SELECT count(*) FROM odometer_readings", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(readings, 1);
    // Staff record any vehicle's reading.
    assert_eq!(
        a.post("/v1/vehicles/v2/odometer", odo(10)).await.status,
        201
    );

    // A cancelled shift no longer lets the driver take the vehicle; having left it, the
    // driver can no longer record its odometer either.
    assert_eq!(
        dee.patch(&dee_path, json!({"current_vehicle_id": null}))
            .await
            .status,
        200
    );
    assert_eq!(
        dee.post("/v1/vehicles/v1/odometer", odo(1300)).await.status,
        403
    );
    let r = a
        .post(&format!("/v1/assignments/{shift}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = dee.patch(&dee_path, take("v1")).await;
    is(&r, 409, "vehicle_not_assigned", "");

    // Staff seat a driver without an assignment, but never in a decommissioned or deleted
    // vehicle, which are also refused to a driver assigned to them.
    let eve_path = format!("/v1/drivers/{e}");
    let r = a.patch(&eve_path, take("v5")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Nor is a vehicle decommissioned under its driver.
    let r = a
        .post(
            "/v1/vehicles/v5/status",
            json!({"status": "decommissioned"}),
        )
        .await;
    is(&r, 409, "vehicle_in_use", "");
    assert!(r.body.contains(&e), "{}", r.body);
    let r = a.delete("/v1/vehicles/v5").await;
    is(&r, 409, "vehicle_in_use", "");
    let r = a
        .post(
            "/v1/vehicles/v3/status",
            json!({"status": "decommissioned"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.patch(&eve_path, take("v3")).await;
    is(&r, 409, "vehicle_decommissioned", "");
    assert!(r.body.contains("current_vehicle_id"), "{}", r.body);
    assert_eq!(a.get(&eve_path).await.json()["current_vehicle_id"], "v5");
    assign_now(a, &d, "v4", 8).await;
    db.batch_execute("UPDATE vehicles SET status = 'decommissioned' WHERE id = 'v4'")
        .await
        .unwrap();
    let r = dee.patch(&dee_path, take("v4")).await;
    is(&r, 409, "vehicle_decommissioned", "");
    assert_eq!(a.delete("/v1/vehicles/v3").await.status, 204);
    let r = a.patch(&eve_path, take("v3")).await;
    is(&r, 422, "invalid_value", "");
    assert!(r.body.contains("current_vehicle_id"), "{}", r.body);
    // Clearing the vehicle never needs an assignment.
    let r = a
        .patch(&eve_path, json!({"current_vehicle_id": null}))
        .await;
    assert!(r.json()["current_vehicle_id"].is_null(), "{}", r.body);
    assert_eq!(
        a.delete("/v1/vehicles/v5").await.status,
        204,
        "driverless now"
    );
    api.daemon.shutdown().await;
}
