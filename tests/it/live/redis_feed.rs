//! The Redis write-through against a real Redis (`FLEETD_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`): `vehicle:{id}:status` hashes follow committed positions, never
//! move back in time, expire; and a Redis that is down never stops ingestion.
//!
//! Tests share one Redis, so each uses vehicle ids with its own random prefix and deletes
//! its keys at the end.

use std::collections::HashMap;

use crate::common::api::Api;
use crate::common::dispatch::*;
use crate::common::*;
use redis::AsyncCommands;
use serde_json::json;

fn redis_url() -> String {
    std::env::var("FLEETD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn prefix() -> String {
    format!("rf{:08x}", rand::random::<u32>())
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("redis at {} ({e}); run scripts/services.sh", redis_url()))
}

async fn status(con: &mut redis::aio::MultiplexedConnection, v: &str) -> HashMap<String, String> {
    con.hgetall(fleetd::live::redis::key(v)).await.unwrap()
}

async fn written(api: &Api) -> f64 {
    metric(api.daemon.addr, "fleetd_redis_positions_written_total", "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_hashes_follow_the_newest_committed_position_and_expire() {
    let p = prefix();
    let (v, w) = (format!("{p}-v"), format!("{p}-w"));
    let mut con = redis().await;
    // `w` is never registered: its position is written through all the same.
    let api = Api::start_with(|c| {
        c.redis.url = redis_url();
        c.redis.ttl_s = 120;
        c.ingest.unknown_vehicles = fleetd::config::UnknownVehicles::Store;
    })
    .await;
    let (_, driver_id) = seat(&api, &format!("{p}-d"), &v, 1, &TRUCK, "available").await;
    // The hash names the driver the roster knows at write time: wait until it does.
    eventually("the roster seats the driver", || async {
        api.daemon.dispatch.roster.driver_of(&v).map(|_| ())
    })
    .await;
    let publisher = Publisher::connect(&api.broker).await;
    let sql = api.db.client().await;
    let t = (now_ms() - 30_000) / 1000 * 1000;
    publisher
        .publish(
            &format!("fleet/{v}/gps"),
            json!({"ts": t, "lat": 59.3293, "lon": 18.0686,
                   "speed_kmh": 42.5, "heading_deg": 270.0})
            .to_string(),
        )
        .await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 1).await;
    let h = eventually("the status hash", || {
        let mut con = con.clone();
        let v = v.clone();
        async move { Some(status(&mut con, &v).await).filter(|h| !h.is_empty()) }
    })
    .await;
    let ts = chrono::DateTime::from_timestamp_millis(t)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let want: HashMap<String, String> = [
        ("lat", "59.3293"),
        ("lon", "18.0686"),
        ("speed_kmh", "42.5"),
        ("heading_deg", "270"),
        ("ts", ts.as_str()),
        ("driver", driver_id.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(h, want);
    let ttl: i64 = con.ttl(fleetd::live::redis::key(&v)).await.unwrap();
    assert!(ttl > 0 && ttl <= 120, "ttl {ttl}");
    assert_eq!(written(&api).await, 1.0);

    // An older reading is stored but never reaches Redis.
    publisher
        .publish(
            &format!("fleet/{v}/gps"),
            json!({"ts": t - 5_000, "lat": 1.0, "lon": 1.0}).to_string(),
        )
        .await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 2).await;
    publisher
        .publish(
            &format!("fleet/{w}/gps"),
            json!({"ts": t, "lat": 2.0, "lon": 2.0}).to_string(),
        )
        .await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 3).await;
    // Had the older reading been sent, it would have been written no later than w's hash
    // (the same pipeline or an earlier one), and the counter covers the whole pipeline.
    eventually("w written", || {
        let mut con = con.clone();
        let (w, api) = (w.clone(), &api);
        async move {
            let seen = !status(&mut con, &w).await.is_empty() && written(api).await >= 2.0;
            seen.then_some(())
        }
    })
    .await;
    assert_eq!(written(&api).await, 2.0);
    let h = status(&mut con, &v).await;
    assert_eq!(
        (h["lat"].as_str(), h["ts"].as_str()),
        ("59.3293", ts.as_str())
    );
    let hw = status(&mut con, &w).await;
    assert_eq!(
        (
            hw["lat"].as_str(),
            hw["driver"].as_str(),
            hw["speed_kmh"].as_str()
        ),
        ("2", "", "")
    );

    // A newer one replaces it.
    publisher
        .publish(
            &format!("fleet/{v}/gps"),
            json!({"ts": t + 1_000, "lat": 59.5, "lon": 18.5}).to_string(),
        )
        .await;
    let h = eventually("v updated", || {
        let mut con = con.clone();
        let v = v.clone();
        async move { Some(status(&mut con, &v).await).filter(|h| h["lat"] == "59.5") }
    })
    .await;
    assert_eq!(h["speed_kmh"], "");
    let ttl: i64 = con.ttl(fleetd::live::redis::key(&v)).await.unwrap();
    assert!(ttl > 0 && ttl <= 120, "ttl {ttl}");
    assert_eq!(
        metric(api.daemon.addr, "fleetd_redis_errors_total", "").await,
        0.0
    );
    api.daemon.shutdown().await;
    let _: () = con
        .del(&[fleetd::live::redis::key(&v), fleetd::live::redis::key(&w)])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_never_stops_ingestion() {
    let p = prefix();
    // Nothing listens on port 1: every connection attempt is refused.
    let api = Api::start_with(|c| {
        c.redis.url = "redis://127.0.0.1:1".into();
        c.ingest.unknown_vehicles = fleetd::config::UnknownVehicles::Store;
    })
    .await;
    let publisher = Publisher::connect(&api.broker).await;
    let sql = api.db.client().await;
    let t = now_ms() - 60_000;
    let send = |from: i64| {
        let publisher = &publisher;
        let p = p.clone();
        async move {
            for m in 0..10 {
                let batch: Vec<_> = (0..5)
                    .map(|i| json!({"ts": t + from + m * 10 + i, "lat": 10.0, "lon": m as f64}))
                    .collect();
                publisher
                    .publish(
                        &format!("fleet/{p}-{m}/gps"),
                        serde_json::to_vec(&batch).unwrap(),
                    )
                    .await;
            }
        }
    };
    send(0).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 50).await;
    eventually("redis errors counted", || async {
        (metric(api.daemon.addr, "fleetd_redis_errors_total", "").await >= 1.0).then_some(())
    })
    .await;
    // Still ingesting while Redis keeps failing, and still ready: readiness is PostgreSQL
    // and the broker (docs/http.md), never Redis.
    send(1_000).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 100).await;
    let (status, _, body) = http_get(api.daemon.addr, "/readyz", &[]).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        count(&sql, "SELECT count(*) FROM telemetry_rejects").await,
        0
    );
    let r = api.admin.get(&format!("/v1/vehicles/{p}-9/position")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let newest = chrono::DateTime::from_timestamp_millis(t + 1_000 + 94).unwrap();
    let ts: chrono::DateTime<chrono::Utc> = r.json()["ts"].as_str().unwrap().parse().unwrap();
    assert_eq!(ts, newest);
    assert_eq!(written(&api).await, 0.0);
    // Positions wait for Redis instead of piling up: one per vehicle.
    assert_eq!(
        metric(api.daemon.addr, "fleetd_redis_positions_dropped_total", "").await,
        0.0
    );
    api.daemon.shutdown().await;
}
