//! The audit trail against a real daemon and PostgreSQL: every state-changing request is
//! recorded once with who, what, when and how it ended, secrets redacted; a replayed
//! idempotent request adds nothing; the trail is append-only, partitioned by month, and read
//! by admins only, with filters that refuse hostile input.

use serde_json::{json, Value};

use crate::common::api::{vehicle_body, Api, Client};
use crate::common::errors::is;

async fn trail(a: &Client, query: &str) -> Vec<Value> {
    let r = a.get(&format!("/v1/audit?{query}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_changing_request_is_recorded_once_with_its_outcome() {
    let api = Api::start().await;
    let a = &api.admin;
    let admin_id = trail(a, "entity=auth/token").await; // the harness's login
    assert_eq!(admin_id.len(), 1, "{admin_id:?}");
    assert_eq!(admin_id[0]["outcome"], "succeeded");
    assert_eq!(admin_id[0]["changes"]["password"], "[redacted]");

    let r = a.post("/v1/vehicles", vehicle_body("aud-1", 1)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = a.post("/v1/vehicles", vehicle_body("aud-1", 2)).await;
    is(&r, 409, "already_exists", "a duplicate");
    let got = trail(a, "entity=vehicles&entity_id=aud-1").await;
    assert_eq!(got.len(), 2, "{got:?}");
    let (refused, created) = (&got[0], &got[1]);
    assert_eq!(created["method"], "POST");
    assert_eq!(created["route"], "/v1/vehicles");
    assert_eq!(created["status"], 201);
    assert_eq!(created["outcome"], "succeeded");
    assert_eq!(created["role"], "admin");
    assert_eq!(created["ip"], "127.0.0.1");
    assert_eq!(created["changes"]["id"], "aud-1");
    assert!(created["request_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(refused["status"], 409);
    assert_eq!(refused["outcome"], "refused");
    assert!(
        refused["id"].as_i64() > created["id"].as_i64(),
        "newest first"
    );
    let user = created["user_id"].as_str().unwrap().to_string();

    // A change through a route parameter, then a bad login: both recorded.
    let r = a
        .patch("/v1/vehicles/aud-1", json!({"colour": "red"}))
        .await;
    let patched = trail(a, "entity=vehicles&entity_id=aud-1&limit=1").await;
    assert_eq!(patched[0]["route"], "/v1/vehicles/{id}");
    assert_eq!(patched[0]["status"], r.status);
    let r = api
        .anonymous()
        .post(
            "/v1/auth/token",
            json!({"username": "admin", "password": "guess"}),
        )
        .await;
    is(&r, 401, "invalid_credentials", "a wrong password");
    let logins = trail(a, "entity=auth/token&limit=1").await;
    assert_eq!(logins[0]["outcome"], "refused");
    assert_eq!(logins[0]["user_id"], Value::Null);
    assert_eq!(
        logins[0]["changes"],
        json!({"username": "admin", "password": "[redacted]"})
    );

    // An idempotent retry is recorded once.
    for _ in 0..3 {
        let r = a
            .post_key("/v1/vehicles", vehicle_body("aud-2", 3), "key-aud-2")
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert_eq!(trail(a, "entity_id=aud-2").await.len(), 1);

    // Reads are not recorded; filters by user and time.
    a.get("/v1/vehicles").await;
    let mine = trail(a, &format!("user={user}&limit=200")).await;
    assert!(mine.iter().all(|e| e["method"] != "GET"), "{mine:?}");
    // Two creates, the duplicate and the change (logins carry no token: no user).
    assert_eq!(mine.len(), 4, "{mine:?}");
    let first_at = created["at"].as_str().unwrap();
    let later = trail(
        a,
        &format!("from={}&limit=200", first_at.replace('+', "%2B")),
    )
    .await;
    assert!(later.iter().all(|e| e["at"].as_str().unwrap() >= first_at));
    let earlier = trail(a, &format!("to={}&limit=200", first_at.replace('+', "%2B"))).await;
    assert!(earlier.iter().all(|e| e["at"].as_str().unwrap() < first_at));

    // Pages chain without repeats.
    let r = a.get("/v1/audit?limit=2").await;
    let cursor = r.json()["next_cursor"].as_str().unwrap().to_string();
    let first: Vec<i64> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let next = trail(a, &format!("limit=2&cursor={cursor}")).await;
    assert!(next[0]["id"].as_i64().unwrap() < *first.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_is_append_only_partitioned_and_for_admins() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    for sql in [
        "UPDATE audit_log SET outcome = 'succeeded'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let e = db.batch_execute(sql).await.unwrap_err();
        assert!(format!("{e:?}").contains("append-only"), "{sql}: {e:?}");
    }
    let partitions: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_log'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        partitions >= 5,
        "this month, 3 ahead and the default: {partitions}"
    );
    let in_default: i64 = db
        .query_one("SELECT count(*) FROM audit_log_default", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        in_default, 0,
        "this month's rows are in their own partition"
    );

    let (dispatcher, _) = a.user("auditee", "dispatcher").await;
    is(
        &dispatcher.get("/v1/audit").await,
        403,
        "forbidden",
        "admins only",
    );
    let empty = trail(a, "from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z").await;
    assert!(empty.is_empty(), "an empty window: {empty:?}");
    for (query, what) in [
        ("cursor=nope", "a bad cursor"),
        ("entity=a%00b", "a NUL"),
        ("user=not-a-uuid", "a bad user id"),
        ("from=yesterday", "a bad time"),
        ("limit=0", "limit 0"),
        ("limit=201", "limit 201"),
        ("colour=red", "an unknown parameter"),
    ] {
        let r = a.get(&format!("/v1/audit?{query}")).await;
        is(&r, 422, "invalid_value", what);
    }
}
