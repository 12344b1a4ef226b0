//! `/v1/alert-rules` and `/v1/alerts`: rules created, listed by kind and enabled, changed
//! (never their kind) and deleted; staff only; every field refused with the field named
//! when malformed, out of range, oversized or hostile, and nothing stored on a refusal.

use serde_json::{json, Value};

use super::{create_rule, offline_rule};
use crate::common::api::{driver, Api};
use crate::common::count;
use crate::common::errors::{
    body_errors, each_invalid, is, list_errors, unknown_ids, UNKNOWN_UUID,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_created_listed_changed_and_deleted() {
    let api = Api::start().await;
    let a = &api.admin;
    let r = create_rule(
        a,
        json!({"name": " Trucks silent ", "kind": "offline", "params": {"after_min": 15},
               "scope": {"vehicle_types": ["truck", " truck", "van"],
                         "vehicle_ids": ["t-2", "t-1", "t-2"]}}),
    )
    .await;
    assert_eq!(r["name"], "Trucks silent");
    assert_eq!(r["params"], json!({"after_min": 15}));
    assert_eq!(
        r["scope"],
        json!({"vehicle_types": ["truck", "van"], "vehicle_ids": ["t-1", "t-2"],
               "geofence_ids": []})
    );
    assert_eq!(
        (r["clear_s"].as_i64(), r["enabled"].as_bool()),
        (Some(300), Some(true))
    );
    let id = r["id"].as_str().unwrap().to_string();
    let fence = a
        .post(
            "/v1/geofences",
            json!({"name": "zone", "center": {"lat": 48.85, "lon": 2.35}, "radius_m": 500,
                   "speed_limit_kmh": 30}),
        )
        .await;
    assert_eq!(fence.status, 201, "{}", fence.body);
    let fence_id = fence.json()["id"].as_str().unwrap().to_string();
    let speeding = create_rule(
        a,
        json!({"name": "zone speed", "kind": "speeding", "params": {"min_duration_s": 20},
               "scope": {"geofence_ids": [fence_id]}, "clear_s": 0, "enabled": false}),
    )
    .await;
    assert_eq!(speeding["params"], json!({"min_duration_s": 20}));
    create_rule(
        a,
        json!({"name": "licences", "kind": "licence_expiring", "params": {"within_days": 30}}),
    )
    .await;
    create_rule(a, json!({"name": "service", "kind": "maintenance_due"})).await;

    let list = |q: &'static str| {
        let admin = a.clone();
        async move {
            let r = admin.get(&format!("/v1/alert-rules{q}")).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(list("").await, 4);
    assert_eq!(list("?kind=offline").await, 1);
    assert_eq!(list("?enabled=false").await, 1);
    assert_eq!(list("?kind=speeding&enabled=true").await, 0);
    let page = a.get("/v1/alert-rules?limit=3").await.json();
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = a
        .get(&format!("/v1/alert-rules?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(rest.json()["items"].as_array().unwrap().len(), 1);

    // A change keeps what it does not name; params are checked against the rule's kind.
    let path = format!("/v1/alert-rules/{id}");
    let r = a
        .patch(&path, json!({"params": {"after_min": 30}, "clear_s": 0}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["params"], json!({"after_min": 30}));
    assert_eq!(r.json()["name"], "Trucks silent");
    assert_eq!(r.json()["scope"]["vehicle_types"], json!(["truck", "van"]));
    let r = a.patch(&path, json!({"params": {"below_pct": 5}})).await;
    is(&r, 422, "invalid_value", "another kind's params");
    assert!(r.body.contains("params.below_pct"), "{}", r.body);
    let r = a.patch(&path, json!({"kind": "low_fuel"})).await;
    is(&r, 422, "invalid_value", "the kind never changes");
    assert!(r.body.contains("kind"), "{}", r.body);
    let r = a
        .patch(&path, json!({"scope": {"geofence_ids": [UNKNOWN_UUID]}}))
        .await;
    is(&r, 422, "invalid_value", "offline takes no fences");
    assert!(r.body.contains("scope.geofence_ids"), "{}", r.body);
    let got = a.get(&path).await.json();
    assert_eq!(
        got["params"],
        json!({"after_min": 30}),
        "refusals changed nothing"
    );
    assert_eq!(got["clear_s"], 0);

    // Deleting the fence leaves the speeding rule changeable where it does not rescope.
    let r = a.delete(&format!("/v1/geofences/{fence_id}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let sp = format!("/v1/alert-rules/{}", speeding["id"].as_str().unwrap());
    let r = a.patch(&sp, json!({"name": "renamed"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.patch(&sp, json!({"params": {"min_duration_s": 5}})).await;
    is(&r, 422, "invalid_value", "a deleted fence");
    assert!(r.body.contains("scope.geofence_ids"), "{}", r.body);

    let r = a.delete(&path).await;
    assert_eq!(r.status, 204, "{}", r.body);
    is(&a.get(&path).await, 404, "not_found", "deleted");
    is(&a.delete(&path).await, 404, "not_found", "deleted twice");
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_staff_see_rules_and_alerts() {
    let api = Api::start().await;
    let a = &api.admin;
    let id = create_rule(a, offline_rule(0)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (dispatcher, _) = a.user("disa", "dispatcher").await;
    let r = dispatcher.post("/v1/alert-rules", offline_rule(0)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(dispatcher.get("/v1/alerts").await.status, 200);
    let (dave, _) = driver(&api, "dave").await;
    let (carl, _) = a.user("carl", "customer").await;
    let rule = format!("/v1/alert-rules/{id}");
    let alert = format!("/v1/alerts/{UNKNOWN_UUID}");
    for c in [&dave, &carl] {
        for (method, path, body) in [
            ("POST", "/v1/alert-rules".to_string(), Some(offline_rule(0))),
            ("GET", "/v1/alert-rules".to_string(), None),
            ("GET", rule.clone(), None),
            ("PATCH", rule.clone(), Some(json!({"name": "x"}))),
            ("DELETE", rule.clone(), None),
            ("GET", "/v1/alerts".to_string(), None),
            ("GET", alert.clone(), None),
            ("POST", format!("{alert}/acknowledge"), None),
            ("POST", format!("{alert}/resolve"), None),
        ] {
            let r = c.send(method, &path, body.as_ref(), &[]).await;
            is(&r, 403, "forbidden", &format!("{method} {path}"));
        }
    }
    let r = api.anonymous().get("/v1/alerts").await;
    is(&r, 401, "missing_token", "no token");
    let db = api.db.client().await;
    assert_eq!(count(&db, "SELECT count(*) FROM alert_rules").await, 2);
    api.daemon.shutdown().await;
}

/// `base` with `path` (dotted) set to `value`.
fn at(mut base: Value, path: &str, value: Value) -> Value {
    let mut v = &mut base;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        v = v.as_object_mut().unwrap().entry(*p).or_insert(json!({}));
    }
    v[parts[parts.len() - 1]] = value;
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_naming_the_field_and_stores_nothing() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    body_errors(a, "POST", "/v1/alert-rules").await;
    let base = json!({"name": "r", "kind": "offline", "params": {"after_min": 10},
                      "scope": {"vehicle_types": [], "vehicle_ids": [], "geofence_ids": []}});
    let huge_types: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let many_ids: Vec<String> = (0..10_001).map(|i| format!("v{i}")).collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("name", json!(""), "name"),
        ("name", json!("   "), "name"),
        ("name", json!("n".repeat(201)), "name"),
        ("name", json!("a\u{0}b"), "name"),
        ("name", json!(42), "name"),
        ("kind", json!("pilot"), "kind"),
        ("kind", json!(null), "kind"),
        ("params", json!("x"), "params"),
        ("params", json!(null), "params"),
        ("params", json!([10]), "params"),
        ("params.after_min", json!(0), "params.after_min"),
        ("params.after_min", json!(10_081), "params.after_min"),
        ("params.after_min", json!(1e12), "params.after_min"),
        ("params.after_min", json!(2.5), "params.after_min"),
        ("params.after_min", json!("10"), "params.after_min"),
        ("params.evil", json!(1), "params.evil"),
        ("scope.vehicle_ids", json!(["bad id"]), "scope.vehicle_ids"),
        (
            "scope.vehicle_ids",
            json!(["x".repeat(65)]),
            "scope.vehicle_ids",
        ),
        ("scope.vehicle_ids", json!(many_ids), "scope.vehicle_ids"),
        (
            "scope.vehicle_types",
            json!(["x".repeat(51)]),
            "scope.vehicle_types",
        ),
        (
            "scope.vehicle_types",
            json!(["\u{7}"]),
            "scope.vehicle_types",
        ),
        (
            "scope.vehicle_types",
            json!(huge_types),
            "scope.vehicle_types",
        ),
        ("scope.vehicle_types", json!("truck"), "scope.vehicle_types"),
        (
            "scope.geofence_ids",
            json!(["not-a-uuid"]),
            "scope.geofence_ids",
        ),
        (
            "scope.geofence_ids",
            json!([UNKNOWN_UUID]),
            "scope.geofence_ids",
        ),
        ("scope.evil", json!([]), "scope"),
        ("clear_s", json!(-1), "clear_s"),
        ("clear_s", json!(604_801), "clear_s"),
        ("clear_s", json!(1e30), "clear_s"),
        ("enabled", json!("yes"), "enabled"),
        ("evil", json!(1), "evil"),
    ];
    for (path, value, field) in &cases {
        let body = at(base.clone(), path, value.clone());
        let r = a.post("/v1/alert-rules", body).await;
        is(&r, 422, "invalid_value", &format!("{path}={value}"));
        let message = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(field), "{path}: {message}");
    }
    // Rules between a kind and its scope.
    let fence = UNKNOWN_UUID;
    for (body, field) in [
        (
            json!({"name": "r", "kind": "speeding", "params": {}}),
            "params.limit_kmh",
        ),
        (
            json!({"name": "r", "kind": "speeding", "params": {"limit_kmh": 0}}),
            "params.limit_kmh",
        ),
        (
            json!({"name": "r", "kind": "speeding", "params": {"limit_kmh": 401}}),
            "params.limit_kmh",
        ),
        (
            json!({"name": "r", "kind": "geofence", "params": {"on": "entered"}}),
            "scope.geofence_ids",
        ),
        (
            json!({"name": "r", "kind": "geofence", "params": {"on": "inside"},
                   "scope": {"geofence_ids": [fence]}}),
            "params.on",
        ),
        (
            json!({"name": "r", "kind": "licence_expiring", "params": {"within_days": 3},
                   "scope": {"vehicle_ids": ["v-1"]}}),
            "scope.vehicle_ids",
        ),
        (
            json!({"name": "r", "kind": "licence_expiring", "params": {"within_days": 366}}),
            "params.within_days",
        ),
        (
            json!({"name": "r", "kind": "dtc", "params": {"codes": ["P0301", "X0000"]}}),
            "params.codes",
        ),
        (
            json!({"name": "r", "kind": "dtc", "params": {"families": ["Q"]}}),
            "params.families",
        ),
        (
            json!({"name": "r", "kind": "fuel_drop", "params": {"drop_pct": 5}}),
            "params",
        ),
        (
            json!({"name": "r", "kind": "overheat", "params": {"coolant_c": 250}}),
            "params.coolant_c",
        ),
        (
            json!({"name": "r", "kind": "maintenance_due", "params": {},
                   "scope": {"geofence_ids": [fence]}}),
            "scope.geofence_ids",
        ),
    ] {
        let r = a.post("/v1/alert-rules", body.clone()).await;
        is(&r, 422, "invalid_value", &body.to_string());
        assert!(r.body.contains(field), "{body}: {}", r.body);
    }
    // A fence without a speed limit cannot lend one.
    let f = a
        .post(
            "/v1/geofences",
            json!({"name": "nolimit", "center": {"lat": 1.0, "lon": 1.0}, "radius_m": 100}),
        )
        .await;
    let fid = f.json()["id"].as_str().unwrap().to_string();
    let r = a
        .post(
            "/v1/alert-rules",
            json!({"name": "r", "kind": "speeding", "scope": {"geofence_ids": [fid]}}),
        )
        .await;
    is(&r, 422, "invalid_value", "fence without a limit");
    assert!(r.body.contains("params.limit_kmh"), "{}", r.body);
    assert_eq!(count(&db, "SELECT count(*) FROM alert_rules").await, 0);

    // Changes, lists and ids.
    let id = create_rule(a, base.clone()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/alert-rules/{id}");
    body_errors(a, "PATCH", &path).await;
    each_invalid(
        a,
        "PATCH",
        &path,
        json!({}),
        &[
            ("name", json!("")),
            ("clear_s", json!(-5)),
            ("params", json!({"after_min": -1})),
            ("scope", json!({"vehicle_ids": ["no way"]})),
            ("enabled", json!(1)),
        ],
    )
    .await;
    unknown_ids(a, "GET", "/v1/alert-rules", "", None).await;
    unknown_ids(
        a,
        "PATCH",
        "/v1/alert-rules",
        "",
        Some(json!({"name": "x"})),
    )
    .await;
    unknown_ids(a, "DELETE", "/v1/alert-rules", "", None).await;
    list_errors(a, "/v1/alert-rules", true).await;
    for q in ["kind=pilot", "enabled=maybe"] {
        is(
            &a.get(&format!("/v1/alert-rules?{q}")).await,
            422,
            "invalid_value",
            q,
        );
    }
    list_errors(a, "/v1/alerts", false).await;
    for q in [
        "status=closed",
        "kind=pilot",
        "vehicle_id=bad%20id",
        "cursor=azE6enp6",
    ] {
        is(
            &a.get(&format!("/v1/alerts?{q}")).await,
            422,
            "invalid_value",
            q,
        );
    }
    unknown_ids(a, "GET", "/v1/alerts", "", None).await;
    unknown_ids(a, "POST", "/v1/alerts", "/acknowledge", None).await;
    unknown_ids(a, "POST", "/v1/alerts", "/resolve", None).await;
    let got = a.get(&path).await.json();
    assert_eq!(got["params"], json!({"after_min": 10}), "nothing changed");
    assert_eq!(count(&db, "SELECT count(*) FROM alert_rules").await, 1);
    api.daemon.shutdown().await;
}
