//! `/v1/webhooks` refuses malformed, hostile and private input (the SSRF guard on save),
//! is admin only, never shows a secret twice, rotates secrets, and replays to the end of the
//! id range without overflowing.

use serde_json::{json, Value};

use crate::common::api::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_refuse_malformed_hostile_and_private_input() {
    let api = Api::start().await;
    let a = &api.admin;
    let create = |body: Value| {
        let a = a.clone();
        async move { a.post("/v1/webhooks", body).await }
    };
    let ok = json!({ "url": "http://203.0.113.9/in", "events": ["rental.*"] });
    for (body, field) in [
        (
            json!({ "url": "http://127.0.0.1:9/x", "events": ["*"] }),
            "url",
        ),
        (
            json!({ "url": "http://localhost/x", "events": ["*"] }),
            "url",
        ),
        (json!({ "url": "http://[::1]/x", "events": ["*"] }), "url"),
        (
            json!({ "url": "http://169.254.169.254/latest/meta-data", "events": ["*"] }),
            "url",
        ),
        (json!({ "url": "http://10.1.2.3/", "events": ["*"] }), "url"),
        (json!({ "url": "http://0x7f.1/", "events": ["*"] }), "url"),
        (
            json!({ "url": "ftp://203.0.113.9/", "events": ["*"] }),
            "url",
        ),
        (
            json!({ "url": "https://u:p@203.0.113.9/", "events": ["*"] }),
            "url",
        ),
        (json!({ "url": "not a url", "events": ["*"] }), "url"),
        (
            json!({ "url": format!("http://203.0.113.9/{}", "a".repeat(3000)), "events": ["*"] }),
            "url",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": [] }),
            "events",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": ["rentl.*"] }),
            "events",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": ["rental"] }),
            "events",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": ["rental.%"] }),
            "events",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": ["'; DROP TABLE webhooks; --"] }),
            "events",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": vec!["*"; 65] }),
            "events",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": ["*"], "secret": "short" }),
            "secret",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": ["*"], "secret": "has spaces in it, sixteen+" }),
            "secret",
        ),
        (
            json!({ "url": "http://203.0.113.9/", "events": ["*"], "description": "x".repeat(501) }),
            "description",
        ),
    ] {
        let r = create(body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        let message = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{body}: {}",
            r.body
        );
    }
    let r = create(json!({ "url": "http://127.0.0.1/", "events": ["*"] })).await;
    assert!(r.body.contains("webhooks.allow_private"), "{}", r.body);
    for body in [
        json!({ "url": "http://203.0.113.9/", "events": ["*"], "extra": 1 }),
        json!({ "url": 5, "events": ["*"] }),
        json!({ "events": ["*"] }),
        json!([]),
    ] {
        let r = create(body.clone()).await;
        assert!(r.status == 400 || r.status == 422, "{body}: {}", r.body);
    }

    // Only admins.
    let (dispatcher, _) = a.user("wh-dispatcher", "dispatcher").await;
    assert_eq!(
        dispatcher.post("/v1/webhooks", ok.clone()).await.status,
        403
    );
    assert_eq!(dispatcher.get("/v1/webhooks").await.status, 403);

    let r = create(ok.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let w = r.json();
    let id = w["id"].as_str().unwrap().to_string();
    let secret = w["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    assert_eq!(w["events"], json!(["rental.*"]));
    assert_eq!(w["active"], true);

    let list = a.get("/v1/webhooks").await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains(&secret), "{}", list.body);
    for path in [
        "/v1/webhooks/nope",
        "/v1/webhooks/00000000-0000-0000-0000-000000000000",
    ] {
        assert_eq!(a.get(path).await.status, 404);
        assert_eq!(a.patch(path, json!({ "active": false })).await.status, 404);
        assert_eq!(a.delete(path).await.status, 404);
        assert_eq!(a.get(&format!("{path}/deliveries")).await.status, 404);
        let r = a
            .post(&format!("{path}/replay"), json!({ "from_event_id": 1 }))
            .await;
        assert_eq!(r.status, 404);
    }

    let path = format!("/v1/webhooks/{id}");
    let r = a.patch(&path, json!({ "rotate_secret": true })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.json()["secret"].as_str().unwrap().to_string();
    assert_ne!(rotated, secret);
    let r = a
        .patch(
            &path,
            json!({ "rotate_secret": true, "secret": "0123456789abcdefXYZ" }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = a
        .patch(
            &path,
            json!({ "events": ["job.*", "*.completed"], "active": false }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["events"], json!(["job.*", "*.completed"]));
    assert_eq!(r.json()["active"], false);
    assert!(r.json().get("secret").is_none());
    assert_eq!(
        a.patch(&path, json!({ "url": "http://[::1]/" }))
            .await
            .status,
        422
    );

    for q in ["status=bogus", "limit=0", "limit=201", "cursor=%%%"] {
        let r = a.get(&format!("{path}/deliveries?{q}")).await;
        assert!(r.status == 422 || r.status == 400, "{q}: {}", r.body);
    }
    for body in [
        json!({}),
        json!({ "from_event_id": 1, "from": "2026-01-01T00:00:00Z" }),
        json!({ "from_event_id": 0 }),
        json!({ "from_event_id": -5 }),
        json!({ "from": "yesterday" }),
    ] {
        let r = a.post(&format!("{path}/replay"), body.clone()).await;
        assert!(r.status == 422 || r.status == 400, "{body}: {}", r.body);
    }
    // Ids at the end of the range: nothing to replay, no overflow.
    for from in [i64::MAX, i64::MAX - 1] {
        let r = a
            .post(&format!("{path}/replay"), json!({ "from_event_id": from }))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["queued"], 0);
        assert!(r.json()["next_from_event_id"].is_null(), "{}", r.body);
    }
    assert_eq!(a.delete(&path).await.status, 204);
    assert_eq!(a.get(&path).await.status, 404);
}
