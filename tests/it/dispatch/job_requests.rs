//! Dispatch job requests over HTTP: body validation (malformed, out-of-range, oversized and
//! hostile input) and the caps on what one customer may ask of the fleet.

use super::jobs::{job_path, status, step, BASE};
use crate::common::api::{customer, raw, Api};
use crate::common::errors::{each_invalid, is};
use crate::common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_requests_are_validated() {
    let api = Api::start_with(|c| c.http.max_body_bytes = 1 << 20).await;
    let a = &api.admin;
    let base = json!({"pickup": {"lat": 1.0, "lon": 2.0}});
    let path = "/v1/dispatch/jobs";
    let send = |body: &[u8]| {
        let auth = format!("Bearer {}", a.token.as_deref().unwrap());
        let body = body.to_vec();
        async move {
            raw(
                a.addr,
                "POST",
                path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                body,
            )
            .await
        }
    };
    for bad in [
        &b"{\"pickup\": {\"lat\": 1, \"lon\": 2}"[..],
        b"not json",
        b"{\"pickup\": {\"lat\": NaN, \"lon\": 0}}",
        b"{\"pickup\": {\"lat\": 1, \"lon\": 2}} {}",
        b"",
    ] {
        let r = send(bad).await;
        status(&r, 400, "malformed_request");
    }
    let big = format!(
        "{{\"pickup\": {{\"lat\": 1, \"lon\": 2}}, \"notes\": \"{}\"}}",
        "x".repeat(10 << 20)
    );
    status(&send(big.as_bytes()).await, 413, "payload_too_large");

    each_invalid(
        a,
        "POST",
        path,
        base.clone(),
        &[
            ("-pickup", json!(null)),
            ("pickup", json!({"lat": 91.0, "lon": 0.0})),
            ("pickup", json!({"lat": -90.5, "lon": 0.0})),
            ("pickup", json!({"lat": 0.0, "lon": 180.01})),
            ("pickup", json!({"lat": 0.0, "lon": -181})),
            ("pickup", json!({"lat": "1", "lon": 0.0})),
            ("pickup", json!({"lat": 1.0})),
            ("pickup", json!({"lat": 1.0, "lon": 2.0, "alt": 3.0})),
            ("dropoff", json!({"lat": -91.0, "lon": 0.0})),
            ("requirements", json!({"min_seats": -1})),
            ("requirements", json!({"min_load_kg": -5})),
            ("requirements", json!({"min_seats": 1e12})),
            ("requirements", json!({"min_seats": 99999999999i64})),
            ("requirements", json!({"vehicle_type": ""})),
            ("requirements", json!({"wheels": 4})),
            ("radius_m", json!(0)),
            ("radius_m", json!(-1.0)),
            ("radius_m", json!(1e9)),
            // Above dispatch.max_radius_m (1,000 km by default), though on Earth.
            ("radius_m", json!(1_000_000.5)),
            ("radius_m", json!(fleetd::live::geo::MAX_RADIUS_M)),
            ("radius_m", json!(1e308)),
            ("radius_m", json!("far")),
            ("notes", json!("")),
            ("notes", json!("n".repeat(1001))),
            ("priority", json!("high")),
        ],
    )
    .await;
    // The 422 names the field.
    let r = a
        .post(
            path,
            json!({"pickup": {"lat": 1.0, "lon": 2.0}, "dropoff": {"lat": 0.0, "lon": 999.0}}),
        )
        .await;
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("dropoff.lon"),
        "{}",
        r.body
    );
    let r = a
        .post(
            path,
            json!({"pickup": {"lat": 1.0, "lon": 2.0}, "requirements": {"min_seats": -1}}),
        )
        .await;
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("requirements.min_seats"),
        "{}",
        r.body
    );

    // A retried create with the same Idempotency-Key makes one job.
    let body = json!({"pickup": {"lat": 10.0, "lon": 10.0}});
    let r1 = a.post_key(path, body.clone(), "create-once").await;
    let r2 = a.post_key(path, body, "create-once").await;
    assert_eq!((r1.status, r2.status), (202, 202), "{}", r2.body);
    assert_eq!(r1.json()["id"], r2.json()["id"]);
    let sql = api.db.client().await;
    let n = count(
        &sql,
        "SELECT count(*) FROM dispatch_jobs WHERE pickup_lat = 10",
    )
    .await;
    assert_eq!(n, 1);

    // Roles: drivers do not create jobs; no token is 401.
    let (drv, _) = crate::common::api::driver(&api, "drv").await;
    status(&drv.post(path, base.clone()).await, 403, "forbidden");
    assert_eq!(api.anonymous().post(path, base.clone()).await.status, 401);
    // Unknown and malformed ids are 404 on every job route.
    for id in ["00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        status(&a.get(&format!("{path}/{id}")).await, 404, "not_found");
        status(&step(a, id, "cancel").await, 404, "not_found");
    }
    status(
        &a.get(&format!("{path}?limit=0")).await,
        422,
        "invalid_value",
    );
    status(
        &a.get(&format!("{path}?cursor=%21")).await,
        422,
        "invalid_value",
    );
    // A radius above the maximum is refused naming radius_m and the maximum.
    let r = a
        .post(
            path,
            json!({"pickup": {"lat": 1.0, "lon": 2.0}, "radius_m": 2_000_000.0}),
        )
        .await;
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("radius_m") && message.contains("1000000"),
        "{message}"
    );
    // A valid body is accepted, and the limits it sits on are inclusive.
    let r = a
        .post(
            path,
            json!({"pickup": {"lat": 90.0, "lon": -180.0}, "dropoff": {"lat": -90.0, "lon": 180.0},
                   "requirements": {"vehicle_type": "van", "min_seats": 0, "min_load_kg": 0},
                   "radius_m": fleetd::config::DispatchConfig::default().max_radius_m}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v: Value = r.json();
    assert_eq!(
        v["requirements"],
        json!({"vehicle_type": "van", "min_seats": 0, "min_load_kg": 0})
    );
    api.daemon.shutdown().await;
}

/// One customer cannot tie up the fleet: at most `dispatch.max_open_jobs_per_customer`
/// unfinished jobs, even when created all at once, and no wider search than the default
/// radius; a finished job frees its place; staff are not limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_open_jobs_and_radius_are_capped() {
    let api = Api::start_with(|c| {
        c.dispatch.max_open_jobs_per_customer = 3;
        c.dispatch.search_radius_m = 5_000.0;
    })
    .await;
    let (cust, _) = customer(&api, "greedy").await;
    let body = json!({"pickup": {"lat": BASE.0, "lon": BASE.1}});
    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let (c, b) = (cust.clone(), body.clone());
            tokio::spawn(async move { c.post("/v1/dispatch/jobs", b).await })
        })
        .collect();
    let mut created = Vec::new();
    for a in attempts {
        let r = a.await.unwrap();
        match r.status {
            202 => created.push(r.json()["id"].as_str().unwrap().to_string()),
            _ => is(&r, 409, "open_jobs_limit", "over the cap"),
        }
    }
    assert_eq!(created.len(), 3, "exactly the cap, under concurrency");
    let r = cust.post(&job_path(&created[0], "cancel"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        cust.post("/v1/dispatch/jobs", body.clone()).await.status,
        202,
        "a cancelled job frees its place"
    );
    let wide = json!({"pickup": {"lat": BASE.0, "lon": BASE.1}, "radius_m": 5_001.0});
    is(
        &cust.post("/v1/dispatch/jobs", wide.clone()).await,
        422,
        "invalid_value",
        "wider than the default radius",
    );
    for _ in 0..5 {
        assert_eq!(
            api.admin
                .post("/v1/dispatch/jobs", wide.clone())
                .await
                .status,
            202,
            "staff are not limited"
        );
    }
    api.daemon.shutdown().await;
}
