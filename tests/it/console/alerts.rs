//! Alerts on the console, in Chromium: an `offline` alert raised by the timer appears in the
//! panel and in its vehicle's details; Acknowledge and Resolve act on it.

use serde_json::json;

use super::page::*;
use crate::common::api::Api;
use crate::common::dispatch::*;
use crate::common::*;

/// Clicks the element `css` finds, found and clicked in one step: the list re-renders as alerts
/// are seen again, and an element found first could be replaced before the click.
async fn click(b: &crate::common::browser::Browser, css: &str) {
    let clicked = b
        .wait_for(
            &format!("(e => e && (e.click(), true))(document.querySelector('{css}'))"),
            WAIT,
        )
        .await;
    assert_eq!(clicked, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_is_listed_acknowledged_and_resolved_from_the_panel() {
    let api = Api::start_with(|c| c.alerts.interval_s = 5).await;
    seat(&api, "olga", "off-1", 1, &TRUCK, "available").await;
    let publisher = Publisher::connect(&api.broker).await;
    // Silent for 20 minutes with a driver on duty.
    publish_fix(&publisher, "off-1", now_ms() - 20 * 60_000, 52.5, 13.4).await;
    let sql = api.db.client().await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 1).await;
    let r = api
        .admin
        .post(
            "/v1/alert-rules",
            json!({"name": "silent", "kind": "offline", "params": {"after_min": 10}, "clear_s": 0}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let alert = eventually("the offline alert", || async {
        let r = api.admin.get("/v1/alerts?status=open").await.json();
        r["items"].as_array().unwrap().first().cloned()
    })
    .await;
    let id = alert["id"].as_str().unwrap().to_string();

    let b = signed_in(&api).await;
    let item = format!("#alerts-list li[data-alert-id=\"{id}\"]");
    b.wait_for(
        &format!("document.querySelector('{item}')?.dataset.status === 'open'"),
        WAIT,
    )
    .await;
    assert_eq!(b.find("#alerts-count").await.text().await, "1");
    b.wait_for(
        "window.fleetdConsole.vehicle('off-1')?.state === 'offline'",
        WAIT,
    )
    .await;

    // Its vehicle's details list it too.
    b.execute("window.fleetdConsole.select('off-1')", &[]).await;
    b.wait_for(
        &format!("document.querySelector('#vehicle-alerts li[data-alert-id=\"{id}\"]')"),
        WAIT,
    )
    .await;

    click(&b, &format!("{item} .alert-acknowledge")).await;
    b.wait_for(
        &format!("document.querySelector('{item}')?.dataset.status === 'acknowledged'"),
        WAIT,
    )
    .await;
    let stored = api.admin.get(&format!("/v1/alerts/{id}")).await.json();
    assert_eq!(stored["status"], "acknowledged");

    click(&b, &format!("{item} .alert-resolve")).await;
    b.wait_for(&format!("!document.querySelector('{item}')"), WAIT)
        .await;
    let stored = api.admin.get(&format!("/v1/alerts/{id}")).await.json();
    assert_eq!(stored["status"], "resolved");
    assert_eq!(stored["resolution"], "manual", "{stored}");
    let errs = errors(&b).await;
    assert!(errs.is_empty(), "console errors: {errs:#?}");
}
