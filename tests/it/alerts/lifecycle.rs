//! The alerts' life through `fleetd::alerts::store` (what the evaluators call) and the
//! routes: one alert per (rule, subject) under 20 concurrent raises, clear times, acknowledge
//! then resolve, a manual resolve followed by a new sighting, and rules disabled or deleted.

use chrono::{Duration, Utc};
use fleetd::alerts::{store, Raised, Subject};
use serde_json::json;

use super::{create_rule, events_of, load, offline_rule};
use crate::common::api::Api;
use crate::common::count;
use crate::common::errors::is;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_raises_open_one_alert_and_count_every_sighting() {
    let api = Api::start().await;
    let id = create_rule(&api.admin, offline_rule(300)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let db = api.db.client().await;
    let rule = load(&db, &id).await;
    let t0 = Utc::now();
    let mut tasks = Vec::new();
    for i in 0..20i64 {
        let client = api.db.client().await;
        let rule = rule.clone();
        tasks.push(tokio::spawn(async move {
            let at = t0 + Duration::seconds(i);
            let details = json!({"i": i});
            store::raise(&client, &rule, &Subject::vehicle("v-1"), at, &details)
                .await
                .unwrap()
        }));
    }
    let mut opened = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let raised = t.await.unwrap();
        opened += matches!(raised, Raised::Opened(_)) as usize;
        ids.insert(raised.id());
    }
    assert_eq!((opened, ids.len()), (1, 1));
    let row = db
        .query_one(
            "SELECT count, last_seen_at, details, status FROM alerts",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 20);
    let last: chrono::DateTime<Utc> = row.get(1);
    assert_eq!(
        last.timestamp_micros(),
        (t0 + Duration::seconds(19)).timestamp_micros(),
        "the latest sighting, whatever the commit order"
    );
    assert_eq!(row.get::<_, serde_json::Value>(2), json!({"i": 19}));
    assert_eq!(row.get::<_, &str>(3), "open");
    assert_eq!(events_of(&db, "alert.opened").await.len(), 1);
    // Another subject, another alert.
    let other = store::raise(&db, &rule, &Subject::vehicle("v-2"), t0, &json!({}))
        .await
        .unwrap();
    assert!(matches!(other, Raised::Opened(_)));
    assert_eq!(count(&db, "SELECT count(*) FROM alerts").await, 2);
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_resolves_itself_only_after_clear_s() {
    let api = Api::start().await;
    let id = create_rule(&api.admin, offline_rule(300)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let db = api.db.client().await;
    let rule = load(&db, &id).await;
    let v = Subject::vehicle("v-1");
    let t0 = Utc::now();
    let first = store::raise(&db, &rule, &v, t0, &json!({})).await.unwrap();
    assert!(!store::clear(&db, rule.id, &v, t0 + Duration::seconds(299))
        .await
        .unwrap());
    // Seen again: the clear time counts from the latest sighting.
    store::raise(&db, &rule, &v, t0 + Duration::seconds(200), &json!({}))
        .await
        .unwrap();
    assert!(!store::clear(&db, rule.id, &v, t0 + Duration::seconds(300))
        .await
        .unwrap());
    assert!(!store::clear(
        &db,
        rule.id,
        &Subject::vehicle("v-9"),
        t0 + Duration::hours(1)
    )
    .await
    .unwrap());
    assert!(store::clear(&db, rule.id, &v, t0 + Duration::seconds(500))
        .await
        .unwrap());
    let a = api
        .admin
        .get(&format!("/v1/alerts/{}", first.id()))
        .await
        .json();
    assert_eq!(
        (
            a["status"].as_str(),
            a["resolution"].as_str(),
            a["count"].as_i64()
        ),
        (Some("resolved"), Some("auto"), Some(2))
    );
    assert!(a["resolved_by"].is_null());
    let resolved = events_of(&db, "alert.resolved").await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["alert"]["id"], first.id().to_string());
    // Nothing left to clear; the next sighting opens a new alert.
    assert!(!store::clear(&db, rule.id, &v, t0 + Duration::hours(2))
        .await
        .unwrap());
    let again = store::raise(&db, &rule, &v, t0 + Duration::hours(3), &json!({}))
        .await
        .unwrap();
    assert!(matches!(again, Raised::Opened(n) if n != first.id()));
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_then_resolved_by_hand_and_seen_again() {
    let api = Api::start().await;
    let a = &api.admin;
    let me = a.get("/v1/me").await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = create_rule(a, offline_rule(0)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let db = api.db.client().await;
    let rule = load(&db, &id).await;
    let v = Subject::vehicle("van-7");
    let t0 = Utc::now() - Duration::minutes(10);
    let first = store::raise(&db, &rule, &v, t0, &json!({"n": 1}))
        .await
        .unwrap()
        .id();
    let path = format!("/v1/alerts/{first}");

    let r = a.post(&format!("{path}/acknowledge"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["status"], "acknowledged");
    assert_eq!(j["acknowledged_by"], me.as_str());
    let r = a.post(&format!("{path}/acknowledge"), json!({})).await;
    is(&r, 409, "illegal_transition", "acknowledged twice");
    assert_eq!(r.json()["error"]["status"], "acknowledged");
    // Still counting while acknowledged.
    let seen = store::raise(&db, &rule, &v, t0 + Duration::minutes(1), &json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(seen, Raised::Seen(first));
    let j = a.get(&path).await.json();
    assert_eq!(
        (j["status"].as_str(), j["count"].as_i64()),
        (Some("acknowledged"), Some(2))
    );
    assert_eq!(j["details"], json!({"n": 2}));

    let r = a.post(&format!("{path}/resolve"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (
            j["status"].as_str(),
            j["resolution"].as_str(),
            j["resolved_by"].as_str()
        ),
        (Some("resolved"), Some("manual"), Some(me.as_str()))
    );
    for step in ["resolve", "acknowledge"] {
        let r = a.post(&format!("{path}/{step}"), json!({})).await;
        is(&r, 409, "illegal_transition", step);
        assert_eq!(r.json()["error"]["status"], "resolved");
    }
    // The condition persists: the next sighting opens a new alert.
    let second = store::raise(&db, &rule, &v, t0 + Duration::minutes(2), &json!({}))
        .await
        .unwrap();
    assert!(matches!(second, Raised::Opened(n) if n != first));
    let earlier = t0 - Duration::minutes(1);
    let other = store::raise(&db, &rule, &Subject::vehicle("bus-1"), earlier, &json!({}))
        .await
        .unwrap();

    // Lists: newest first, by status, by vehicle, by kind, page by page.
    let ids = |q: &str| {
        let q = q.to_string();
        let admin = a.clone();
        async move {
            let r = admin.get(&format!("/v1/alerts{q}")).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let (s, f, o) = (
        second.id().to_string(),
        first.to_string(),
        other.id().to_string(),
    );
    assert_eq!(ids("").await, [s.clone(), f.clone(), o.clone()]);
    assert_eq!(ids("?status=open").await, [s.clone(), o.clone()]);
    assert_eq!(ids("?status=resolved").await, vec![f.clone()]);
    assert_eq!(ids("?vehicle_id=van-7").await, [s.clone(), f.clone()]);
    assert_eq!(ids("?kind=offline&vehicle_id=bus-1").await, vec![o.clone()]);
    assert!(ids("?kind=dtc").await.is_empty());
    let page = a.get("/v1/alerts?limit=2").await.json();
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_eq!(ids(&format!("?limit=2&cursor={cursor}")).await, vec![o]);

    let all: Vec<i64> = crate::events::numbered(&db, "alert.").await;
    assert_eq!(
        all.len(),
        5,
        "opened, acknowledged, resolved, opened, opened"
    );
    assert_eq!(events_of(&db, "alert.acknowledged").await.len(), 1);
    let resolved = events_of(&db, "alert.resolved").await;
    assert_eq!(resolved[0]["alert"]["resolution"], "manual");
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_or_deleting_a_rule_resolves_its_alerts_and_keeps_them() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    let one = create_rule(a, offline_rule(0)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let two = create_rule(a, offline_rule(0)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t0 = Utc::now();
    for rule in [&one, &two] {
        let rule = load(&db, rule).await;
        for v in ["a-1", "a-2"] {
            store::raise(&db, &rule, &Subject::vehicle(v), t0, &json!({}))
                .await
                .unwrap();
        }
    }
    let r = a
        .patch(&format!("/v1/alert-rules/{one}"), json!({"enabled": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.delete(&format!("/v1/alert-rules/{two}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let open = "SELECT count(*) FROM alerts WHERE status <> 'resolved'";
    assert_eq!(count(&db, open).await, 0);
    let kept =
        "SELECT count(*) FROM alerts WHERE resolution = 'manual' AND resolved_by IS NOT NULL";
    assert_eq!(count(&db, kept).await, 4);
    assert_eq!(
        count(&db, "SELECT count(*) FROM alerts WHERE rule_id IS NULL").await,
        2
    );
    assert_eq!(events_of(&db, "alert.resolved").await.len(), 4);
    let listed = a.get("/v1/alerts?status=resolved").await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 4);
    api.daemon.shutdown().await;
}
