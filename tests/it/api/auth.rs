//! The API foundation against a real daemon and PostgreSQL: tokens, roles, users, the error
//! envelope, request ids, body limits, JSON errors, rate limiting and the OpenAPI document.

use crate::common::api::{vehicle_body, Api, ADMIN_PASSWORD, SECRET};
use base64::Engine;
use serde_json::json;

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// A token signed with `secret` (the real one, or a forger's).
fn token(secret: &[u8], claims: serde_json::Value) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_roles_and_users() {
    let api = Api::start().await;
    let anon = api.anonymous();

    // Token issuance.
    let r = anon
        .post(
            "/v1/auth/token",
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 3600);
    let r = anon
        .post(
            "/v1/auth/token",
            json!({"username": "admin", "password": "wrong"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_credentials"));
    let r = anon
        .post(
            "/v1/auth/token",
            json!({"username": "nobody", "password": "wrong"}),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = anon
        .post("/v1/auth/token", json!({"username": "admin"}))
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("password"), "{}", r.body);

    // Missing, malformed, forged and expired tokens.
    let r = anon.get("/v1/vehicles").await;
    assert_eq!((r.status, r.code().as_str()), (401, "missing_token"));
    let r = anon.with_token("not-a-jwt").get("/v1/vehicles").await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_token"));
    let r = anon
        .send(
            "GET",
            "/v1/vehicles",
            None,
            &[("Authorization", "Basic YWRtaW46eA==")],
        )
        .await;
    assert_eq!(r.status, 401);
    let me = api.admin.get("/v1/me").await;
    assert_eq!(me.status, 200);
    let admin_id = me.json()["id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp();
    let forged = token(
        b"forger-secret-forger-secret-forger!!",
        json!({"sub": admin_id, "role": "admin", "iat": now, "exp": now + 60}),
    );
    let r = anon.with_token(&forged).get("/v1/vehicles").await;
    assert_eq!((r.status, r.code().as_str()), (401, "invalid_token"));
    let expired = token(
        SECRET.as_bytes(),
        json!({"sub": admin_id, "role": "admin", "iat": now - 120, "exp": now - 60}),
    );
    let r = anon.with_token(&expired).get("/v1/vehicles").await;
    assert_eq!((r.status, r.code().as_str()), (401, "token_expired"));
    let good = token(
        SECRET.as_bytes(),
        json!({"sub": admin_id, "role": "admin", "iat": now, "exp": now + 60}),
    );
    assert_eq!(anon.with_token(&good).get("/v1/vehicles").await.status, 200);

    // Users and roles.
    let (dispatcher, _) = api.admin.user("dana", "dispatcher").await;
    let (customer, customer_id) = api.admin.user("carl", "customer").await;
    let r = dispatcher
        .post(
            "/v1/users",
            json!({"username": "x1", "password": "password-123", "role": "admin"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    assert_eq!(customer.get("/v1/users").await.status, 403);
    // The role is checked before the body is even parsed.
    let r = customer.post("/v1/vehicles", json!({"bogus": 1})).await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = customer.send("POST", "/v1/pricing-plans", None, &[]).await;
    assert_eq!(r.status, 403);
    let r = api
        .admin
        .post(
            "/v1/users",
            json!({"username": "dana", "password": "password-123", "role": "driver"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "already_exists"));
    for bad in [
        json!({"username": "", "password": "password-123", "role": "driver"}),
        json!({"username": "ok", "password": "short", "role": "driver"}),
        json!({"username": "ok", "password": "password-123", "role": "emperor"}),
        json!({"username": "a'; DROP TABLE users; --", "password": "password-123", "role": "driver"}),
        json!({"username": "ok", "password": "password-123", "role": "driver", "admin": true}),
    ] {
        let r = api.admin.post("/v1/users", bad.clone()).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
    let r = customer.get("/v1/me").await;
    assert_eq!(r.json()["role"], "customer");
    assert_eq!(
        customer
            .get(&format!("/v1/users/{customer_id}"))
            .await
            .status,
        200
    );
    // Another user's profile is invisible to a customer, visible to an admin.
    assert_eq!(
        customer.get(&format!("/v1/users/{admin_id}")).await.status,
        404
    );
    assert_eq!(
        api.admin
            .get(&format!("/v1/users/{customer_id}"))
            .await
            .status,
        200
    );
    assert_eq!(api.admin.get("/v1/users/not-a-uuid").await.status, 404);
    let page = api.admin.get("/v1/users?limit=2").await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next_cursor"].as_str().unwrap();
    let page2 = api
        .admin
        .get(&format!("/v1/users?limit=2&cursor={next}"))
        .await
        .json();
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert!(page2["next_cursor"].is_null());
    assert_eq!(api.admin.get("/v1/users?limit=0").await.status, 422);
    assert_eq!(api.admin.get("/v1/users?limit=abc").await.status, 422);
    assert_eq!(api.admin.get("/v1/users?cursor=%27%3B--").await.status, 422);
    assert_eq!(api.admin.get("/v1/users?bogus=1").await.status, 422);
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_request_ids_limits_and_hostile_bodies() {
    let api = Api::start().await;
    let a = &api.admin;

    // x-request-id: echoed when sane, generated otherwise, also on errors.
    let r = a
        .send("GET", "/v1/vehicles", None, &[("x-request-id", "trace-42")])
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-42"));
    let r = a.get("/v1/nope").await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    assert_eq!(
        r.json()["error"]["request_id"].as_str(),
        r.header("x-request-id")
    );
    let r = a.delete("/v1/users").await;
    assert_eq!(r.status, 405);

    // 400 for JSON that does not parse, 422 for values that do not fit.
    let auth = format!("Bearer {}", a.token.as_ref().unwrap());
    let trailing = format!("{} x", vehicle_body("v0", 0));
    for (body, status) in [
        ("{\"id\": ", 400),
        ("not json", 400),
        (trailing.as_str(), 400),
        ("[]", 422),
        ("{}", 422),
        ("null", 422),
    ] {
        let r = crate::common::api::raw(
            api.daemon.addr,
            "POST",
            "/v1/vehicles",
            &[("Authorization", &auth)],
            body.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        r.code();
    }
    let mut v = vehicle_body("v1", 1);
    v["seats"] = json!("two");
    let r = a.post("/v1/vehicles", v).await;
    assert_eq!(r.status, 422);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("seats"));
    let mut v = vehicle_body("v1", 1);
    v["load_kg"] = json!(1e300);
    assert_eq!(a.post("/v1/vehicles", v).await.status, 422);
    let mut v = vehicle_body("v1", 1);
    v["year"] = json!(99999999999999_i64);
    assert_eq!(a.post("/v1/vehicles", v).await.status, 422);
    let mut v = vehicle_body("v1", 1);
    v["owner"] = json!("me");
    let r = a.post("/v1/vehicles", v).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("owner"), "{}", r.body);
    let mut v = vehicle_body("v1'; DROP TABLE vehicles; --", 1);
    assert_eq!(a.post("/v1/vehicles", v.clone()).await.status, 422);
    v["id"] = json!("v1");
    v["make"] = json!("Volvo'); DELETE FROM vehicles; --");
    assert_eq!(a.post("/v1/vehicles", v).await.status, 201);
    let r = a.get("/v1/vehicles/v1").await;
    assert_eq!(r.json()["make"], "Volvo'); DELETE FROM vehicles; --");

    // 10 MB body: 413 in the envelope, with and without an Idempotency-Key.
    let big = vec![b'x'; 10 << 20];
    for extra in [vec![], vec![("Idempotency-Key", "big")]] {
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend(extra);
        let r = crate::common::api::raw(
            api.daemon.addr,
            "POST",
            "/v1/vehicles",
            &headers,
            big.clone(),
        )
        .await;
        assert_eq!(r.status, 413, "{}", r.body);
        assert_eq!(r.code(), "payload_too_large");
    }
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    // One request per minute sustained, a burst of 3: the 4th is refused for ~60 s.
    let api = Api::start_with(|c| {
        c.http.rate_limit_per_minute = 1;
        c.http.rate_limit_burst = 3;
    })
    .await;
    // The login in Api::start used one token of the anonymous IP bucket, not the admin's.
    for _ in 0..3 {
        assert_eq!(api.admin.get("/v1/me").await.status, 200);
    }
    let r = api.admin.get("/v1/me").await;
    assert_eq!((r.status, r.code().as_str()), (429, "rate_limited"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Other clients have their own budget; unversioned routes are not limited.
    let (dispatcher, _) = {
        // Creating a user costs the admin a request too, so make one with SQL.
        let client = api.db.client().await;
        let hash: String = client
            .query_one(
                "SELECT password_hash FROM users WHERE username = 'admin'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        client
            .execute(
                "INSERT INTO users (id, username, password_hash, role) VALUES (gen_random_uuid(), 'd', $1, 'dispatcher')",
                &[&hash],
            )
            .await
            .unwrap();
        (api.admin.login("d", ADMIN_PASSWORD).await, ())
    };
    assert_eq!(dispatcher.get("/v1/me").await.status, 200);
    assert_eq!(api.admin.get("/healthz").await.status, 200);
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_every_route() {
    let api = Api::start().await;
    let r = api.anonymous().get("/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // docs/http.md's routes owned by this API, and every documented route is served:
    // a request to it never reaches the router's 404/405 fallbacks.
    let required = [
        ("post", "/v1/auth/token"),
        ("post", "/v1/auth/refresh"),
        ("patch", "/v1/customers/{id}"),
        ("patch", "/v1/pricing-plans/{id}"),
        ("get", "/v1/audit"),
        ("get", "/v1/availability"),
        ("post", "/v1/vehicles"),
        ("get", "/v1/vehicles"),
        ("get", "/v1/vehicles/{id}"),
        ("patch", "/v1/vehicles/{id}"),
        ("post", "/v1/vehicles/{id}/status"),
        ("post", "/v1/drivers"),
        ("get", "/v1/drivers"),
        ("get", "/v1/drivers/{id}"),
        ("patch", "/v1/drivers/{id}"),
        ("post", "/v1/rentals/quote"),
        ("post", "/v1/rentals"),
        ("post", "/v1/rentals/{id}/activate"),
        ("post", "/v1/rentals/{id}/complete"),
        ("post", "/v1/rentals/{id}/cancel"),
        ("post", "/v1/maintenance"),
        ("post", "/v1/maintenance/{id}/start"),
        ("post", "/v1/maintenance/{id}/complete"),
        ("get", "/healthz"),
        ("get", "/openapi.json"),
    ];
    for (method, path) in required {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from openapi.json"
        );
    }
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
            let r = api
                .admin
                .send(&method.to_ascii_uppercase(), &concrete, None, &[])
                .await;
            assert!(
                r.status != 405 && !(r.status == 404 && r.body.contains("no such route")),
                "{method} {path} is documented but not routed: {} {}",
                r.status,
                r.body
            );
            assert!(op["responses"].is_object(), "{method} {path}");
        }
    }
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_jwt_secret_the_api_is_unavailable() {
    let db = crate::common::TestDb::create().await;
    let broker = crate::common::Broker::start();
    let daemon = crate::common::InProcess::start(crate::common::config(&db, &broker)).await;
    let anon = crate::common::api::Client::anonymous(daemon.addr);
    let r = anon
        .post(
            "/v1/auth/token",
            json!({"username": "admin", "password": "x"}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (503, "unavailable"));
    assert_eq!(anon.get("/v1/vehicles").await.status, 503);
    assert_eq!(anon.get("/openapi.json").await.status, 200);
    daemon.shutdown().await;
}

/// Driven by the OpenAPI document: every authenticated route refuses a missing, forged or
/// expired token with 401, and every role it does not list with 403 (before any body or
/// path is looked at).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_tokens_and_roles() {
    let api = Api::start().await;
    let mut by_role = std::collections::HashMap::new();
    by_role.insert("admin".to_string(), api.admin.clone());
    for role in ["dispatcher", "driver", "customer"] {
        let (c, _) = api.admin.user(&format!("u-{role}"), role).await;
        by_role.insert(role.to_string(), c);
    }
    let admin_id = api.admin.get("/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = chrono::Utc::now().timestamp();
    let forged = token(
        b"forger-secret-forger-secret-forger!!",
        json!({"sub": admin_id, "role": "admin", "iat": now, "exp": now + 60}),
    );
    let expired = token(
        SECRET.as_bytes(),
        json!({"sub": admin_id, "role": "admin", "iat": now - 120, "exp": now - 1}),
    );
    let doc = api.anonymous().get("/openapi.json").await.json();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(roles) = op["x-roles"].as_array() else {
                continue;
            };
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
            let m = method.to_ascii_uppercase();
            let anon = api.anonymous();
            let r = anon.send(&m, &concrete, None, &[]).await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (401, "missing_token"),
                "{m} {path}"
            );
            for (bad, code) in [(&forged, "invalid_token"), (&expired, "token_expired")] {
                let r = anon.with_token(bad).send(&m, &concrete, None, &[]).await;
                assert_eq!((r.status, r.code().as_str()), (401, code), "{m} {path}");
            }
            for (role, client) in &by_role {
                let allowed = roles.iter().any(|r| r == role.as_str());
                let r = client
                    .send(&m, &concrete, Some(&json!({"junk": true})), &[])
                    .await;
                if allowed {
                    assert!(
                        r.status != 401 && r.status != 403,
                        "{role} may {m} {path}: {} {}",
                        r.status,
                        r.body
                    );
                } else {
                    assert_eq!(
                        (r.status, r.code().as_str()),
                        (403, "forbidden"),
                        "{role} {m} {path}"
                    );
                }
            }
            if path == "/v1/auth/logout" {
                // It worked: every role's token is revoked. Log in again.
                for (role, client) in by_role.iter_mut() {
                    crate::common::dispatch::eventually("logged out", || async {
                        let r = client.get("/v1/me").await;
                        (r.status == 401).then(|| assert_eq!(r.code(), "token_revoked"))
                    })
                    .await;
                    let (user, password) = match role.as_str() {
                        "admin" => ("admin".to_string(), ADMIN_PASSWORD),
                        other => (format!("u-{other}"), "password-123"),
                    };
                    *client = api.anonymous().login(&user, password).await;
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} authenticated operations");
    api.daemon.shutdown().await;
}
