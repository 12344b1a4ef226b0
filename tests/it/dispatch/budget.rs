//! The candidate budget of nearest queries and matching (`dispatch.max_candidates_examined`)
//! against a real daemon: spent on vehicles that could be offered work, so that vehicles
//! nobody can dispatch crowding a pickup do not hide the drivers behind them (issue 13), and
//! still bounding a query that its own filter makes hopeless.

use crate::common::api::Api;
use crate::common::dispatch::*;
use crate::common::*;
use fleetd::dispatch::Requirements;
use fleetd::live::{LiveIndex, NearestQuery};
use serde_json::json;

const BASE: (f64, f64) = (52.52, 13.405);

/// Issue 13's finding: 1,500 registered vehicles without a driver, 300 with an off-duty
/// driver and 200 whose available drivers went silent an hour ago, crowding the
/// pickup, against a budget of 1,000; one available driver 4.5 km away. The whole-index search
/// stops empty and truncated among them; nearest and the matcher find the driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicles_nobody_can_dispatch_do_not_use_up_the_budget() {
    let api = Api::start_with(|c| {
        c.dispatch.max_candidates_examined = 1_000;
        // The stale-vehicle sweep runs every 5 s.
        c.dispatch.staleness_s = 20;
    })
    .await;
    let a = &api.admin;
    let sql = api.db.client().await;
    seed_fleet(&sql, "ghost", 1_500, None).await;
    seed_fleet(&sql, "parked", 300, Some("off_duty")).await;
    seed_fleet(&sql, "gone", 200, Some("available")).await;
    let (_, driver_id) = seat(&api, "far-driver", "far-0", 1, &TRUCK, "available").await;
    let roster = &api.daemon.dispatch.roster;
    eventually("the roster has every seat", || async {
        (roster.counts() == (501, 201)).then_some(())
    })
    .await;

    let live = &api.daemon.live;
    let now = now_ms() * 1000;
    live.upsert_many(grid("ghost", 1_500, BASE, now));
    live.upsert_many(grid(
        "parked",
        300,
        offset(BASE.0, BASE.1, 0.0, -500.0),
        now,
    ));
    live.upsert_many(grid(
        "gone",
        200,
        offset(BASE.0, BASE.1, -300.0, 0.0),
        now - 3_600_000_000,
    ));
    let far = offset(BASE.0, BASE.1, 4_500.0, 0.0);
    live.upsert_many(grid("far", 1, far, now));
    // 2,000 vehicles within the default 5 km radius, one of which can be offered work.
    let q = NearestQuery {
        lat: BASE.0,
        lon: BASE.1,
        k: 10,
        radius_m: 5_000.0,
        now_us: now,
        staleness: std::time::Duration::from_secs(20),
        max_examined: 1_000,
    };
    let whole = {
        let view = roster.view();
        live.nearest(&q, &view.eligible(&Requirements::default(), &[], now))
            .unwrap()
    };
    assert_eq!(
        (whole.hits.len(), whole.truncated),
        (0, true),
        "the finding"
    );

    let r = a
        .get(&format!(
            "/v1/dispatch/nearest?lat={}&lon={}",
            BASE.0, BASE.1
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["truncated"], false, "{body}");
    let found: Vec<(String, String)> = items(&r)
        .iter()
        .map(|i| (i["vehicle_id"].to_string(), i["driver_id"].to_string()))
        .collect();
    assert_eq!(
        found,
        [(json!("far-0").to_string(), json!(driver_id).to_string())],
        "{body}"
    );

    // The silent drivers' vehicles leave the dispatchable tree at the next sweep; they stay
    // in the live index (their position is still served).
    eventually("stale vehicles unlisted", || async {
        (live.read(LiveIndex::dispatchable_listed) == 1).then_some(())
    })
    .await;
    assert_eq!(live.len(), 2_001);

    // The matcher, under the same budget, offers the job to the far driver.
    live.upsert_many(grid("far", 1, far, now_ms() * 1000));
    let job = create_job(a, BASE.0, BASE.1).await;
    let offered = wait_job(a, &job, "offered", |j| j["state"] == "offered").await;
    assert_eq!(offered["driver_id"], driver_id.as_str(), "{offered}");
    assert_eq!(offered["vehicle_id"], "far-0", "{offered}");
    assert_eq!(
        metric(a.addr, "fleetd_dispatch_nearest_truncated_total", "").await,
        0.0
    );
    api.daemon.shutdown().await;
}

/// A query its own filter makes hopeless (a type nobody drives) over more available
/// drivers than the budget examines at most `dispatch.max_candidates_examined` of them,
/// answers from them and says it was cut short; the maximum radius is configurable and
/// enforced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_nothing_passes_is_cut_short_and_says_so() {
    let api = Api::start_with(|c| {
        c.dispatch.max_candidates_examined = 1_000;
        c.dispatch.max_radius_m = 50_000.0;
    })
    .await;
    let a = &api.admin;
    let sql = api.db.client().await;
    seed_fleet(&sql, "truck", 1_500, Some("available")).await;
    let roster = &api.daemon.dispatch.roster;
    eventually("the roster has every seat", || async {
        (roster.counts() == (1_500, 1_500)).then_some(())
    })
    .await;
    let fleet = grid("truck", 1_500, BASE, now_ms() * 1000);
    assert_eq!(api.daemon.live.upsert_many(fleet).inserted, 1_500);
    let q = format!("lat={}&lon={}&k=1000&radius_m=50000", BASE.0, BASE.1);
    let r = a.get(&format!("/v1/dispatch/nearest?{q}&type=bus")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"items": [], "truncated": true}));
    assert_eq!(
        metric(a.addr, "fleetd_dispatch_nearest_truncated_total", "").await,
        1.0,
        "counted, not logged per query"
    );
    // Without the impossible filter the same drivers are found.
    let q3 = format!("lat={}&lon={}&k=3&radius_m=50000", BASE.0, BASE.1);
    assert_eq!(
        nearest_ids(a, &q3).await,
        ["truck-0", "truck-1", "truck-60"]
    );
    let r = a
        .get(&format!(
            "/v1/dispatch/nearest?lat={}&lon={}&radius_m=50001",
            BASE.0, BASE.1
        ))
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "invalid_value"));
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("radius_m") && message.contains("50000"),
        "{message}"
    );
    api.daemon.shutdown().await;
}
