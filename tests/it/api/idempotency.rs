//! `Idempotency-Key`: a retry replays the first answer and changes nothing, and the answer is
//! committed together with what the request changed, so neither a failure nor a daemon
//! killed mid-request leaves a key that blocks or lies.

use std::time::{Duration, Instant};

use crate::common::api::{customer, plan, reserve_body, vehicle, vehicle_body, Api, Client};
use crate::common::api::{ADMIN_PASSWORD, SECRET};
use crate::common::{config, count, Broker, ChildDaemon, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_replay_the_first_response() {
    let api = Api::start().await;
    let a = &api.admin;
    let body = vehicle_body("idem-1", 1);
    let first = a.post_key("/v1/vehicles", body.clone(), "k-1").await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), Some("false"));
    assert!(first.header("x-request-id").is_some());
    let again = a.post_key("/v1/vehicles", body.clone(), "k-1").await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), first.json());
    // Without the key the same body is a conflict: the key is what made it a retry.
    assert_eq!(a.post("/v1/vehicles", body.clone()).await.status, 409);
    // Same key, different body: 422.
    let r = a
        .post_key("/v1/vehicles", vehicle_body("idem-2", 2), "k-1")
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "idempotency_key_reused")
    );
    // Errors are replayed too (the first answer was a 409, the retry is the same 409).
    let e1 = a.post_key("/v1/vehicles", body.clone(), "k-2").await;
    assert_eq!(e1.status, 409);
    let e2 = a.post_key("/v1/vehicles", body.clone(), "k-2").await;
    assert_eq!(
        (e2.status, e2.header("idempotent-replayed")),
        (409, Some("true"))
    );
    assert_eq!(e2.json()["error"]["code"], e1.json()["error"]["code"]);
    // Keys are per user.
    let (disp, _) = a.user("disp", "dispatcher").await;
    let r = disp
        .post_key("/v1/vehicles", vehicle_body("idem-3", 3), "k-1")
        .await;
    assert_eq!(r.status, 201);
    // Hostile keys: too long, empty, not visible ASCII.
    for bad in ["x".repeat(300), String::new(), "k\u{7f}".into()] {
        let r = a.post_key("/v1/vehicles", body.clone(), &bad).await;
        assert!(r.status == 422 || r.status == 400, "{bad:?}: {}", r.status);
    }
    // SQL metacharacters are just characters.
    let sneaky = "k'; DROP TABLE vehicles; --";
    let r = a
        .post_key("/v1/vehicles", vehicle_body("idem-5", 5), sneaky)
        .await;
    assert_eq!(r.status, 201);
    let r = a
        .post_key("/v1/vehicles", vehicle_body("idem-5", 5), sneaky)
        .await;
    assert_eq!(r.header("idempotent-replayed"), Some("true"));

    // Concurrent requests with one key: the first runs, the others wait for it and replay
    // its answer; exactly one vehicle is created.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let c = a.clone();
        tasks.push(tokio::spawn(async move {
            c.post_key("/v1/vehicles", vehicle_body("idem-4", 4), "k-conc")
                .await
        }));
    }
    let mut originals = 0;
    let mut bodies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        if r.header("idempotent-replayed") == Some("false") {
            originals += 1;
        }
        bodies.push(r.json());
    }
    assert_eq!(originals, 1);
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let db = api.db.client().await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM vehicles WHERE id = 'idem-4'").await,
        1
    );
    api.daemon.shutdown().await;
}

/// A client error's partial effects are rolled back while its answer is kept; a server
/// error keeps nothing, so its retry really runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_keep_no_effects_and_5xx_is_not_remembered() {
    let api = Api::start().await;
    let a = &api.admin;
    vehicle(a, "car-1", 1).await;
    let plan = plan(a, crate::common::api::standard_plan()).await;
    let (_, customer_id) = customer(&api, "cust").await;
    let mut body = reserve_body(
        "car-1",
        &plan,
        "2030-01-01T00:00:00Z",
        "2030-01-03T00:00:00Z",
        100,
    );
    body["customer_id"] = customer_id.into();
    let r = a.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rental = r.json()["id"].as_str().unwrap().to_string();
    let path = format!("/v1/rentals/{rental}");
    let r = a
        .post(
            &format!("{path}/activate"),
            serde_json::json!({"odometer_km": 1000}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Completing moves the rental to `completed` before it finds the odometer below the
    // odometer out: the 422 is stored, the move is not.
    let low = serde_json::json!({"odometer_km": 900});
    let r = a
        .post_key(&format!("{path}/complete"), low.clone(), "c-1")
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "invalid_value"));
    assert_eq!(a.get(&path).await.json()["status"], "active");
    let r = a.post_key(&format!("{path}/complete"), low, "c-1").await;
    assert_eq!(
        (r.status, r.header("idempotent-replayed")),
        (422, Some("true"))
    );
    assert_eq!(a.get(&path).await.json()["status"], "active");

    // PostgreSQL down: 503, and the key is not remembered.
    api.db.take_offline().await;
    let ok = serde_json::json!({"odometer_km": 1200});
    let r = a
        .post_key(&format!("{path}/complete"), ok.clone(), "c-2")
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    api.db.bring_online().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let r = loop {
        let r = a
            .post_key(&format!("{path}/complete"), ok.clone(), "c-2")
            .await;
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("idempotent-replayed"), Some("false"));
    assert_eq!(r.json()["status"], "completed");
    api.daemon.shutdown().await;
}

/// `kill -9` while a keyed request is inside its transaction: PostgreSQL rolls back the
/// claim with the work, so the retry (to a restarted daemon) runs once and is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_leaves_no_claim_behind() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let c = config(&db, &broker);
    let env = [
        ("FLEETD_JWT_SECRET", SECRET),
        ("FLEETD_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("FLEETD_HTTP_RATE_LIMIT_PER_MINUTE", "0"),
    ];
    let daemon = ChildDaemon::start_with(&c, &env).await;
    let admin = Client::anonymous(daemon.addr)
        .login("admin", ADMIN_PASSWORD)
        .await;

    // Hold the vehicles table so the request blocks inside its transaction, after the claim.
    let mut blocker = db.client().await;
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE vehicles IN SHARE ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let body = vehicle_body("crash-1", 1);
    let pending = {
        let (admin, body) = (admin.clone(), body.clone());
        tokio::spawn(async move { admin.post_key("/v1/vehicles", body, "k-crash").await })
    };
    let watcher = db.client().await;
    let blocked = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'
                     AND query LIKE 'INSERT INTO vehicles%'";
    crate::common::wait_count(&watcher, blocked, 1).await;
    daemon.kill9();
    let answer = pending.await.unwrap();
    assert_eq!(
        answer.status, 0,
        "the killed daemon answered: {}",
        answer.body
    );
    lock.rollback().await.unwrap();
    crate::common::wait_count(
        &watcher,
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
        0,
    )
    .await;
    assert_eq!(
        count(&watcher, "SELECT count(*) FROM idempotency_keys").await,
        0
    );
    assert_eq!(count(&watcher, "SELECT count(*) FROM vehicles").await, 0);

    let daemon = ChildDaemon::start_with(&c, &env).await;
    let admin = admin.with_addr(daemon.addr);
    let r = admin
        .post_key("/v1/vehicles", body.clone(), "k-crash")
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("idempotent-replayed"), Some("false"));
    let r = admin.post_key("/v1/vehicles", body, "k-crash").await;
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(count(&watcher, "SELECT count(*) FROM vehicles").await, 1);
    let stored: i32 = watcher
        .query_one(
            "SELECT status FROM idempotency_keys WHERE key = 'k-crash'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 201);
}

/// A key older than the retention (24 h) is never replayed, swept or not: the request runs
/// afresh, even with another body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_runs_afresh() {
    let api = Api::start().await;
    let a = &api.admin;
    let r = a
        .post_key("/v1/vehicles", vehicle_body("exp-1", 1), "k-old")
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = a
        .post_key("/v1/vehicles", vehicle_body("exp-2", 2), "k-old")
        .await;
    assert_eq!(r.status, 422, "reused within the retention: {}", r.body);
    let db = api.db.client().await;
    db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute'
          WHERE key = 'k-old'",
        &[],
    )
    .await
    .unwrap();
    let r = a
        .post_key("/v1/vehicles", vehicle_body("exp-2", 2), "k-old")
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("idempotent-replayed"), Some("false"));
    assert_eq!(r.json()["id"], "exp-2");
    let r = a
        .post_key("/v1/vehicles", vehicle_body("exp-2", 2), "k-old")
        .await;
    assert_eq!(r.header("idempotent-replayed"), Some("true"), "fresh again");
    api.daemon.shutdown().await;
}
