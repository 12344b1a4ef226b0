//! `docs/grafana/fleetd.json`: a dashboard Grafana can import and provision (unique panel
//! ids, grid positions inside 24 columns that do not overlap, targets with distinct
//! `refId`s on the templated data source), whose every PromQL expression names only
//! metrics that a running daemon exposes, with the suffix their type gives them
//! (`_total` on counters; `_bucket`, `_sum`, `_count` on histograms).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{scrape, Scrape};
use crate::common::api::{vehicle, Api};
use crate::common::dispatch::{eventually, publish_fix};
use crate::common::receiver::{Mode, Receiver};
use crate::common::{metric, now_ms, Publisher};

fn dashboard() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana/fleetd.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every PromQL expression of the dashboard: (where, expression), from the panels' targets
/// and the query variables.
fn expressions(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_default();
            out.push((
                format!("panel {:?}", p["title"].as_str().unwrap_or_default()),
                expr.to_string(),
            ));
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if v["type"] == "query" {
            let q = v["query"]["query"].as_str().or(v["query"].as_str());
            out.push((
                format!("variable {:?}", v["name"].as_str().unwrap_or_default()),
                q.unwrap().to_string(),
            ));
        }
    }
    out
}

/// The metric names in a PromQL expression (fleetd's are all `fleetd_...`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\bfleetd_[a-z0-9_]+").unwrap();
    re.find_iter(expr).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn is_a_well_formed_dashboard() {
    let d = dashboard();
    assert_eq!(d["uid"], "fleetd");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    let schema = d["schemaVersion"].as_u64().unwrap();
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a Prometheus data source variable, so that import and provisioning both work"
    );
    let source = json!({"type": "prometheus", "uid": "${datasource}"});
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() > 10);
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [i64; 4])> = Vec::new();
    for p in panels {
        let title = p["title"].as_str().unwrap();
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "{title}: id {id} used twice");
        let g = &p["gridPos"];
        let [h, w, x, y] = ["h", "w", "x", "y"].map(|k| {
            g[k].as_i64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        });
        assert!(
            h >= 1 && (1..=24).contains(&w) && x >= 0 && x + w <= 24 && y >= 0,
            "{title}: {g}"
        );
        for (other, [ox, oy, ow, oh]) in &boxes {
            let apart = x + w <= *ox || *ox + ow <= x || y + h <= *oy || *oy + oh <= y;
            assert!(apart, "{title} overlaps {other}");
        }
        boxes.push((title.to_string(), [x, y, w, h]));
        if p["type"] == "row" {
            assert!(p.get("targets").is_none(), "{title}: a row has no queries");
            continue;
        }
        assert!(
            ["timeseries", "stat"].contains(&p["type"].as_str().unwrap()),
            "{title}: type {}",
            p["type"]
        );
        assert_eq!(p["datasource"], source, "{title}");
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        let mut refs = BTreeSet::new();
        for t in targets {
            let r = t["refId"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: a target without refId"));
            assert!(refs.insert(r), "{title}: refId {r} twice");
            assert_eq!(t["datasource"], source, "{title} {r}");
            let expr = t["expr"].as_str().unwrap_or_default();
            assert!(
                !metric_names(expr).is_empty(),
                "{title} {r}: no fleetd metric in {expr:?}"
            );
        }
    }
}

/// The family a sample name belongs to, given the families' types: `None` when the name is
/// not what a family of that type exposes.
fn family_of<'a>(scrape: &'a Scrape, name: &str) -> Option<(&'a str, &'a str)> {
    let typed = |base: &str, want: &[&str]| {
        scrape
            .families
            .get_key_value(base)
            .filter(|(_, t)| want.contains(&t.as_str()))
            .map(|(n, t)| (n.as_str(), t.as_str()))
    };
    for (suffix, types) in [
        ("_total", &["counter"][..]),
        ("_bucket", &["histogram"][..]),
        ("_sum", &["histogram"][..]),
        ("_count", &["histogram"][..]),
    ] {
        if let Some(found) = name.strip_suffix(suffix).and_then(|b| typed(b, types)) {
            return Some(found);
        }
    }
    typed(name, &["gauge"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_it_queries_is_exposed() {
    let used: BTreeSet<(String, String)> = expressions(&dashboard())
        .into_iter()
        .flat_map(|(at, e)| metric_names(&e).into_iter().map(move |m| (m, at.clone())))
        .collect();
    let api = Api::start_with(|c| c.webhooks.allow_private = true).await;
    let addr = api.daemon.addr;
    // Exercise what only shows once used: readings stored, a nearest query, a webhook
    // subscription (its per-subscription gauges).
    vehicle(&api.admin, "mon-1", 1).await;
    let publisher = Publisher::connect(&api.broker).await;
    publish_fix(&publisher, "mon-1", now_ms(), 52.52, 13.405).await;
    eventually("the reading stored", || async {
        (metric(addr, "fleetd_readings_stored_total", "kind=\"gps\"").await >= 1.0).then_some(())
    })
    .await;
    let r = api
        .admin
        .get("/v1/dispatch/nearest?lat=52.52&lon=13.4")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rx = Receiver::start(Mode::Ok).await;
    let r = api
        .admin
        .post(
            "/v1/webhooks",
            json!({"url": rx.url("/hook"), "events": ["vehicle.*"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let s = eventually("the webhook gauges", || async {
        let s = scrape(addr).await;
        s.samples
            .contains("fleetd_webhook_oldest_pending_seconds")
            .then_some(s)
    })
    .await;
    let mut missing = Vec::new();
    for (name, at) in &used {
        match family_of(&s, name) {
            Some(_) if s.samples.contains(name) => {}
            Some((family, kind)) => {
                missing.push(format!("{name} ({at}): {kind} {family} has no series"))
            }
            None => missing.push(format!("{name} ({at}): no such metric")),
        }
    }
    assert!(missing.is_empty(), "not exposed:\n{}", missing.join("\n"));
    // The check itself: it did look at the families the dashboard is about.
    let names: BTreeSet<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "fleetd_readings_stored_total",
        "fleetd_ingest_latency_seconds_bucket",
        "fleetd_copy_seconds_bucket",
        "fleetd_dispatch_nearest_seconds_bucket",
        "fleetd_alerts_open",
        "fleetd_webhook_oldest_pending_seconds",
        "fleetd_trips_lag_seconds_bucket",
        "fleetd_mqtt_connected",
    ] {
        assert!(names.contains(want), "the dashboard does not query {want}");
    }
    api.daemon.shutdown().await;
}
