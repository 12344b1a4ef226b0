//! `GET /v1/maintenance/due` on a manual clock: a km schedule goes ok → due → overdue as the
//! odometer crosses it; a monthly schedule from 31 January falls due on 28 February, lead days
//! before; completing a linked job restarts the count; a type schedule applies to every live
//! vehicle of the type and to no other; a deleted schedule leaves the list at once.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::common::api::{vehicle_body, Api, Client, ADMIN_PASSWORD};
use crate::common::errors::is;

fn t0() -> DateTime<Utc> {
    "2031-01-31T10:00:00Z".parse().unwrap()
}

/// The admin with a token issued at the clock's now (moving the clock expires older ones).
async fn admin(api: &Api) -> Client {
    api.anonymous().login("admin", ADMIN_PASSWORD).await
}

async fn register(a: &Client, id: &str, n: u32, kind: &str) {
    let mut body = vehicle_body(id, n);
    body["type"] = json!(kind);
    let r = a.post("/v1/vehicles", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn reading(a: &Client, vehicle: &str, km: i64) {
    let r = a
        .post(
            &format!("/v1/vehicles/{vehicle}/odometer"),
            json!({ "reading_km": km }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn schedule(a: &Client, body: Value) -> String {
    let r = a.post("/v1/maintenance-schedules", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

/// The one item of `vehicle` and `schedule` in `GET /v1/maintenance/due?status=...`, or null.
async fn state(a: &Client, vehicle: &str, schedule: &str) -> Value {
    for status in ["ok", "due", "overdue"] {
        let r = a
            .get(&format!(
                "/v1/maintenance/due?status={status}&vehicle_id={vehicle}&schedule_id={schedule}"
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let items = r.json()["items"].as_array().unwrap().clone();
        assert!(items.len() <= 1, "{items:?}");
        if let Some(item) = items.into_iter().next() {
            assert_eq!(item["status"], status);
            return item;
        }
    }
    Value::Null
}

/// A linked job over `[now, now + 2 h)`, started and completed now.
async fn service(a: &Client, vehicle: &str, schedule: &str, now: DateTime<Utc>) -> String {
    let r = a
        .post(
            "/v1/maintenance",
            json!({ "vehicle_id": vehicle, "description": "service",
                    "starts_at": now.to_rfc3339(),
                    "ends_at": (now + Duration::hours(2)).to_rfc3339(),
                    "schedule_id": schedule }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["schedule_id"], schedule);
    let job = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .post(&format!("/v1/maintenance/{job}/start"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a
        .post(
            &format!("/v1/maintenance/{job}/complete"),
            json!({ "labour_cost": 100, "currency": "EUR" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["schedule_id"], schedule);
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kilometres_go_ok_due_overdue_and_a_completed_job_restarts_them() {
    let (api, hand) = Api::start_at(t0()).await;
    let a = &api.admin;
    register(a, "km-1", 1, "truck").await;
    reading(a, "km-1", 1_000).await;
    let s = schedule(
        a,
        json!({ "name": "Oil", "vehicle_id": "km-1", "every_km": 5000, "lead_km": 500 }),
    )
    .await;
    let st = state(a, "km-1", &s).await;
    assert_eq!(st["status"], "ok");
    assert_eq!(
        st["baseline_km"], 1_000,
        "the odometer when the schedule was created"
    );
    assert_eq!(st["due_at_km"], 6_000);
    assert_eq!(st["km_remaining"], 5_000);
    assert!(st["due_on"].is_null() && st["days_remaining"].is_null());
    assert!(st["last_job"].is_null());
    let r = a.get("/v1/maintenance/due").await;
    assert_eq!(
        r.json()["items"],
        json!([]),
        "only due and overdue by default"
    );

    hand.advance(Duration::minutes(10));
    reading(a, "km-1", 5_499).await;
    assert_eq!(state(a, "km-1", &s).await["km_remaining"], 501);
    assert_eq!(state(a, "km-1", &s).await["status"], "ok");
    reading(a, "km-1", 5_500).await;
    let st = state(a, "km-1", &s).await;
    assert_eq!(
        (st["status"].as_str(), st["km_remaining"].as_i64()),
        (Some("due"), Some(500))
    );
    reading(a, "km-1", 6_000).await;
    let st = state(a, "km-1", &s).await;
    assert_eq!(
        (st["status"].as_str(), st["km_remaining"].as_i64()),
        (Some("overdue"), Some(0))
    );
    reading(a, "km-1", 6_750).await;
    let r = a.get("/v1/maintenance/due").await;
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["km_remaining"], -750);
    assert_eq!(items[0]["odometer_km"], 6_750);

    // Serviced at 6,750 km: next at 11,750.
    hand.advance(Duration::minutes(10));
    let job = service(a, "km-1", &s, t0() + Duration::minutes(20)).await;
    let st = state(a, "km-1", &s).await;
    assert_eq!(st["status"], "ok");
    assert_eq!(st["due_at_km"], 11_750);
    assert_eq!(st["last_job"]["id"], job.as_str());
    assert_eq!(st["last_job"]["odometer_km"], 6_750);
    assert_eq!(
        st["last_job"]["completed_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        t0() + Duration::minutes(20)
    );
    // Readings after the completion count towards the next one, not the baseline.
    hand.advance(Duration::minutes(1));
    reading(a, "km-1", 11_300).await;
    let st = state(a, "km-1", &s).await;
    assert_eq!(
        (st["status"].as_str(), st["baseline_km"].as_i64()),
        (Some("due"), Some(6_750))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monthly_schedule_from_the_31st_falls_due_at_the_end_of_february() {
    let (api, hand) = Api::start_at(t0()).await;
    let a = &api.admin;
    register(a, "mo-1", 2, "van").await;
    let s = schedule(
        a,
        json!({ "name": "Inspection", "vehicle_id": "mo-1", "every_months": 1, "lead_days": 7 }),
    )
    .await;
    let st = state(a, "mo-1", &s).await;
    assert_eq!(st["due_on"], "2031-02-28", "31 January + 1 month, clamped");
    assert_eq!(
        (st["status"].as_str(), st["days_remaining"].as_i64()),
        (Some("ok"), Some(28))
    );
    assert!(st["due_at_km"].is_null());

    hand.set("2031-02-20T23:59:00Z".parse().unwrap());
    let a = &admin(&api).await;
    assert_eq!(state(a, "mo-1", &s).await["status"], "ok");
    hand.set("2031-02-21T00:00:00Z".parse().unwrap());
    let st = state(a, "mo-1", &s).await;
    assert_eq!(
        (st["status"].as_str(), st["days_remaining"].as_i64()),
        (Some("due"), Some(7))
    );
    hand.set("2031-02-28T00:00:00Z".parse().unwrap());
    let a = &admin(&api).await;
    let st = state(a, "mo-1", &s).await;
    assert_eq!(
        (st["status"].as_str(), st["days_remaining"].as_i64()),
        (Some("overdue"), Some(0))
    );

    // Serviced on 5 March: next on 5 April.
    let done: DateTime<Utc> = "2031-03-05T09:00:00Z".parse().unwrap();
    hand.set(done);
    let a = &admin(&api).await;
    service(a, "mo-1", &s, done).await;
    let st = state(a, "mo-1", &s).await;
    assert_eq!(
        (st["status"].as_str(), st["due_on"].as_str()),
        (Some("ok"), Some("2031-04-05"))
    );
    assert_eq!(
        st["baseline_km"], 0,
        "no reading ever: the vehicle's odometer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_schedule_applies_to_every_live_vehicle_of_the_type_until_deleted() {
    let (api, hand) = Api::start_at(t0()).await;
    let a = &api.admin;
    for (i, (id, kind)) in [
        ("van-a", "van"),
        ("van-b", "van"),
        ("truck-a", "truck"),
        ("van-old", "van"),
        ("van-gone", "van"),
    ]
    .into_iter()
    .enumerate()
    {
        register(a, id, 10 + i as u32, kind).await;
    }
    let r = a
        .post(
            "/v1/vehicles/van-old/status",
            json!({ "status": "decommissioned" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.delete("/v1/vehicles/van-gone").await.status, 204);
    let vans = schedule(
        a,
        json!({ "name": "Vans", "vehicle_type": "van", "every_months": 3 }),
    )
    .await;
    let own = schedule(
        a,
        json!({ "name": "Truck", "vehicle_id": "truck-a", "every_months": 6 }),
    )
    .await;

    // The list by vehicle: its own schedules and its type's.
    let r = a.get("/v1/maintenance-schedules?vehicle_id=van-a").await;
    let names: Vec<_> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Vans")]);
    let r = a.get("/v1/maintenance-schedules?vehicle_type=van").await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);

    hand.advance(Duration::days(100));
    let a = &admin(&api).await;
    let r = a.get("/v1/maintenance/due").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pairs: Vec<(String, String)> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["vehicle_id"].as_str().unwrap().into(),
                i["schedule_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("van-a".to_string(), vans.clone()),
            ("van-b".to_string(), vans.clone())
        ],
        "overdue vans first, by vehicle; the truck's 6 months are not up"
    );
    let r = a.get("/v1/maintenance/due?status=ok").await;
    let ok: Vec<_> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["schedule_id"].clone())
        .collect();
    assert_eq!(ok, vec![json!(own)]);
    let r = a.get("/v1/maintenance/due?vehicle_id=truck-a").await;
    assert_eq!(r.json()["items"], json!([]));
    // Pages of one chain through the same pairs.
    let first = a.get("/v1/maintenance/due?limit=1").await.json();
    assert_eq!(first["items"][0]["vehicle_id"], "van-a");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = a
        .get(&format!("/v1/maintenance/due?limit=1&cursor={cursor}"))
        .await
        .json();
    assert_eq!(second["items"][0]["vehicle_id"], "van-b");
    assert!(second["next_cursor"].is_null());

    // A linked job: the schedule must apply to its vehicle.
    let job = |vehicle: &str, schedule: &str| {
        json!({ "vehicle_id": vehicle, "description": "x",
                "starts_at": (t0() + Duration::days(101)).to_rfc3339(),
                "ends_at": (t0() + Duration::days(102)).to_rfc3339(), "schedule_id": schedule })
    };
    let r = a.post("/v1/maintenance", job("truck-a", &vans)).await;
    is(&r, 422, "invalid_value", "a van schedule for a truck");
    assert!(r.body.contains("schedule_id"), "{}", r.body);
    let r = a.post("/v1/maintenance", job("van-a", &own)).await;
    is(
        &r,
        422,
        "invalid_value",
        "the truck's own schedule for a van",
    );
    let r = a.post("/v1/maintenance", job("van-a", "not-a-uuid")).await;
    is(&r, 422, "invalid_value", "a malformed schedule id");
    assert!(r.body.contains("schedule_id"), "{}", r.body);
    let linked = a.post("/v1/maintenance", job("van-b", &vans)).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let linked = linked.json()["id"].as_str().unwrap().to_string();

    // Deleted: gone from the list at once; the job keeps its link; no new links.
    assert_eq!(
        a.delete(&format!("/v1/maintenance-schedules/{vans}"))
            .await
            .status,
        204
    );
    assert_eq!(
        a.get(&format!("/v1/maintenance-schedules/{vans}"))
            .await
            .status,
        404
    );
    assert_eq!(
        a.delete(&format!("/v1/maintenance-schedules/{vans}"))
            .await
            .status,
        404
    );
    assert_eq!(
        a.get("/v1/maintenance/due").await.json()["items"],
        json!([])
    );
    let r = a.get(&format!("/v1/maintenance/{linked}")).await;
    assert_eq!(r.json()["schedule_id"], vans.as_str());
    let r = a.post("/v1/maintenance", job("van-a", &vans)).await;
    is(&r, 422, "invalid_value", "a deleted schedule");
}
