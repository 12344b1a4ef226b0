//! Accounts and tokens against real daemons and PostgreSQL: a token dies with its user's
//! state (deleted, disabled, demoted, password changed, logged out), on every daemon at once;
//! a token claiming too long a life is refused; the last admin cannot be removed; logins are
//! limited per username and per address whatever token they carry, never stored for replay,
//! and never cached.

use crate::common::api::{driver, sign, Api, Client, ADMIN_PASSWORD, SECRET};
use crate::common::dispatch::eventually;
use crate::common::errors::is;
use crate::common::{config, InProcess};
use serde_json::json;

const PASSWORD: &str = "password-123";

async fn id_of(c: &Client) -> String {
    let r = c.get("/v1/me").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

/// Waits until `c`'s token is refused as revoked. Every daemon, the one that made the change
/// included, learns of it through PostgreSQL's NOTIFY, within moments of the commit.
async fn revoked(c: &Client, what: &str) {
    eventually(what, || async {
        let r = c.get("/v1/me").await;
        (r.status == 401).then(|| is(&r, 401, "token_revoked", what))
    })
    .await
}

/// A second daemon on the same database and broker, with the same secret.
async fn second_daemon(api: &Api) -> InProcess {
    let mut c = config(&api.db, &api.broker);
    c.jwt.secret = fleetd::config::Secret::new(SECRET);
    c.http.rate_limit_per_minute = 0;
    c.http.login_per_minute = 0;
    InProcess::start(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_die_with_their_users_state_on_every_daemon() {
    let api = Api::start().await;
    let a = &api.admin;
    let other = second_daemon(&api).await;
    let (disp, disp_id) = a.user("dee", "dispatcher").await;
    let disp_b = disp.with_addr(other.addr);
    // Both daemons now hold dee's state in their caches.
    assert_eq!(disp.get("/v1/vehicles").await.status, 200);
    assert_eq!(disp_b.get("/v1/vehicles").await.status, 200);

    // Demoted: the old token dies on both daemons at once; a new login has the new role.
    let r = a
        .patch(&format!("/v1/users/{disp_id}"), json!({"role": "customer"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["role"], "customer");
    revoked(&disp, "A").await;
    revoked(&disp_b, "B").await;
    let cust = api.anonymous().login("dee", PASSWORD).await;
    is(
        &cust.post("/v1/users", json!({})).await,
        403,
        "forbidden",
        "",
    );

    // Disabled: no token works and no login either; enabled again, a login works.
    let r = a
        .patch(&format!("/v1/users/{disp_id}"), json!({"active": false}))
        .await;
    assert_eq!((r.status, r.json()["active"].clone()), (200, json!(false)));
    revoked(&cust, "disabled").await;
    let r = api
        .anonymous()
        .post(
            "/v1/auth/token",
            json!({"username": "dee", "password": PASSWORD}),
        )
        .await;
    is(
        &r,
        401,
        "invalid_credentials",
        "a disabled user cannot log in",
    );
    a.patch(&format!("/v1/users/{disp_id}"), json!({"active": true}))
        .await;
    let cust = api.anonymous().login("dee", PASSWORD).await;
    assert_eq!(cust.get("/v1/me").await.status, 200);

    // Logout revokes every token of the caller (here, two logins), nobody else's.
    let cust2 = api.anonymous().login("dee", PASSWORD).await;
    assert_eq!(cust.post("/v1/auth/logout", json!({})).await.status, 204);
    revoked(&cust, "logged out").await;
    revoked(&cust2, "other device").await;
    assert_eq!(a.get("/v1/me").await.status, 200);

    // An operator's change in psql revokes just the same (the trigger, then NOTIFY).
    let (second, second_id) = a.user("root2", "admin").await;
    let second_b = second.with_addr(other.addr);
    assert_eq!(second_b.get("/v1/users").await.status, 200);
    let db = api.db.client().await;
    db.execute(
        "UPDATE users SET role = 'dispatcher' WHERE id = $1::text::uuid",
        &[&second_id],
    )
    .await
    .unwrap();
    revoked(&second_b, "psql role change").await;
    // A deleted admin's token can create nothing (it used to create another admin).
    let (third, third_id) = a.user("root3", "admin").await;
    let third_b = third.with_addr(other.addr);
    assert_eq!(third_b.get("/v1/users").await.status, 200);
    db.execute("DELETE FROM users WHERE id = $1::text::uuid", &[&third_id])
        .await
        .unwrap();
    revoked(&third, "deleted").await;
    revoked(&third_b, "deleted").await;
    for c in [&third, &third_b] {
        let r = c
            .post(
                "/v1/users",
                json!({"username": "sneaky", "password": PASSWORD, "role": "admin"}),
            )
            .await;
        is(&r, 401, "token_revoked", "deleted user");
    }

    // The notification connections cut (a failover, an idle-session killer): both daemons
    // stop trusting their caches, reconnect, and a change made meanwhile still revokes.
    let (fourth, fourth_id) = a.user("dot", "dispatcher").await;
    let fourth_b = fourth.with_addr(other.addr);
    assert_eq!(fourth_b.get("/v1/me").await.status, 200);
    let killed: i64 = db
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN fleetd_users%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 2, "one users listener per daemon");
    db.execute(
        "UPDATE users SET active = false WHERE id = $1::text::uuid",
        &[&fourth_id],
    )
    .await
    .unwrap();
    revoked(&fourth, "disabled while A's listener was down").await;
    revoked(&fourth_b, "disabled while B's listener was down").await;
    other.shutdown().await;
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_the_last_admin_profiles_and_token_lifetimes() {
    let api = Api::start().await;
    let a = &api.admin;
    let admin_id = id_of(a).await;
    let (disp, disp_id) = a.user("pat", "dispatcher").await;
    let path = format!("/v1/users/{disp_id}/password");

    // Own password: the current one is required and must match.
    is(
        &disp
            .post(&path, json!({"password": "new-password-1"}))
            .await,
        422,
        "invalid_value",
        "no current_password",
    );
    let r = disp
        .post(
            &path,
            json!({"password": "new-password-1", "current_password": "wrong-one"}),
        )
        .await;
    is(&r, 422, "invalid_value", "wrong current_password");
    is(
        &disp
            .post(
                &path,
                json!({"password": "short", "current_password": PASSWORD}),
            )
            .await,
        422,
        "invalid_value",
        "too short",
    );
    let r = disp
        .post(
            &path,
            json!({"password": "new-password-1", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    revoked(&disp, "own change").await;
    let r = api
        .anonymous()
        .post(
            "/v1/auth/token",
            json!({"username": "pat", "password": PASSWORD}),
        )
        .await;
    is(&r, 401, "invalid_credentials", "the old password");
    let disp = api.anonymous().login("pat", "new-password-1").await;
    // Another's password: only admins (others see no such user), with no current one.
    let (cust, cust_id) = a.user("cas", "customer").await;
    let r = disp
        .post(
            &format!("/v1/users/{cust_id}/password"),
            json!({"password": "hijacked-123", "current_password": "x"}),
        )
        .await;
    is(&r, 404, "not_found", "someone else's");
    let r = a
        .post(
            &format!("/v1/users/{cust_id}/password"),
            json!({"password": "reset-by-admin"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    revoked(&cust, "reset").await;
    api.anonymous().login("cas", "reset-by-admin").await;

    // A profile keeps its role; disabling a driver takes them off duty.
    let (drv_client, drv) = driver(&api, "dan").await;
    let r = drv_client
        .patch(
            &format!("/v1/drivers/{drv}"),
            json!({"duty_status": "available"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let user = id_of(&drv_client).await;
    is(
        &a.patch(&format!("/v1/users/{user}"), json!({"role": "dispatcher"}))
            .await,
        422,
        "invalid_value",
        "a driver profile needs the driver role",
    );
    let r = a
        .patch(&format!("/v1/users/{user}"), json!({"active": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.get(&format!("/v1/drivers/{drv}")).await;
    assert_eq!(r.json()["duty_status"], "off_duty");

    // The last active admin can be neither demoted nor disabled.
    let me = format!("/v1/users/{admin_id}");
    is(
        &a.patch(&me, json!({"role": "dispatcher"})).await,
        409,
        "last_admin",
        "demote",
    );
    is(
        &a.patch(&me, json!({"active": false})).await,
        409,
        "last_admin",
        "disable",
    );
    is(
        &a.patch(&me, json!({"role": "admin", "extra": 1})).await,
        422,
        "invalid_value",
        "unknown field",
    );
    assert_eq!(a.patch(&me, json!({"role": "admin"})).await.status, 200);
    is(
        &a.patch(
            "/v1/users/00000000-0000-0000-0000-000000000000",
            json!({"active": false}),
        )
        .await,
        404,
        "not_found",
        "",
    );
    let (second, _) = a.user("root2", "admin").await;
    assert_eq!(
        second.patch(&me, json!({"active": false})).await.status,
        200,
        "another admin remains"
    );
    revoked(a, "disabled admin").await;

    // Correctly signed, but claiming a life beyond jwt.max_ttl_s: refused.
    let second_id = id_of(&second).await;
    let now = chrono::Utc::now().timestamp();
    for (iat, exp) in [
        (now, i64::MAX),
        (now, now + 86_401),
        (now + 3_600, now + 7_200),
    ] {
        let t = sign(json!({"sub": second_id, "role": "admin", "iat": iat, "exp": exp}));
        let r = api.anonymous().with_token(&t).get("/v1/me").await;
        is(&r, 401, "invalid_token", &format!("iat {iat} exp {exp}"));
    }
    let t = sign(json!({"sub": second_id, "role": "admin", "iat": now, "exp": now + 60, "ver": 0}));
    assert_eq!(
        api.anonymous().with_token(&t).get("/v1/me").await.status,
        200,
        "the same claims within the limit"
    );
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_limited_per_username_and_address_and_never_stored() {
    let api = Api::start_with(|c| {
        c.http.login_per_minute = 1;
        c.http.login_burst = 3;
        c.http.rate_limit_per_minute = 1;
        c.http.rate_limit_burst = 1_000;
    })
    .await;
    let anon = api.anonymous();
    let login = |user: &str, password: &str| json!({"username": user, "password": password});

    // Not cacheable, not stored under an Idempotency-Key, even with a bearer token.
    let r = api
        .admin
        .post_key("/v1/auth/token", login("admin", ADMIN_PASSWORD), "k-login")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("idempotent-replayed"), None);
    let stored: i64 = api
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM idempotency_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);

    // Per username, whatever the password and the address: 3 attempts, then 429.
    for _ in 0..3 {
        let r = anon.post("/v1/auth/token", login("victim", "guess")).await;
        is(&r, 401, "invalid_credentials", "within the burst");
    }
    let r = anon.post("/v1/auth/token", login("victim", "guess")).await;
    is(&r, 429, "rate_limited", "the 4th guess");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let r = anon
        .post("/v1/auth/token", login("bystander", "guess"))
        .await;
    is(
        &r,
        401,
        "invalid_credentials",
        "another username is not limited",
    );
    api.daemon.shutdown().await;

    // Per address, ignoring the bearer token: two accounts do not double the budget.
    let api = Api::start_with(|c| {
        c.http.rate_limit_per_minute = 1;
        c.http.rate_limit_burst = 6;
    })
    .await;
    // Spent so far from this address: the admin's login and these two.
    let (x, _) = api.admin.user("x-user", "dispatcher").await;
    let (y, _) = api.admin.user("y-user", "dispatcher").await;
    for (n, c) in [&x, &y, &x].into_iter().enumerate() {
        let r = c.post("/v1/auth/token", login("target", "guess")).await;
        is(&r, 401, "invalid_credentials", &format!("attempt {n}"));
    }
    let r = y.post("/v1/auth/token", login("target", "guess")).await;
    is(&r, 429, "rate_limited", "the address's budget is spent");
    api.daemon.shutdown().await;
}

/// NUL and control characters anywhere a client can put them are a 4xx naming the problem,
/// never a 500 (each used to write an ERROR line to the log, without logging in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_anywhere_are_refused_not_errors() {
    let api = Api::start().await;
    let a = &api.admin;
    let anon = api.anonymous();
    let cases = [
        anon.post(
            "/v1/auth/token",
            json!({"username": "ad\u{0}min", "password": "x"}),
        )
        .await,
        anon.post(
            "/v1/auth/token",
            json!({"username": "admin", "password": "pa\u{0}ss"}),
        )
        .await,
        a.get("/v1/vehicles?type=tr%00uck").await,
        a.get("/v1/vehicles?cursor=%00").await,
        a.get("/v1/vehicles/tr%00uck").await,
        a.get("/v1/drivers/%00").await,
        a.post(
            "/v1/pricing-plans",
            json!({"name": "n\u{0}", "currency": "EUR", "daily_rate": 1,
                   "included_km_per_day": 1, "extra_km_rate": 1, "late_fee_per_hour": 1,
                   "free_cancellation_hours": 1, "cancellation_fee_pct": 1}),
        )
        .await,
        a.post(
            "/v1/users",
            json!({"username": "x", "password": "pass\u{0}word-1", "role": "driver"}),
        )
        .await,
        a.patch("/v1/vehicles/none", json!({"specs": {"k\u{0}": 1}}))
            .await,
    ];
    for (i, r) in cases.iter().enumerate() {
        assert!(
            (400..500).contains(&r.status),
            "case {i}: {} {}",
            r.status,
            r.body
        );
    }
    assert_eq!(cases[0].status, 401, "{}", cases[0].body);
    api.daemon.shutdown().await;
}
