//! Refresh tokens against a real daemon: a login answers a pair; a refresh token is used
//! once for the next pair; a used one presented again revokes its whole login; logout, a
//! role change and expiry kill them; concurrent refreshes with one token let one through;
//! hostile input is refused without a server error.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::common::api::{Api, Client, Resp, ADMIN_PASSWORD};
use crate::common::errors::is;

async fn login(api: &Api, user: &str, password: &str) -> Value {
    let r = api
        .anonymous()
        .post(
            "/v1/auth/token",
            json!({"username": user, "password": password}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

async fn refresh(api: &Api, token: &str) -> Resp {
    api.anonymous()
        .post("/v1/auth/refresh", json!({"refresh_token": token}))
        .await
}

fn rt(pair: &Value) -> String {
    pair["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string()
}

fn access(api: &Api, pair: &Value) -> Client {
    api.anonymous()
        .with_token(pair["access_token"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_rotates_once_and_reuse_revokes_the_login() {
    let api = Api::start().await;
    let first = login(&api, "admin", ADMIN_PASSWORD).await;
    assert_eq!(first["refresh_expires_in"], 2_592_000);
    assert!(rt(&first).starts_with("rt_"), "{first}");

    let r = refresh(&api, &rt(&first)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let second = r.json();
    assert_ne!(rt(&second), rt(&first));
    assert_eq!(second["token_type"], "Bearer");
    let me = access(&api, &second).get("/v1/users?limit=1").await;
    assert_eq!(me.status, 200, "the new access token works: {}", me.body);

    // The first token again: somebody else holds a copy. Both it and its successor die.
    let r = refresh(&api, &rt(&first)).await;
    is(&r, 401, "token_revoked", "a used refresh token");
    assert!(r.body.contains("already used"), "{}", r.body);
    let r = refresh(&api, &rt(&second)).await;
    is(&r, 401, "token_revoked", "the successor of a reused token");

    // Another login is a separate family, untouched.
    let other = login(&api, "admin", ADMIN_PASSWORD).await;
    let r = refresh(&api, &rt(&other)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_a_role_change_and_disabling_revoke_refresh_tokens() {
    let api = Api::start().await;
    let (_, uid) = api.admin.user("dana", "dispatcher").await;
    // The helper logs in with the standard test password.
    let pair = login(&api, "dana", "password-123").await;
    let r = access(&api, &pair).post("/v1/auth/logout", json!({})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    is(
        &refresh(&api, &rt(&pair)).await,
        401,
        "token_revoked",
        "after logout",
    );

    let pair = login(&api, "dana", "password-123").await;
    let r = api
        .admin
        .patch(&format!("/v1/users/{uid}"), json!({"role": "admin"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    is(
        &refresh(&api, &rt(&pair)).await,
        401,
        "token_revoked",
        "after a role change",
    );

    let pair = login(&api, "dana", "password-123").await;
    let r = api
        .admin
        .patch(&format!("/v1/users/{uid}"), json!({"active": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    is(
        &refresh(&api, &rt(&pair)).await,
        401,
        "token_revoked",
        "a disabled user",
    );
}

/// Ten refreshes at once with one token: exactly one gets a new pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_with_one_token_let_exactly_one_through() {
    let api = Api::start().await;
    let pair = login(&api, "admin", ADMIN_PASSWORD).await;
    let token = rt(&pair);
    let answers = futures_util::future::join_all((0..10).map(|_| refresh(&api, &token))).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        is(r, 401, "token_revoked", "a losing refresh");
    }
}

fn t0() -> DateTime<Utc> {
    "2031-07-01T12:00:00Z".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_expire_and_are_swept() {
    let (api, hand) = Api::start_at_with(t0(), |c| c.jwt.refresh_ttl_s = 7_200).await;
    let pair = login(&api, "admin", ADMIN_PASSWORD).await;
    assert_eq!(pair["refresh_expires_in"], 7_200);
    hand.advance(Duration::hours(1));
    let r = refresh(&api, &rt(&pair)).await;
    assert_eq!(r.status, 200, "an hour in: {}", r.body);
    let next = r.json();
    hand.advance(Duration::hours(2));
    is(
        &refresh(&api, &rt(&next)).await,
        401,
        "token_expired",
        "two hours later",
    );
    let pass = api.daemon.time_rules.pass().await.unwrap();
    // Ours (used, then its successor) and the harness's own admin login.
    assert_eq!(pass.refresh_tokens_expired, 3, "{pass:?}");
    is(
        &refresh(&api, &rt(&next)).await,
        401,
        "invalid_token",
        "swept",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_refresh_tokens_and_with_hostile_input() {
    let api = Api::start_with(|c| c.jwt.refresh_ttl_s = 0).await;
    let pair = login(&api, "admin", ADMIN_PASSWORD).await;
    assert!(pair.get("refresh_token").is_none(), "{pair}");
    assert!(pair.get("refresh_expires_in").is_none(), "{pair}");
    is(
        &refresh(&api, "rt_anything").await,
        401,
        "invalid_token",
        "disabled",
    );

    let api = Api::start().await;
    let anon = api.anonymous();
    for (body, status, code) in [
        (json!({"refresh_token": "rt_nope"}), 401, "invalid_token"),
        (json!({"refresh_token": ""}), 401, "invalid_token"),
        (
            json!({"refresh_token": "x".repeat(10_000)}),
            401,
            "invalid_token",
        ),
        // Only ever hashed, never stored or logged: a NUL is just an unknown token.
        (json!({"refresh_token": "rt_\u{0}"}), 401, "invalid_token"),
        (json!({"refresh_token": 5}), 422, "invalid_value"),
        (json!({}), 422, "invalid_value"),
        (
            json!({"refresh_token": "rt_x", "extra": 1}),
            422,
            "invalid_value",
        ),
    ] {
        let r = anon.post("/v1/auth/refresh", body.clone()).await;
        is(&r, status, code, &body.to_string());
    }
    let r = crate::common::api::raw(
        api.daemon.addr,
        "POST",
        "/v1/auth/refresh",
        &[("Content-Type", "application/json")],
        b"{\"refresh_token\": ".to_vec(),
    )
    .await;
    is(&r, 400, "malformed_request", "truncated JSON");
}
