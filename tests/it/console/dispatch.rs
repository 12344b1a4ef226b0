//! Dispatch and geofences on the console's map, in Chromium: a job created by clicking the
//! map follows pending → offered → assigned live when the driver accepts (and its vehicle turns
//! "on a job"); the nearest drivers around a clicked point; a circle fence drawn by two clicks
//! is saved.

use serde_json::json;

use super::page::*;
use crate::common::api::Api;
use crate::common::dispatch::*;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_by_clicking_the_map_shows_assigned_when_the_driver_accepts() {
    let api = Api::start().await;
    let (driver, _) = seat(&api, "dora", "cab-1", 1, &TRUCK, "available").await;
    let publisher = Publisher::connect(&api.broker).await;
    let (lat, lon) = (52.52, 13.40);
    publish_fix(&publisher, "cab-1", now_ms() - 1_000, lat, lon).await;
    wait_nearest(&api.admin, &format!("lat={lat}&lon={lon}"), &["cab-1"]).await;

    let b = signed_in(&api).await;
    b.wait_for("window.fleetdConsole.vehicleCount() === 1", WAIT)
        .await;
    view(&b, lat, lon, 13.0).await;

    // Nearest drivers around a point a little east of the cab.
    b.find("#mode-nearest").await.click().await;
    let (x, y) = screen_point(&b, lat, lon + 0.01).await;
    b.click_at(x, y).await;
    b.wait_for(
        "document.querySelector('#nearest-list li[data-vehicle-id=\"cab-1\"]')",
        WAIT,
    )
    .await;

    // A job where the cab stands: created by the click, offered to its driver.
    b.find("#mode-job").await.click().await;
    let (x, y) = screen_point(&b, lat, lon).await;
    b.click_at(x, y).await;
    let job = b
        .wait_for(
            "document.querySelector('#jobs-list li[data-job-id]')?.dataset.jobId",
            WAIT,
        )
        .await;
    let job = job.as_str().unwrap().to_string();
    let state = |s: &str| {
        format!("document.querySelector('#jobs-list li[data-job-id=\"{job}\"] .job-state')?.dataset.state === '{s}'")
    };
    let stored = wait_job(&api.admin, &job, "offered", |j| j["state"] == "offered").await;
    // The click's point is the pickup (to the map's precision at this zoom: metres).
    let (plat, plon) = (num(&stored["pickup"]["lat"]), num(&stored["pickup"]["lon"]));
    assert!(
        haversine(plat, plon, lat, lon) < 50.0,
        "pickup {plat},{plon}"
    );
    b.wait_for(&state("offered"), WAIT).await;

    let r = driver
        .post(&format!("/v1/dispatch/jobs/{job}/accept"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    b.wait_for(&state("assigned"), WAIT).await;
    b.wait_for(
        "window.fleetdConsole.vehicle('cab-1').state === 'job'",
        WAIT,
    )
    .await;
    let shown = b
        .execute(
            "return window.fleetdConsole.job(arguments[0])",
            &[json!(job)],
        )
        .await;
    assert_eq!(shown["vehicle_id"], "cab-1", "{shown}");

    // A circle fence: the centre, then a point on the edge, a name, Save.
    b.find("#mode-circle").await.click().await;
    let (cx, cy) = screen_point(&b, lat, lon).await;
    b.click_at(cx + 40.0, cy + 40.0).await;
    b.click_at(cx + 100.0, cy + 40.0).await;
    b.find("#fence-name").await.send_keys("Depot North").await;
    b.find("#fence-save").await.click().await;
    b.wait_for("document.getElementById('fence-panel').hidden", WAIT)
        .await;
    let fences = api.admin.get("/v1/geofences").await.json();
    let fences = fences["items"].as_array().unwrap();
    assert_eq!(fences.len(), 1, "{fences:?}");
    assert_eq!(fences[0]["name"], "Depot North");
    // 60 px at zoom 13 near latitude 52.5: about 60 * 19.1 * cos(52.5°) ≈ 700 m.
    let r = num(&fences[0]["radius_m"]);
    assert!((500.0..900.0).contains(&r), "radius {r}");
    let errs = errors(&b).await;
    assert!(errs.is_empty(), "console errors: {errs:#?}");
}
