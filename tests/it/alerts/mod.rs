//! Alert rules and alerts (docs/alerts.md): `/v1/alert-rules` and `/v1/alerts` ([`routes`]),
//! the store's one-alert-per-rule-and-subject under concurrency, clear times and the hands'
//! transitions ([`lifecycle`]), and the time-based rules on a manual clock, two timers
//! sharing the work ([`timer`]).

mod exact;
mod lifecycle;
mod readings;
mod routes;
mod timer;

use serde_json::{json, Value};

use crate::common::api::{Api, Client};

/// Creates a rule as `a` (staff) and returns its JSON.
pub async fn create_rule(a: &Client, body: Value) -> Value {
    let r = a.post("/v1/alert-rules", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

/// The stored rule `id`, as the evaluators read it.
pub async fn load(db: &tokio_postgres::Client, id: &str) -> fleetd::alerts::Rule {
    let id: uuid::Uuid = id.parse().unwrap();
    let row = fleetd::alerts::rules::get(db, id, false)
        .await
        .unwrap()
        .unwrap();
    fleetd::alerts::Rule::from_row(&row).unwrap()
}

/// An `offline` rule over the whole fleet, `after_min` 10.
pub fn offline_rule(clear_s: i64) -> Value {
    json!({"name": "silent", "kind": "offline", "params": {"after_min": 10}, "clear_s": clear_s})
}

/// A pool on the test database, for timers of their own.
pub fn pool(api: &Api) -> deadpool_postgres::Pool {
    let c = fleetd::config::DatabaseConfig {
        url: fleetd::config::Secret::new(api.db.url.clone()),
        pool_size: 4,
        ..Default::default()
    };
    fleetd::db::pool(&c).unwrap()
}

/// Events of `type_` numbered so far.
pub async fn events_of(db: &tokio_postgres::Client, type_: &str) -> Vec<Value> {
    let _: Vec<i64> = crate::events::numbered(db, "").await;
    db.query(
        "SELECT payload FROM events WHERE type = $1 ORDER BY id",
        &[&type_],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}
