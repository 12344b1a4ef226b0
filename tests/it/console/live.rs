//! The console in Chromium with every non-loopback request blocked: it loads from the daemon
//! alone under its strict policy, refuses a wrong password, signs in, draws exactly the live
//! vehicles, moves a vehicle's marker when a reading arrives over MQTT (through the stream, no
//! reload), and filters by text and state.

use std::time::{Duration, Instant};

use serde_json::json;

use super::page::*;
use crate::common::api::Api;
use crate::common::browser::Browser;
use crate::common::*;
use fleetd::config::UnknownVehicles;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_loads_offline_signs_in_and_follows_the_live_fleet() {
    let api = Api::start_with(|c| c.ingest.unknown_vehicles = UnknownVehicles::Store).await;
    let addr = api.daemon.addr;
    let publisher = Publisher::connect(&api.broker).await;
    let sql = api.db.client().await;
    let now = now_ms() / 1000 * 1000;
    // Eleven live vehicles around Berlin, one silent for two minutes (offline).
    for i in 0..12 {
        let ts = if i == 11 { now - 120_000 } else { now - 2_000 };
        let body = json!({"ts": ts, "lat": 52.40 + i as f64 * 0.02, "lon": 13.30 + i as f64 * 0.01,
                          "speed_kmh": if i % 2 == 0 { 40.0 } else { 0.0 }});
        publisher
            .publish(&format!("fleet/veh-{i}/gps"), body.to_string())
            .await;
    }
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 12).await;

    // A wrong password is refused on the form.
    let b = Browser::start().await;
    b.goto(&format!("http://{addr}/console")).await;
    b.find("#login-username").await.send_keys("admin").await;
    b.find("#login-password")
        .await
        .send_keys("not-the-password")
        .await;
    b.find("#login-submit").await.click().await;
    let shown = b
        .wait_for(
            "!document.getElementById('login-error').hidden && document.getElementById('login-error').textContent",
            WAIT,
        )
        .await;
    assert_eq!(shown, "Wrong username or password.");
    assert_eq!(
        b.execute("return document.getElementById('app').hidden", &[])
            .await,
        true
    );
    drop(b);

    let b = signed_in(&api).await;
    // Exactly the live vehicles, as many as GET /v1/positions lists.
    b.wait_for(
        "window.fleetdConsole.vehicleCount() === 12 && document.getElementById('map').dataset.vehicles === '12'",
        WAIT,
    )
    .await;
    let listed = api.admin.get("/v1/positions").await.json()["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, 12);
    assert_eq!(b.find("#vehicle-count").await.text().await, "12 vehicles");
    let v11 = b
        .execute("return window.fleetdConsole.vehicle('veh-11')", &[])
        .await;
    assert_eq!(v11["state"], "offline", "{v11}");
    assert_eq!(
        b.execute("return window.fleetdConsole.vehicle('veh-0').state", &[])
            .await,
        "moving"
    );
    assert_eq!(
        b.execute("return window.fleetdConsole.vehicle('veh-1').state", &[])
            .await,
        "parked"
    );

    // Everything came from the daemon, nothing was refused by the policy, nothing failed.
    let origin = format!("http://{addr}/");
    for url in loaded_urls(&b).await {
        assert!(url.starts_with(&origin), "a request left the daemon: {url}");
    }
    let errs = errors(&b).await;
    assert!(errs.is_empty(), "console errors: {errs:#?}");

    // A reading over MQTT moves its marker through the stream: no second snapshot.
    let snapshots = fetches_of(&b, "/v1/positions").await;
    publisher
        .publish(
            "fleet/veh-3/gps",
            json!({"ts": now, "lat": 52.7, "lon": 13.9, "speed_kmh": 55.0}).to_string(),
        )
        .await;
    crate::common::dispatch::eventually("veh-3 committed", || async {
        let p = api.admin.get("/v1/vehicles/veh-3/position").await.json();
        (p["lat"] == 52.7).then_some(())
    })
    .await;
    let committed = Instant::now();
    let moved = b
        .wait_for(
            "(v => v.lat === 52.7 && v.lon === 13.9 && v)(window.fleetdConsole.vehicle('veh-3'))",
            Duration::from_secs(2),
        )
        .await;
    eprintln!(
        "veh-3 moved on the map {:?} after fleetd had it",
        committed.elapsed()
    );
    assert_eq!(moved["state"], "moving");
    assert_eq!(fetches_of(&b, "/v1/positions").await, snapshots);

    // Filters: text on the id, then the state.
    b.find("#filter-text").await.send_keys("veh-1").await;
    // veh-1, veh-10, veh-11.
    b.wait_for("document.getElementById('map').dataset.shown === '3'", WAIT)
        .await;
    b.execute(
        "const t = document.getElementById('filter-text'); t.value = '';
         t.dispatchEvent(new Event('input'));
         const s = document.getElementById('filter-state'); s.value = 'offline';
         s.dispatchEvent(new Event('input'));",
        &[],
    )
    .await;
    b.wait_for("document.getElementById('map').dataset.shown === '1'", WAIT)
        .await;
    assert_eq!(
        b.find("#vehicle-count").await.text().await,
        "12 vehicles (1 shown)"
    );

    // A vehicle's day: every reading stored since the browser's local midnight, drawn.
    b.execute("window.fleetdConsole.select('veh-3')", &[]).await;
    let drawn = b
        .wait_for(
            "document.getElementById('vehicle-panel').dataset.trackPoints",
            WAIT,
        )
        .await;
    let midnight = b
        .execute(
            "const d = new Date(); d.setHours(0, 0, 0, 0); return d.getTime();",
            &[],
        )
        .await;
    let since = chrono::DateTime::from_timestamp_millis(midnight.as_i64().unwrap()).unwrap();
    let stored: i64 = sql
        .query_one(
            "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'veh-3' AND ts >= $1",
            &[&since],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(drawn, stored.to_string());
    b.find("#replay-slider").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_renders_the_api_from_the_daemon_alone() {
    let api = Api::start().await;
    let b = Browser::start().await;
    let addr = api.daemon.addr;
    b.goto(&format!("http://{addr}/docs")).await;
    let ops = b
        .wait_for(
            "document.querySelectorAll('.opblock[id^=\"operations-\"]').length",
            WAIT,
        )
        .await;
    let doc = api.anonymous().get("/openapi.json").await.json();
    // Every operation of every path, and the webhook request (OpenAPI 3.1's `webhooks`).
    let documented: usize = ["paths", "webhooks"]
        .iter()
        .flat_map(|k| doc[k].as_object().unwrap().values())
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(num(&ops) as usize, documented);
    let title = b.find(".information-container .title").await.text().await;
    assert!(title.starts_with("fleetd"), "{title}");
    let origin = format!("http://{addr}/");
    for url in loaded_urls(&b).await {
        assert!(url.starts_with(&origin), "a request left the daemon: {url}");
    }
    let errs = errors(&b).await;
    assert!(errs.is_empty(), "console errors: {errs:#?}");
}
