//! Which routes read the replica, with the caller's row-level security in force there, and
//! the lag limit: a replica whose replay is paused is read until it is
//! `replica_max_lag_ms` behind, then the primary is.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{reading, track_len, v1_read_from_the_replica, window};
use crate::common::api::{assign_now, vehicle, Client};
use crate::common::replica::ReplicaApi;

/// A driver user with a profile, seated in `vehicle`: its client.
async fn seated_driver(admin: &Client, name: &str, vehicle: &str) -> Client {
    let (client, user_id) = admin.user(name, "driver").await;
    let r = admin
        .post(
            "/v1/drivers",
            json!({"user_id": user_id, "name": name, "licence_number": format!("L-{name}"),
                   "licence_expiry": "2099-01-01"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assign_now(admin, &id, vehicle, 8).await;
    let r = client
        .patch(
            &format!("/v1/drivers/{id}"),
            json!({"current_vehicle_id": vehicle}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_reports_are_read_from_the_replica_under_the_callers_row_security() {
    let api = ReplicaApi::start(|c| c.trips.enabled = false).await;
    let a = &api.admin;
    vehicle(a, "v1", 1).await;
    vehicle(a, "v2", 2).await;
    let dee = seated_driver(a, "dee", "v1").await;
    let db = api.cluster.primary.client().await;
    reading(&db, "v1", 10).await;
    let trip: i64 = db
        .query_one(
            "INSERT INTO trips (vehicle_id, start_ts, end_ts, start_position, end_position,
                 distance_m, moving_s, idle_s, max_speed_kmh, avg_speed_kmh, readings, path,
                 decided_at, resume_at)
             VALUES ('v1', now() - interval '20 min', now() - interval '10 min',
                 ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326), ST_SetSRID(ST_MakePoint(13.5, 52.5), 4326),
                 6800, 600, 0, 50, 40, 600,
                 ST_SetSRID(ST_MakeLine(ST_MakePoint(13.4, 52.5), ST_MakePoint(13.5, 52.5)), 4326),
                 now(), now() - interval '10 min')
             RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    db.execute(
        "INSERT INTO stops (vehicle_id, start_ts, end_ts, position, decided_at, resume_at)
         VALUES ('v1', now() - interval '10 min', now() - interval '5 min',
                 ST_SetSRID(ST_MakePoint(13.5, 52.5), 4326), now(), now() - interval '5 min')",
        &[],
    )
    .await
    .unwrap();
    api.cluster.wait_replayed().await;
    api.wait_replica_in_use().await;

    let (replica0, primary0) = (api.reads("replica").await, api.reads("primary").await);
    let w = window();
    let items = |r: &crate::common::api::Resp| r.json()["items"].as_array().unwrap().len();
    assert_eq!(track_len(a, "v1").await, 1);
    let r = a.get(&format!("/v1/vehicles/v1/trips?{w}")).await;
    assert_eq!((r.status, items(&r)), (200, 1), "{}", r.body);
    let r = a.get(&format!("/v1/trips/{trip}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"]["type"], "LineString");
    let r = a.get(&format!("/v1/vehicles/v1/stops?{w}")).await;
    assert_eq!((r.status, items(&r)), (200, 1), "{}", r.body);
    let r = a.get(&format!("/v1/vehicles/v1/summary?{w}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.get(&format!("/v1/vehicles/v1/obd?{w}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.get(&format!("/v1/reports/fleet?{w}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a
        .send(
            "GET",
            &format!("/v1/reports/fleet?{w}"),
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.lines().any(|l| l.starts_with("\"v1\"")),
        "{}",
        r.body
    );
    let r = a.get("/v1/reports/dashboard").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["vehicles"]["registered"], 2);
    // The driver's own vehicle: the replica answers under the driver's scope. Were the
    // scope missing there, the policies would hide the driver's seat, the check answer 403,
    // and the read go to the primary.
    let r = dee.get(&format!("/v1/vehicles/v1/trips?{w}")).await;
    assert_eq!((r.status, items(&r)), (200, 1), "{}", r.body);
    let r = dee.get(&format!("/v1/trips/{trip}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.reads("replica").await - replica0,
        11.0,
        "every read served by the replica"
    );
    assert_eq!(api.reads("primary").await - primary0, 0.0);

    // Another vehicle's history stays forbidden to the driver; a 403 the replica's lag could
    // explain is asked of the primary, which says the same.
    let r = dee.get(&format!("/v1/vehicles/v2/trips?{w}")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(api.reads("primary").await - primary0, 1.0);
    // A vehicle registered a moment ago is found even before the replica has it.
    api.cluster.pause_replay().await;
    vehicle(a, "v3", 3).await;
    let r = a.get(&format!("/v1/vehicles/v3/trips?{w}")).await;
    assert_eq!((r.status, items(&r)), (200, 0), "{}", r.body);
    api.cluster.resume_replay().await;
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_replica_is_read_until_it_is_too_far_behind_then_the_primary() {
    const MAX_LAG_MS: u64 = 3_000;
    let api = ReplicaApi::start(|c| {
        c.trips.enabled = false;
        c.database.replica_max_lag_ms = MAX_LAG_MS;
    })
    .await;
    let a = &api.admin;
    let db = v1_read_from_the_replica(&api).await;

    // Replay stops; the primary goes on. The replica still answers, its older state.
    api.cluster.pause_replay().await;
    reading(&db, "v1", 5).await;
    let written = Instant::now();
    let replica0 = api.reads("replica").await;
    assert_eq!(track_len(a, "v1").await, 1, "the replica's state");
    assert_eq!(api.reads("replica").await - replica0, 1.0);

    // Until it is too far behind: then the primary answers, with the new reading.
    let primary0 = api.reads("primary").await;
    while track_len(a, "v1").await == 1 {
        assert!(
            written.elapsed() < Duration::from_secs(10),
            "the primary never took over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let switched = written.elapsed();
    eprintln!("paused replica given up {switched:?} after the write (limit {MAX_LAG_MS} ms)");
    // The bound counts from the last check that found it caught up, at most a second
    // before the write.
    assert!(
        switched >= Duration::from_millis(MAX_LAG_MS - 1_100),
        "given up after {switched:?}, before the lag could pass {MAX_LAG_MS} ms"
    );
    assert!(api.reads("primary").await - primary0 >= 1.0);
    let lag = crate::common::metric(api.daemon.addr, "fleetd_replica_lag_seconds", "").await;
    assert!(lag >= 1.0, "lag gauge {lag}");
    let ready = crate::common::http_get(api.daemon.addr, "/readyz", &[])
        .await
        .unwrap();
    assert_eq!(
        ready.0, 200,
        "a lagging replica never makes the daemon unready"
    );
    let checks: serde_json::Value = serde_json::from_str(&ready.2).unwrap();
    assert_eq!(
        checks["checks"]["replica"]["state"], "standby",
        "{}",
        ready.2
    );
    assert_eq!(checks["checks"]["replica"]["in_use"], false, "{}", ready.2);

    // Replay resumes: the replica is read again, now with the new reading.
    api.cluster.resume_replay().await;
    let resumed = Instant::now();
    api.wait_replica_in_use().await;
    eprintln!("resumed replica read again after {:?}", resumed.elapsed());
    let replica1 = api.reads("replica").await;
    assert_eq!(track_len(a, "v1").await, 2);
    assert_eq!(api.reads("replica").await - replica1, 1.0);
    api.daemon.shutdown().await;
}
