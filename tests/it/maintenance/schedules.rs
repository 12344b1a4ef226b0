//! `/v1/maintenance-schedules`: create, list, read, change and delete; staff only; every
//! field refused when malformed, out of range, oversized or hostile, with the field named,
//! and nothing stored.

use serde_json::json;

use crate::common::api::{vehicle, Api};
use crate::common::errors::{body_errors, each_invalid, is, list_errors, unknown_ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_created_listed_changed_and_deleted() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "ms-1", 1).await;
    let r = a
        .post(
            "/v1/maintenance-schedules",
            json!({ "name": "  Oil change ", "vehicle_id": "ms-1", "every_km": 15000,
                    "every_months": 12, "lead_km": 1000, "lead_days": 30 }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let s = r.json();
    assert_eq!(s["name"], "Oil change");
    assert_eq!(s["vehicle_id"], "ms-1");
    assert!(s["vehicle_type"].is_null());
    assert_eq!(
        (s["every_km"].as_i64(), s["every_months"].as_i64()),
        (Some(15000), Some(12))
    );
    assert_eq!(
        (s["lead_km"].as_i64(), s["lead_days"].as_i64()),
        (Some(1000), Some(30))
    );
    let id = s["id"].as_str().unwrap().to_string();
    let r = a
        .post(
            "/v1/maintenance-schedules",
            json!({ "name": "Tyres", "vehicle_type": "truck", "every_months": 6 }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.json()["lead_km"].as_i64(), r.json()["lead_days"].as_i64()),
        (Some(0), Some(0))
    );
    let tyres = r.json()["id"].as_str().unwrap().to_string();

    let r = a.get(&format!("/v1/maintenance-schedules/{id}")).await;
    assert_eq!(r.json(), s);
    let all = a.get("/v1/maintenance-schedules").await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    // The truck ms-1 has its own schedule and its type's.
    let mine = a
        .get("/v1/maintenance-schedules?vehicle_id=ms-1")
        .await
        .json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 2);
    let page = a.get("/v1/maintenance-schedules?limit=1").await.json();
    let next = page["next_cursor"].as_str().unwrap();
    let page2 = a
        .get(&format!("/v1/maintenance-schedules?limit=1&cursor={next}"))
        .await
        .json();
    assert_ne!(page["items"][0]["id"], page2["items"][0]["id"]);
    let trucks = a
        .get("/v1/maintenance-schedules?vehicle_type=truck")
        .await
        .json();
    assert_eq!(trucks["items"][0]["id"], tyres.as_str());

    // Change: km only (the months and their lead cleared together), then retarget to a type.
    let r = a
        .patch(
            &format!("/v1/maintenance-schedules/{id}"),
            json!({ "every_months": null, "lead_days": 0, "every_km": 20000 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["every_months"].is_null());
    assert_eq!(r.json()["every_km"], 20000);
    assert_eq!(r.json()["name"], "Oil change", "unchanged");
    let r = a
        .patch(
            &format!("/v1/maintenance-schedules/{id}"),
            json!({ "vehicle_type": "truck" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["vehicle_id"].is_null());
    assert_eq!(r.json()["vehicle_type"], "truck");
    // The last interval cannot go; a lead cannot outgrow its interval.
    let r = a
        .patch(
            &format!("/v1/maintenance-schedules/{id}"),
            json!({ "every_km": null, "lead_km": 0 }),
        )
        .await;
    is(&r, 422, "invalid_value", "no interval left");
    assert!(r.body.contains("every_km"), "{}", r.body);
    let r = a
        .patch(
            &format!("/v1/maintenance-schedules/{id}"),
            json!({ "every_km": 500 }),
        )
        .await;
    is(&r, 422, "invalid_value", "the lead of 1000 km is longer");
    assert!(r.body.contains("lead_km"), "{}", r.body);
    assert_eq!(
        a.get(&format!("/v1/maintenance-schedules/{id}"))
            .await
            .json()["every_km"],
        20000
    );

    assert_eq!(
        a.delete(&format!("/v1/maintenance-schedules/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        a.get(&format!("/v1/maintenance-schedules/{id}"))
            .await
            .status,
        404
    );
    let r = a
        .patch(
            &format!("/v1/maintenance-schedules/{id}"),
            json!({ "name": "x" }),
        )
        .await;
    is(&r, 404, "not_found", "patch a deleted schedule");
    assert_eq!(
        a.get("/v1/maintenance-schedules").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_refuse_bad_input_and_non_staff() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    vehicle(a, "ms-2", 2).await;
    let path = "/v1/maintenance-schedules";
    let base = json!({ "name": "S", "vehicle_id": "ms-2", "every_km": 1000, "every_months": 2 });
    each_invalid(
        a,
        "POST",
        path,
        base.clone(),
        &[
            ("name", json!("")),
            ("name", json!("   ")),
            ("name", json!("x".repeat(201))),
            ("name", json!("bad\u{0}name")),
            ("name", json!("line\nbreak")),
            ("name", json!(7)),
            ("-name", json!(null)),
            ("vehicle_id", json!("nope")),
            ("vehicle_id", json!("../../etc/passwd")),
            ("vehicle_id", json!("x".repeat(65))),
            ("vehicle_id", json!("")),
            ("vehicle_id", json!("ms-2'; DROP TABLE vehicles; --")),
            ("vehicle_id", json!(["ms-2"])),
            ("-vehicle_id", json!(null)),
            ("vehicle_type", json!("truck")),
            ("every_km", json!(0)),
            ("every_km", json!(-1)),
            ("every_km", json!(1_000_001)),
            ("every_km", json!(1.5)),
            ("every_km", json!("1000")),
            ("every_km", json!(1e300)),
            ("every_months", json!(0)),
            ("every_months", json!(121)),
            ("every_months", json!(9_999_999_999i64)),
            ("lead_km", json!(-1)),
            ("lead_km", json!(1000)),
            ("lead_km", json!(1_000_000)),
            ("lead_days", json!(-1)),
            ("lead_days", json!(56)),
            ("lead_days", json!(true)),
            ("bogus", json!(1)),
        ],
    )
    .await;
    let by_type = json!({ "name": "S", "vehicle_type": "van", "every_months": 1 });
    each_invalid(
        a,
        "POST",
        path,
        by_type.clone(),
        &[
            ("vehicle_type", json!("")),
            ("vehicle_type", json!("x".repeat(51))),
            ("vehicle_type", json!("v\u{0}an")),
            ("-every_months", json!(null)),
            ("every_months", json!(null)),
            ("lead_km", json!(5)),
            ("lead_days", json!(28)),
        ],
    )
    .await;
    body_errors(a, "POST", path).await;
    list_errors(a, path, true).await;
    list_errors(a, "/v1/maintenance/due", true).await;
    for q in ["status=late", "schedule_id=nope", "vehicle_type=van"] {
        let r = a.get(&format!("/v1/maintenance/due?{q}")).await;
        is(&r, 422, "invalid_value", q);
    }
    let r = a.get("/v1/maintenance/due?vehicle_id=%00").await;
    is(&r, 422, "invalid_value", "a NUL vehicle id");
    unknown_ids(a, "GET", path, "", None).await;
    unknown_ids(a, "PATCH", path, "", Some(json!({ "name": "x" }))).await;
    unknown_ids(a, "DELETE", path, "", None).await;

    // PATCH refusals change nothing.
    let r = a.post(path, base.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let before = r.json();
    let one = format!("{path}/{}", before["id"].as_str().unwrap());
    each_invalid(
        a,
        "PATCH",
        &one,
        json!({}),
        &[
            ("name", json!("")),
            ("vehicle_id", json!("nope")),
            ("vehicle_type", json!("")),
            ("every_km", json!(0)),
            ("every_months", json!(500)),
            ("lead_km", json!(1000)),
            ("lead_days", json!(-5)),
            ("bogus", json!(null)),
        ],
    )
    .await;
    let r = a
        .patch(&one, json!({ "vehicle_id": "ms-2", "vehicle_type": "van" }))
        .await;
    is(&r, 422, "invalid_value", "two targets");
    body_errors(a, "PATCH", &one).await;
    assert_eq!(a.get(&one).await.json(), before);

    // Nothing stored by any refusal: only the one schedule created above.
    let n: i64 = db
        .query_one("SELECT count(*) FROM maintenance_schedules", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    // Staff only: a driver and a customer are refused everywhere.
    let (driver, _) = crate::common::api::driver(&api, "ms-driver").await;
    let (customer, _) = crate::common::api::customer(&api, "ms-customer").await;
    for c in [&driver, &customer] {
        is(&c.get(path).await, 403, "forbidden", "list");
        is(&c.get(&one).await, 403, "forbidden", "read");
        is(
            &c.post(path, base.clone()).await,
            403,
            "forbidden",
            "create",
        );
        is(
            &c.patch(&one, json!({ "name": "x" })).await,
            403,
            "forbidden",
            "change",
        );
        is(&c.delete(&one).await, 403, "forbidden", "delete");
        is(&c.get("/v1/maintenance/due").await, 403, "forbidden", "due");
    }
    assert_eq!(a.get(&one).await.json(), before);
}
