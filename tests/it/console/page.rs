//! Helpers for the console's browser tests: sign in, where a point of the map is on screen,
//! what the page loaded and logged.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::api::{Api, ADMIN_PASSWORD};
use crate::common::browser::Browser;

pub const WAIT: Duration = Duration::from_secs(30);

/// Opens the console and signs in as the admin; returns once the map and the stream are up.
pub async fn signed_in(api: &Api) -> Browser {
    let b = Browser::start().await;
    b.goto(&format!("http://{}/console", api.daemon.addr)).await;
    b.find("#login-username").await.send_keys("admin").await;
    b.find("#login-password")
        .await
        .send_keys(ADMIN_PASSWORD)
        .await;
    b.find("#login-submit").await.click().await;
    b.wait_for("document.body.dataset.ready === 'true'", WAIT)
        .await;
    b.wait_for("window.fleetdConsole.streamState() === 'live'", WAIT)
        .await;
    b
}

/// The viewport point (CSS pixels) where the map shows (`lat`, `lon`).
pub async fn screen_point(b: &Browser, lat: f64, lon: f64) -> (f64, f64) {
    let p = b
        .execute(
            "const [lat, lon] = arguments;
             const map = window.fleetdConsole.map;
             const p = map.latLngToContainerPoint([lat, lon]);
             const r = map.getContainer().getBoundingClientRect();
             return [p.x + r.left, p.y + r.top];",
            &[json!(lat), json!(lon)],
        )
        .await;
    (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())
}

/// Centres the map on (`lat`, `lon`) at `zoom`, without animation.
pub async fn view(b: &Browser, lat: f64, lon: f64, zoom: f64) {
    b.execute(
        "const [lat, lon, zoom] = arguments;
         window.fleetdConsole.map.setView([lat, lon], zoom, {animate: false});",
        &[json!(lat), json!(lon), json!(zoom)],
    )
    .await;
}

/// Every resource the page loaded (its URL), and the page itself.
pub async fn loaded_urls(b: &Browser) -> Vec<String> {
    let v = b
        .execute(
            "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)];",
            &[],
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

/// How many times the page fetched `path` (any query).
pub async fn fetches_of(b: &Browser, path: &str) -> usize {
    let origin = b.execute("return location.origin", &[]).await;
    let prefix = format!("{}{path}", origin.as_str().unwrap());
    loaded_urls(b)
        .await
        .iter()
        .filter(|u| u.starts_with(&prefix))
        .count()
}

/// The console's errors: entries at SEVERE, and any Content-Security-Policy report.
pub async fn errors(b: &Browser) -> Vec<String> {
    b.console_log()
        .await
        .into_iter()
        .filter(|e| e.level == "SEVERE" || e.message.contains("Content Security Policy"))
        .map(|e| e.message)
        .collect()
}

/// A JSON value's number.
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}
