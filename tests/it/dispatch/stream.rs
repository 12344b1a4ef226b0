//! `GET /v1/stream` (Server-Sent Events) against a real daemon: job transitions arrive in
//! order, each role sees only its own jobs, and bounding-box position streams are for staff
//! and carry only positions inside the box.

use crate::common::api::{customer, Api, Client};
use crate::common::dispatch::*;
use crate::common::*;
use fleetd::config::UnknownVehicles;
use serde_json::{json, Value};

const HERE: (f64, f64) = (51.5072, -0.1276);
/// About 25 km north: out of reach of jobs at `HERE` and outside the box around it.
const THERE: (f64, f64) = (51.73, -0.1276);

async fn open(c: &Client, path: &str) -> Sse {
    Sse::open(c, path)
        .await
        .unwrap_or_else(|r| panic!("GET {path}: {} {}", r.status, r.body))
}

/// `(seq, state)` of `job` events for `id` until (and including) state `last`; `job`
/// events of other jobs are returned in `others`.
async fn job_events(sse: &mut Sse, id: &str, last: &str) -> (Vec<(i64, String)>, Vec<Value>) {
    let events = sse
        .until(&format!("job {id} {last}"), |e| {
            e.event == "job" && e.json()["job_id"] == id && e.json()["state"] == last
        })
        .await;
    let mut mine = Vec::new();
    let mut others = Vec::new();
    for e in events.iter().filter(|e| e.event == "job") {
        let j = e.json();
        if j["job_id"] == id {
            mine.push((
                j["seq"].as_i64().unwrap(),
                j["state"].as_str().unwrap().to_string(),
            ));
        } else {
            others.push(j);
        }
    }
    (mine, others)
}

fn seq_states(v: &[(i64, &str)]) -> Vec<(i64, String)> {
    v.iter().map(|(s, st)| (*s, st.to_string())).collect()
}

async fn step(c: &Client, id: &str, step: &str) {
    let r = c
        .post(&format!("/v1/dispatch/jobs/{id}/{step}"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{step}: {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_transitions_stream_in_order_to_those_who_may_see_them() {
    let api = Api::start_with(|c| c.dispatch.staleness_s = 600).await;
    let (drv_a, a) = seat(&api, "driver-a", "veh-a", 1, &TRUCK, "available").await;
    let (drv_b, b) = seat(&api, "driver-b", "veh-b", 2, &TRUCK, "available").await;
    let (c1, _) = customer(&api, "cust-1").await;
    let (c2, _) = customer(&api, "cust-2").await;
    let publisher = Publisher::connect(&api.broker).await;
    let ts = now_ms() - 1_000;
    publish_fix(&publisher, "veh-a", ts, HERE.0, HERE.1).await;
    publish_fix(&publisher, "veh-b", ts, THERE.0, THERE.1).await;
    let sql = api.db.client().await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 2).await;
    let q = |p: (f64, f64)| format!("lat={}&lon={}", p.0, p.1);
    wait_nearest(&api.admin, &q(HERE), &["veh-a"]).await;
    wait_nearest(&api.admin, &q(THERE), &["veh-b"]).await;

    let mut staff = open(&api.admin, "/v1/stream").await;
    let mut s1 = open(&c1, "/v1/stream").await;
    let mut s2 = open(&c2, "/v1/stream?jobs=true").await;
    let mut sa = open(&drv_a, "/v1/stream").await;
    let mut sb = open(&drv_b, "/v1/stream").await;

    // Job 1 (customer 1, driver a) through every state.
    let job1 = create_job(&c1, HERE.0, HERE.1).await;
    let j = wait_job(&api.admin, &job1, "offered", |j| j["state"] == "offered").await;
    assert_eq!(j["driver_id"], a.as_str());
    for s in ["accept", "pickup", "complete"] {
        step(&drv_a, &job1, s).await;
    }
    let all = seq_states(&[
        (1, "pending"),
        (2, "offered"),
        (3, "assigned"),
        (4, "picked_up"),
        (5, "completed"),
    ]);
    let (got, _) = job_events(&mut staff, &job1, "completed").await;
    assert_eq!(got, all, "staff");
    let (got, others) = job_events(&mut s1, &job1, "completed").await;
    assert_eq!((got, others.len()), (all.clone(), 0), "customer 1");
    // The driver sees the events that concern them: not the creation.
    let (got, others) = job_events(&mut sa, &job1, "completed").await;
    assert_eq!((got, others.len()), (all[1..].to_vec(), 0), "driver a");
    let e = staff.next(std::time::Duration::ZERO).await;
    assert!(
        e.as_ref().is_none_or(|e| e.event != "job"),
        "nothing after completion: {e:?}"
    );

    // Job 2 (customer 2, driver b). Job 1's events came first on every stream, so the first
    // job event customer 2 and driver b see being job 2's shows they were never sent job 1's.
    let job2 = create_job(&c2, THERE.0, THERE.1).await;
    let j = wait_job(&c2, &job2, "offered", |j| j["state"] == "offered").await;
    assert_eq!(j["driver_id"], b.as_str());
    step(&drv_b, &job2, "accept").await;
    let (got, others) = job_events(&mut s2, &job2, "assigned").await;
    assert_eq!(others, Vec::<Value>::new(), "customer 2 saw other jobs");
    assert_eq!(got, all[..3].to_vec());
    let (got, others) = job_events(&mut sb, &job2, "assigned").await;
    assert_eq!(others, Vec::<Value>::new(), "driver b saw other jobs");
    assert_eq!(got, all[1..3].to_vec());
    let (got, _) = job_events(&mut staff, &job2, "assigned").await;
    assert_eq!(got, all[..3].to_vec());

    // Job 3 (customer 1, driver a): their next events are job 3's, not job 2's.
    let job3 = create_job(&c1, HERE.0, HERE.1).await;
    wait_job(&c1, &job3, "offered", |j| j["state"] == "offered").await;
    let (got, others) = job_events(&mut s1, &job3, "offered").await;
    assert_eq!((got, others), (all[..2].to_vec(), vec![]), "customer 1");
    let (got, others) = job_events(&mut sa, &job3, "offered").await;
    assert_eq!((got, others), (all[1..2].to_vec(), vec![]), "driver a");
    // Each event carries the job's creator and the driver concerned.
    let e = staff.expect("job").await.json();
    assert_eq!(e["job_id"], job3.as_str());
    assert!(e["created_by"].is_string() && e["at"].is_string(), "{e}");
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounding_box_streams_positions_inside_the_box_to_staff_only() {
    // The vehicles are never registered: their positions stream all the same.
    let api = Api::start_with(|c| c.ingest.unknown_vehicles = UnknownVehicles::Store).await;
    let (drv, _) = crate::common::api::driver(&api, "drv").await;
    let (cust, _) = customer(&api, "cust").await;
    let (dispatcher, _) = api.admin.user("disp", "dispatcher").await;
    let bbox = format!(
        "{},{},{},{}",
        HERE.0 - 0.05,
        HERE.1 - 0.05,
        HERE.0 + 0.05,
        HERE.1 + 0.05
    );
    for c in [&cust, &drv] {
        let r = Sse::open(c, &format!("/v1/stream?bbox={bbox}"))
            .await
            .err()
            .unwrap();
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "forbidden"),
            "{}",
            r.body
        );
    }
    for bad in [
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=52,0,51,1",
        "bbox=0,0,91,1",
        "bbox=0,-181,1,1",
        "bbox=NaN,0,1,1",
        "jobs=false",
        // An empty parameter counts as absent: still nothing to stream.
        "jobs=false&bbox=",
        "jobs=maybe",
        "colour=red",
    ] {
        let r = Sse::open(&api.admin, &format!("/v1/stream?{bad}"))
            .await
            .err()
            .unwrap();
        assert_eq!(
            (r.status, r.code().as_str()),
            (422, "invalid_value"),
            "{bad}: {}",
            r.body
        );
    }
    let r = Sse::open(&api.anonymous(), "/v1/stream")
        .await
        .err()
        .unwrap();
    assert_eq!(r.status, 401);

    let mut boxed = open(&dispatcher, &format!("/v1/stream?jobs=false&bbox={bbox}")).await;
    // A box across the antimeridian, for a vehicle just east of it.
    let mut wrap = open(&api.admin, "/v1/stream?jobs=false&bbox=-20,170,-10,-170").await;
    let publisher = Publisher::connect(&api.broker).await;
    let sql = api.db.client().await;
    let t = now_ms() - 10_000;
    // Outside first, each committed before the next: had "out" been streamed, it would
    // arrive before "in".
    publish_fix(&publisher, "out", t, THERE.0, THERE.1).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 1).await;
    // An older reading of "in" after a newer one does not become its position: not streamed.
    publish_fix(&publisher, "in", t + 1_000, HERE.0, HERE.1).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 2).await;
    publish_fix(&publisher, "in", t, HERE.0 + 0.01, HERE.1).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 3).await;
    publish_fix(&publisher, "in", t + 2_000, HERE.0 + 0.02, HERE.1).await;
    publish_fix(&publisher, "dateline", t, -15.0, -179.5).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 5).await;

    let mut seen = Vec::new();
    let events = boxed
        .until("the second position of `in`", |e| {
            e.event == "positions"
                && e.json()["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["lat"].as_f64() == Some(HERE.0 + 0.02))
        })
        .await;
    for e in &events {
        assert_eq!(e.event, "positions", "{e:?}");
        for p in e.json()["items"].as_array().unwrap() {
            seen.push((
                p["vehicle_id"].as_str().unwrap().to_string(),
                p["lat"].as_f64().unwrap(),
                p["ts"].as_str().unwrap().to_string(),
            ));
        }
    }
    let lats: Vec<f64> = seen.iter().map(|s| s.1).collect();
    assert!(seen.iter().all(|s| s.0 == "in"), "{seen:?}");
    assert_eq!(lats, [HERE.0, HERE.0 + 0.02], "{seen:?}");
    let e = wrap.expect("positions").await.json();
    assert_eq!(e["items"][0]["vehicle_id"], "dateline", "{e}");
    assert_eq!(e["items"].as_array().unwrap().len(), 1, "{e}");
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_notification_connection_tells_streams_to_resync_and_streaming_goes_on() {
    let api = Api::start().await;
    let (cust, _) = customer(&api, "cust").await;
    let mut staff = open(&api.admin, "/v1/stream").await;
    let sql = api.db.client().await;
    // The daemon's LISTEN connection, cut as a failover or an idle-session killer would.
    let cut = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
               WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND query LIKE 'LISTEN fleetd_roster%'";
    let killed: i64 = sql.query_one(cut, &[]).await.unwrap().get(0);
    assert_eq!(killed, 1, "exactly the listener's connection");
    let e = staff.expect("resync").await.json();
    assert_eq!(e["reason"], "job notifications were interrupted", "{e}");
    // Listening again: a job created now is streamed, seq 1 first.
    let job = create_job(&cust, HERE.0, HERE.1).await;
    let e = staff.expect("job").await.json();
    assert_eq!(
        (e["job_id"].as_str(), e["seq"].as_i64()),
        (Some(job.as_str()), Some(1)),
        "{e}"
    );
    api.daemon.shutdown().await;
}

/// A stream lives no longer than its token: logging out (or any revocation) ends every
/// stream of the user with `end` at once, and so does the token's expiry; a user holds at
/// most `http.max_streams_per_user` streams, and an ended stream frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_with_their_token_and_are_capped_per_user() {
    let api = Api::start_with(|c| c.http.max_streams_per_user = 2).await;
    let (cust, _) = customer(&api, "cap").await;
    let mut first = open(&cust, "/v1/stream").await;
    let mut second = open(&cust, "/v1/stream").await;
    let r = Sse::open(&cust, "/v1/stream").await.err().expect("a third");
    assert_eq!(
        (r.status, r.code().as_str()),
        (429, "rate_limited"),
        "{}",
        r.body
    );
    assert!(r.header("retry-after").is_some());
    let staff = open(&api.admin, "/v1/stream").await;

    // Logged out elsewhere: both streams end, and close.
    let other_device = api.anonymous().login("cap", "password-123").await;
    assert_eq!(
        other_device.post("/v1/auth/logout", json!({})).await.status,
        204
    );
    for s in [&mut first, &mut second] {
        let e = s.expect("end").await;
        assert_eq!(e.json(), json!({"reason": "token_revoked"}));
        assert!(s.next(PATIENCE).await.is_none(), "closed after `end`");
    }
    // Their places are free again.
    let cust = api.anonymous().login("cap", "password-123").await;
    let _a = open(&cust, "/v1/stream").await;
    let _b = open(&cust, "/v1/stream").await;
    drop(staff);

    // A token that expires in two seconds: the stream says so then, and closes.
    let (_, disp_id) = api.admin.user("shorty", "dispatcher").await;
    let now = chrono::Utc::now().timestamp();
    let short = crate::common::api::sign(json!({
        "sub": disp_id, "role": "dispatcher", "iat": now, "exp": now + 2, "ver": 0
    }));
    let mut s = open(&api.anonymous().with_token(&short), "/v1/stream").await;
    let e = s.expect("end").await;
    assert_eq!(e.json(), json!({"reason": "token_expired"}));
    assert!(s.next(PATIENCE).await.is_none(), "closed after `end`");
    api.daemon.shutdown().await;
}
