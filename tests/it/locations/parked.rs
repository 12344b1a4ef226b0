//! `GET /v1/availability?location_id=`: only the vehicles whose latest position is at the
//! location: inside its polygon or circle geofence, or within 200 m of its point when it has
//! none (both sides of the boundary, a metre apart); a vehicle that drove away or came back
//! is judged by its newest reading, one never seen is nowhere; the window's commitments
//! still apply. Positions are stored by the ingest path (MQTT) and, for exact coordinates,
//! written to `gps_readings` as the writers store them.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::common::api::{customer, hours_from_now, ids, plan, standard_plan, vehicle, Api};
use crate::common::dispatch::publish_fix;
use crate::common::errors::is;
use crate::common::{wait_count, Publisher};

/// Metres on the sphere of SPEC's haversine (and PostGIS' `use_spheroid = false`).
const R: f64 = 6_371_008.8;

/// `m` metres north of `lat`, in degrees (along a meridian: exact on the sphere).
fn north(lat: f64, m: f64) -> f64 {
    lat + (m / R).to_degrees()
}

async fn reading(
    db: &tokio_postgres::Client,
    vehicle: &str,
    ts: DateTime<Utc>,
    lat: f64,
    lon: f64,
) {
    db.execute(
        "INSERT INTO gps_readings (vehicle_id, ts, position, received_at)
         VALUES ($1, $2, ST_SetSRID(ST_MakePoint($4, $3), 4326), $2)",
        &[&vehicle, &ts, &lat, &lon],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_by_location_takes_each_vehicles_latest_position() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    let names = [
        "yard-in",
        "yard-out",
        "yard-back",
        "yard-left",
        "near-199",
        "far-201",
        "circle-in",
        "circle-out",
        "never-seen",
        "mqtt-in",
        "near-booked",
    ];
    for (i, v) in names.iter().enumerate() {
        vehicle(a, v, i as u32 + 1).await;
    }

    // A depot outlined by a polygon fence, a city spot with no fence (200 m around its point),
    // a depot outlined by a 300 m circle fence.
    let yard = a
        .post(
            "/v1/geofences",
            json!({"name": "yard", "geometry": {"type": "Polygon", "coordinates": [[
                [13.40, 52.50], [13.42, 52.50], [13.42, 52.51], [13.40, 52.51], [13.40, 52.50]
            ]]}}),
        )
        .await;
    assert_eq!(yard.status, 201, "{}", yard.body);
    let circle = a
        .post(
            "/v1/geofences",
            json!({"name": "ring", "center": {"lat": 48.85, "lon": 2.35}, "radius_m": 300}),
        )
        .await;
    assert_eq!(circle.status, 201, "{}", circle.body);
    let mut locations = Vec::new();
    for body in [
        // The point is outside its fence: the fence decides, not the point.
        json!({"name": "Yard", "kind": "depot", "lat": 52.60, "lon": 13.41,
               "geofence_id": yard.json()["id"]}),
        json!({"name": "Spot", "kind": "custom", "lat": 50.0, "lon": 8.0}),
        json!({"name": "Ring", "kind": "depot", "lat": 48.85, "lon": 2.35,
               "geofence_id": circle.json()["id"]}),
    ] {
        let r = a.post("/v1/locations", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        locations.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let (yard_l, spot_l, ring_l) = (&locations[0], &locations[1], &locations[2]);

    let now = Utc::now();
    let earlier = now - Duration::minutes(30);
    let recent = now - Duration::minutes(1);
    reading(&db, "yard-in", recent, 52.505, 13.41).await;
    reading(&db, "yard-out", recent, 52.515, 13.41).await;
    // Came back: outside before, inside now. Left: inside before, outside now.
    reading(&db, "yard-back", earlier, 52.60, 13.41).await;
    reading(&db, "yard-back", recent, 52.5001, 13.4001).await;
    reading(&db, "yard-left", earlier, 52.505, 13.41).await;
    reading(&db, "yard-left", recent, 52.49, 13.41).await;
    // 199 and 201 m north of the spot; a booked vehicle 10 m from it.
    reading(&db, "near-199", recent, north(50.0, 199.0), 8.0).await;
    reading(&db, "far-201", recent, north(50.0, 201.0), 8.0).await;
    reading(&db, "near-booked", recent, north(50.0, 10.0), 8.0).await;
    // 299 and 301 m north of the ring's centre.
    reading(&db, "circle-in", recent, north(48.85, 299.0), 2.35).await;
    reading(&db, "circle-out", recent, north(48.85, 301.0), 2.35).await;
    // Through the ingest path: MQTT, the writers, gps_readings.
    let publisher = Publisher::connect(&api.broker).await;
    publish_fix(
        &publisher,
        "mqtt-in",
        recent.timestamp_millis(),
        52.506,
        13.411,
    )
    .await;
    wait_count(
        &db,
        "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'mqtt-in'",
        1,
    )
    .await;

    // near-booked is rented for the window asked about.
    let (_, alice) = customer(&api, "alice").await;
    let p = plan(a, standard_plan()).await;
    let (from, to) = (hours_from_now(24), hours_from_now(48));
    let r = a
        .post(
            "/v1/rentals",
            json!({"vehicle_id": "near-booked", "customer_id": alice, "plan_id": p,
                   "starts_at": from, "ends_at": to, "estimated_km": 0}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let at = |location: &str| {
        let path = format!(
            "/v1/availability?from={}&to={}&location_id={location}",
            urlencoding(&from),
            urlencoding(&to)
        );
        async move {
            let r = a.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            ids(&r)
        }
    };
    assert_eq!(at(yard_l).await, ["mqtt-in", "yard-back", "yard-in"]);
    assert_eq!(at(spot_l).await, ["near-199"]);
    assert_eq!(at(ring_l).await, ["circle-in"]);
    // Without the filter: every free vehicle, seen or not.
    let all = a
        .get(&format!(
            "/v1/availability?from={}&to={}",
            urlencoding(&from),
            urlencoding(&to)
        ))
        .await;
    assert_eq!(ids(&all).len(), names.len() - 1, "{}", all.body);
    // The filter pages like the rest.
    let page = a
        .get(&format!(
            "/v1/availability?from={}&to={}&location_id={yard_l}&limit=2",
            urlencoding(&from),
            urlencoding(&to)
        ))
        .await
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());

    // Unknown and malformed locations.
    for bad in ["00000000-0000-4000-8000-000000000000", "yard"] {
        let r = a
            .get(&format!(
                "/v1/availability?from={}&to={}&location_id={bad}",
                urlencoding(&from),
                urlencoding(&to)
            ))
            .await;
        is(&r, 422, "invalid_value", bad);
        assert!(
            r.body.contains("location_id") || r.body.contains("query"),
            "{}",
            r.body
        );
    }
    api.daemon.shutdown().await;
}

/// `+` in an RFC 3339 offset must be escaped in a query string.
fn urlencoding(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
