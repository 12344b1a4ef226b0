//! Dispatch jobs end to end over HTTP against a real daemon, PostgreSQL and Mosquitto:
//! creation, background matching to the nearest available driver, the drivers' and staff's
//! transitions, visibility per role, declines and giving up. Request validation and the
//! per-customer limits are in [`super::job_requests`].

use crate::common::api::{customer, Api, Client};
use crate::common::dispatch::*;
use crate::common::*;
use serde_json::json;

pub(super) const BASE: (f64, f64) = (48.8566, 2.3522);

/// Fast retries so that "no candidate" ends in `unassigned` within a second.
fn fast_retries(c: &mut fleetd::config::Config) {
    c.dispatch.staleness_s = 600;
    c.dispatch.retry_base_ms = 100;
    c.dispatch.retry_max_ms = 400;
    c.dispatch.max_attempts = 3;
}

/// Drivers `a` (100 m from `BASE`) and `b` (500 m), both available, with fresh positions.
async fn two_drivers(api: &Api) -> ((Client, String), (Client, String)) {
    let a = seat(api, "driver-a", "veh-a", 1, &TRUCK, "available").await;
    let b = seat(api, "driver-b", "veh-b", 2, &TRUCK, "available").await;
    let publisher = Publisher::connect(&api.broker).await;
    let ts = now_ms() - 1_000;
    for (v, north) in [("veh-a", 100.0), ("veh-b", 500.0)] {
        let (lat, lon) = offset(BASE.0, BASE.1, north, 0.0);
        publish_fix(&publisher, v, ts, lat, lon).await;
    }
    let sql = api.db.client().await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 2).await;
    wait_nearest(&api.admin, &base_query(), &["veh-a", "veh-b"]).await;
    (a, b)
}

fn base_query() -> String {
    format!("lat={}&lon={}", BASE.0, BASE.1)
}

pub(super) fn job_path(id: &str, step: &str) -> String {
    format!("/v1/dispatch/jobs/{id}/{step}")
}

pub(super) async fn step(c: &Client, id: &str, step: &str) -> crate::common::api::Resp {
    c.post(&job_path(id, step), json!({})).await
}

#[track_caller]
pub(super) fn status(r: &crate::common::api::Resp, want: u16, code: &str) {
    assert_eq!((r.status, r.code().as_str()), (want, code), "{}", r.body);
}

async fn duty(api: &Api, driver_id: &str) -> String {
    let r = api.admin.get(&format!("/v1/drivers/{driver_id}")).await;
    r.json()["duty_status"].as_str().unwrap().to_string()
}

fn list_ids(r: &crate::common::api::Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.body);
    items(r)
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_goes_to_the_nearest_driver_and_walks_its_states() {
    let api = Api::start_with(fast_retries).await;
    let ((drv_a, a), (drv_b, b)) = two_drivers(&api).await;
    let (c1, _) = customer(&api, "cust-1").await;
    let (c2, _) = customer(&api, "cust-2").await;
    let (dispatcher, _) = api.admin.user("disp", "dispatcher").await;

    let r = c1
        .post(
            "/v1/dispatch/jobs",
            json!({"pickup": {"lat": BASE.0, "lon": BASE.1},
                   "dropoff": {"lat": 48.86, "lon": 2.36}, "notes": "ring twice"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["state"], "pending");
    assert_eq!(created["radius_m"], 10_000.0, "the configured default");
    assert_eq!(created["dropoff"], json!({"lat": 48.86, "lon": 2.36}));
    assert_eq!(
        history(&created),
        [("pending".into(), "created".into(), None)]
    );

    // The matcher offers it to the nearest available driver.
    let offered = wait_job(&api.admin, &id, "offered", |j| j["state"] == "offered").await;
    assert_eq!(offered["driver_id"], a.as_str());
    assert_eq!(offered["vehicle_id"], "veh-a");
    assert!(offered["offer_expires_at"].is_string(), "{offered}");
    assert!(offered["next_attempt_at"].is_null(), "{offered}");

    // Who sees it: staff, its customer, the offered driver; nobody else.
    assert_eq!(c1.get(&format!("/v1/dispatch/jobs/{id}")).await.status, 200);
    assert_eq!(
        dispatcher
            .get(&format!("/v1/dispatch/jobs/{id}"))
            .await
            .status,
        200
    );
    assert_eq!(
        drv_a.get(&format!("/v1/dispatch/jobs/{id}")).await.status,
        200
    );
    status(
        &c2.get(&format!("/v1/dispatch/jobs/{id}")).await,
        404,
        "not_found",
    );
    status(
        &drv_b.get(&format!("/v1/dispatch/jobs/{id}")).await,
        404,
        "not_found",
    );
    assert_eq!(list_ids(&c1.get("/v1/dispatch/jobs").await), [id.as_str()]);
    assert!(list_ids(&c2.get("/v1/dispatch/jobs").await).is_empty());
    assert_eq!(
        list_ids(&drv_a.get("/v1/dispatch/jobs?state=offered").await),
        [id.as_str()]
    );
    assert!(list_ids(&drv_b.get("/v1/dispatch/jobs").await).is_empty());
    assert_eq!(
        list_ids(&api.admin.get("/v1/dispatch/jobs?state=offered").await),
        [id.as_str()]
    );
    assert!(list_ids(&api.admin.get("/v1/dispatch/jobs?state=assigned").await).is_empty());
    status(
        &api.admin.get("/v1/dispatch/jobs?state=lost").await,
        422,
        "invalid_value",
    );

    // Another driver cannot act on someone else's offer: it is not theirs to see (404).
    for s in ["accept", "decline", "pickup", "complete"] {
        status(&step(&drv_b, &id, s).await, 404, "not_found");
    }
    // Only drivers accept; customers cannot complete; drivers cannot cancel.
    status(&step(&c1, &id, "accept").await, 403, "forbidden");
    status(&step(&api.admin, &id, "accept").await, 403, "forbidden");
    status(&step(&c1, &id, "complete").await, 403, "forbidden");
    status(&step(&drv_a, &id, "cancel").await, 403, "forbidden");
    // Illegal transitions from offered.
    status(
        &step(&drv_a, &id, "pickup").await,
        409,
        "illegal_transition",
    );
    status(
        &step(&drv_a, &id, "complete").await,
        409,
        "illegal_transition",
    );

    let r = drv_a
        .post_key(&job_path(&id, "accept"), json!({}), "accept-once")
        .await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("assigned")),
        "{}",
        r.body
    );
    // A retry with the same Idempotency-Key gets the first answer, not a 409.
    let again = drv_a
        .post_key(&job_path(&id, "accept"), json!({}), "accept-once")
        .await;
    assert_eq!((again.status, again.body.clone()), (200, r.body.clone()));
    assert_eq!(duty(&api, &a).await, "busy");
    // A busy driver is no longer offered.
    wait_nearest(&api.admin, &base_query(), &["veh-b"]).await;
    status(
        &step(&drv_a, &id, "accept").await,
        409,
        "illegal_transition",
    );
    status(
        &step(&drv_a, &id, "decline").await,
        409,
        "illegal_transition",
    );
    status(
        &step(&drv_a, &id, "complete").await,
        409,
        "illegal_transition",
    );

    let r = step(&drv_a, &id, "pickup").await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("picked_up"))
    );
    status(&step(&c1, &id, "cancel").await, 409, "illegal_transition");
    status(
        &step(&drv_a, &id, "pickup").await,
        409,
        "illegal_transition",
    );
    let r = step(&drv_a, &id, "complete").await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("completed"))
    );
    status(
        &step(&drv_a, &id, "complete").await,
        409,
        "illegal_transition",
    );
    status(
        &step(&api.admin, &id, "cancel").await,
        409,
        "illegal_transition",
    );
    assert_eq!(duty(&api, &a).await, "available");

    // The history, in order, as the customer sees it; the driver still sees the job.
    let done = c1.get(&format!("/v1/dispatch/jobs/{id}")).await.json();
    assert_eq!(done["state"], "completed");
    assert!(done["offer_expires_at"].is_null() && done["next_attempt_at"].is_null());
    let seqs: Vec<i64> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let ad = Some(a.clone());
    assert_eq!(
        history(&done),
        [
            ("pending".into(), "created".into(), None),
            ("offered".into(), "offered".into(), ad.clone()),
            ("assigned".into(), "accepted".into(), ad.clone()),
            ("picked_up".into(), "picked_up".into(), ad.clone()),
            ("completed".into(), "completed".into(), ad.clone()),
        ]
    );
    let at: Vec<String> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = at.clone();
    sorted.sort();
    assert_eq!(at, sorted, "history times never go back");
    assert_eq!(
        drv_a.get(&format!("/v1/dispatch/jobs/{id}")).await.status,
        200
    );

    // Cancelling: the customer cancels its own offered job; another customer cannot.
    wait_nearest(&api.admin, &base_query(), &["veh-a", "veh-b"]).await;
    let id2 = create_job(&c1, BASE.0, BASE.1).await;
    let j = wait_job(&api.admin, &id2, "offered", |j| j["state"] == "offered").await;
    assert_eq!(j["driver_id"], a.as_str());
    status(&step(&c2, &id2, "cancel").await, 404, "not_found");
    let r = step(&c1, &id2, "cancel").await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("cancelled"))
    );
    status(
        &step(&drv_a, &id2, "accept").await,
        409,
        "illegal_transition",
    );
    assert_eq!(duty(&api, &a).await, "available");
    // Staff cancel an assigned job, which frees its driver.
    wait_nearest(&api.admin, &base_query(), &["veh-a", "veh-b"]).await;
    let id3 = create_job(&c1, BASE.0, BASE.1).await;
    wait_job(&api.admin, &id3, "offered", |j| j["state"] == "offered").await;
    assert_eq!(step(&drv_a, &id3, "accept").await.status, 200);
    assert_eq!(duty(&api, &a).await, "busy");
    let r = step(&dispatcher, &id3, "cancel").await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("cancelled"))
    );
    assert_eq!(duty(&api, &a).await, "available");
    // So does the customer who made it (row-level security lets them reach that driver).
    wait_nearest(&api.admin, &base_query(), &["veh-a", "veh-b"]).await;
    let id4 = create_job(&c1, BASE.0, BASE.1).await;
    wait_job(&api.admin, &id4, "offered", |j| j["state"] == "offered").await;
    assert_eq!(step(&drv_a, &id4, "accept").await.status, 200);
    assert_eq!(duty(&api, &a).await, "busy");
    let r = step(&c1, &id4, "cancel").await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("cancelled")),
        "{}",
        r.body
    );
    assert_eq!(duty(&api, &a).await, "available");
    let _ = b;
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declines_move_the_offer_on_and_no_candidate_ends_unassigned() {
    let api = Api::start_with(fast_retries).await;
    let ((drv_a, a), (drv_b, b)) = two_drivers(&api).await;
    let (c1, _) = customer(&api, "cust-1").await;
    let id = create_job(&c1, BASE.0, BASE.1).await;
    let j = wait_job(&c1, &id, "offered to a", |j| j["state"] == "offered").await;
    assert_eq!(j["driver_id"], a.as_str());
    let r = step(&drv_a, &id, "decline").await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("pending")),
        "{}",
        r.body
    );
    // `a` is available again and nearest, but is never offered this job again.
    let j = wait_job(&c1, &id, "offered to b", |j| j["state"] == "offered").await;
    assert_eq!(j["driver_id"], b.as_str());
    status(
        &drv_a.get(&format!("/v1/dispatch/jobs/{id}")).await,
        404,
        "not_found",
    );
    status(&step(&drv_a, &id, "accept").await, 404, "not_found");
    let r = step(&drv_b, &id, "decline").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = wait_job(&c1, &id, "unassigned", |j| j["state"] == "unassigned").await;
    assert_eq!(j["attempts"], 3);
    assert!(
        j["driver_id"].is_null() && j["next_attempt_at"].is_null(),
        "{j}"
    );
    let (ad, bd) = (Some(a.clone()), Some(b.clone()));
    let p = |s: &str, r: &str, d: &Option<String>| (s.to_string(), r.to_string(), d.clone());
    assert_eq!(
        history(&j),
        [
            p("pending", "created", &None),
            p("offered", "offered", &ad),
            p("pending", "declined", &ad),
            p("offered", "offered", &bd),
            p("pending", "declined", &bd),
            p("pending", "no_candidate", &None),
            p("pending", "no_candidate", &None),
            p("unassigned", "gave_up", &None),
        ]
    );
    status(&step(&c1, &id, "cancel").await, 409, "illegal_transition");
    let sql = api.db.client().await;
    let refused = count(
        &sql,
        &format!("SELECT count(*) FROM dispatch_job_refusals WHERE job_id = '{id}'"),
    )
    .await;
    assert_eq!(refused, 2);
    for d in [&a, &b] {
        assert_eq!(duty(&api, d).await, "available");
    }

    // A job nobody can serve: retries back off (base·2^(n-1)), then gives up.
    let far = create_job(&c1, -33.0, 151.0).await;
    let j = wait_job(&c1, &far, "unassigned", |j| j["state"] == "unassigned").await;
    let reasons: Vec<String> = history(&j).into_iter().map(|e| e.1).collect();
    assert_eq!(
        reasons,
        ["created", "no_candidate", "no_candidate", "gave_up"]
    );
    let at: Vec<chrono::DateTime<chrono::Utc>> = j["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap().parse().unwrap())
        .collect();
    // A round never runs before the job is due: at least 100 ms, then 200 ms apart.
    assert!(
        at[2] - at[1] >= chrono::Duration::milliseconds(100),
        "{at:?}"
    );
    assert!(
        at[3] - at[2] >= chrono::Duration::milliseconds(200),
        "{at:?}"
    );
    api.daemon.shutdown().await;
}
