//! `/v1/geofences`: circles and polygons (one across the antimeridian, a MultiPolygon with
//! a hole) are stored as PostGIS geography that SQL agrees with; changes replace the area
//! whole; staff only; malformed, out-of-range, oversized and hostile input refused with the
//! field named, and nothing stored.

use serde_json::{json, Value};

use crate::common::api::Api;
use crate::common::errors::{body_errors, each_invalid, is, list_errors, unknown_ids};

fn square(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Value {
    json!({ "type": "Polygon", "coordinates": [[
        [lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]
    ]]})
}

/// `v` with every number as a float (PostgreSQL's jsonb writes 10.0 as 10).
fn as_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(as_floats).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), as_floats(v))).collect())
        }
        other => other.clone(),
    }
}

/// Whether PostGIS finds `(lon, lat)` inside fence `id`, the way docs/geofences.md tells SQL
/// users to ask.
async fn sql_inside(db: &tokio_postgres::Client, id: &str, lon: f64, lat: f64) -> bool {
    db.query_one(
        "SELECT CASE WHEN center IS NOT NULL
                     THEN ST_DWithin(center, ST_MakePoint($2, $3)::geography, radius_m, false)
                     ELSE ST_Covers(area, ST_MakePoint($2, $3)::geography) END
           FROM geofences WHERE id = $1::text::uuid",
        &[&id, &lon, &lat],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fences_are_stored_as_geography_and_changed_whole() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;

    let circle = a
        .post(
            "/v1/geofences",
            json!({ "name": " Depot ", "tags": ["depot", "paris", "depot"],
                    "center": { "lat": 48.85, "lon": 2.35 }, "radius_m": 500,
                    "dwell_s": 600, "hysteresis_m": 25,
                    "selector": { "vehicle_types": ["van"] } }),
        )
        .await;
    assert_eq!(circle.status, 201, "{}", circle.body);
    let c = circle.json();
    assert_eq!(c["name"], "Depot");
    assert_eq!(c["tags"], json!(["depot", "paris"]));
    assert_eq!(c["radius_m"], 500.0);
    assert_eq!(c["selector"], json!({ "vehicle_types": ["van"] }));
    assert!(c.get("geometry").is_none());
    let cid = c["id"].as_str().unwrap().to_string();
    assert!(
        sql_inside(&db, &cid, 2.35, 48.853).await,
        "333 m from the centre"
    );
    assert!(
        !sql_inside(&db, &cid, 2.35, 48.856).await,
        "667 m from the centre"
    );

    // Across the antimeridian: edges take the short way, as geography does.
    let pacific = a
        .post(
            "/v1/geofences",
            json!({ "name": "Fiji", "geometry": square(179.0, -18.0, -179.0, -16.0),
                    "speed_limit_kmh": 80 }),
        )
        .await;
    assert_eq!(pacific.status, 201, "{}", pacific.body);
    let pid = pacific.json()["id"].as_str().unwrap().to_string();
    assert!(sql_inside(&db, &pid, 180.0, -17.0).await);
    assert!(sql_inside(&db, &pid, -179.5, -17.0).await);
    assert!(!sql_inside(&db, &pid, 0.0, -17.0).await);
    assert_eq!(pacific.json()["selector"], json!({}), "all vehicles");

    // A MultiPolygon whose first part has a hole.
    let multi = json!({ "type": "MultiPolygon", "coordinates": [
        [[[10.0, 10.0], [12.0, 10.0], [12.0, 12.0], [10.0, 12.0], [10.0, 10.0]],
         [[10.5, 10.5], [10.5, 11.5], [11.5, 11.5], [11.5, 10.5], [10.5, 10.5]]],
        [[[20.0, 20.0], [21.0, 20.0], [21.0, 21.0], [20.0, 21.0], [20.0, 20.0]]]
    ]});
    let m = a
        .post(
            "/v1/geofences",
            json!({ "name": "Two", "tags": ["x"], "geometry": multi }),
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.body);
    let mid = m.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        as_floats(&m.json()["geometry"]),
        as_floats(&multi),
        "the GeoJSON as given"
    );
    assert!(sql_inside(&db, &mid, 10.2, 10.2).await);
    assert!(!sql_inside(&db, &mid, 11.0, 11.0).await, "in the hole");
    assert!(sql_inside(&db, &mid, 20.5, 20.5).await);

    // Listing, by tag.
    let all = a.get("/v1/geofences").await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    let depots = a.get("/v1/geofences?tag=depot").await.json();
    assert_eq!(depots["items"].as_array().unwrap().len(), 1);
    assert_eq!(depots["items"][0]["id"], cid.as_str());

    // A circle keeps what a change leaves out; a polygon replaces it whole.
    let r = a
        .patch(
            &format!("/v1/geofences/{cid}"),
            json!({ "radius_m": 1000, "dwell_s": null }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["center"], json!({ "lat": 48.85, "lon": 2.35 }));
    assert!(r.json()["dwell_s"].is_null());
    assert_eq!(r.json()["hysteresis_m"], 25.0, "unchanged");
    assert!(sql_inside(&db, &cid, 2.35, 48.856).await, "now inside 1 km");
    let r = a
        .patch(
            &format!("/v1/geofences/{cid}"),
            json!({ "geometry": square(2.0, 48.0, 3.0, 49.0) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("center").is_none() && r.json().get("radius_m").is_none());
    assert!(sql_inside(&db, &cid, 2.9, 48.9).await);
    // A polygon becoming a circle needs both fields.
    let r = a
        .patch(&format!("/v1/geofences/{cid}"), json!({ "radius_m": 10 }))
        .await;
    is(&r, 422, "invalid_value", "radius without a centre");
    assert!(r.body.contains("center"), "{}", r.body);

    // Deleted is gone.
    let r = a.delete(&format!("/v1/geofences/{mid}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(a.get(&format!("/v1/geofences/{mid}")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_refuse_bad_input_and_non_staff() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    let base = json!({ "name": "F", "center": { "lat": 1.0, "lon": 1.0 }, "radius_m": 100 });
    let bowtie = json!({ "type": "Polygon", "coordinates": [[
        [0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]
    ]]});
    let open_ring = json!({ "type": "Polygon", "coordinates": [[
        [0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]
    ]]});
    let huge: Vec<Value> = (0..=10_001)
        .map(|i| {
            let t = i as f64 / 10_001.0 * std::f64::consts::TAU;
            json!([t.cos(), t.sin()])
        })
        .collect();
    let mut huge_ring = huge.clone();
    huge_ring.push(huge[0].clone());
    each_invalid(
        a,
        "POST",
        "/v1/geofences",
        base.clone(),
        &[
            ("name", json!("")),
            ("name", json!("x".repeat(201))),
            ("name", json!("bad\u{0}name")),
            ("tags", json!(vec!["t"; 33])),
            ("tags", json!([""])),
            ("radius_m", json!(0)),
            ("radius_m", json!(-5)),
            ("radius_m", json!(1_000_001)),
            ("radius_m", json!("100")),
            ("-radius_m", json!(null)),
            ("-center", json!(null)),
            ("center", json!({ "lat": 91.0, "lon": 0.0 })),
            ("center", json!({ "lat": 0.0, "lon": 180.5 })),
            ("center", json!({ "lat": 0.0 })),
            ("geometry", square(0.0, 0.0, 1.0, 1.0)),
            ("speed_limit_kmh", json!(0)),
            ("speed_limit_kmh", json!(1001)),
            ("dwell_s", json!(0)),
            ("dwell_s", json!(2_592_001)),
            ("hysteresis_m", json!(-1)),
            ("hysteresis_m", json!(10_001)),
            ("selector", json!({ "vehicle_ids": ["has space"] })),
            ("selector", json!({ "vehicle_ids": ["ok", "../../etc"] })),
            ("selector", json!({ "vehicle_types": [""] })),
            ("selector", json!({ "fleet": "all" })),
            ("bogus", json!(1)),
        ],
    )
    .await;
    let poly = json!({ "name": "P", "geometry": square(0.0, 0.0, 1.0, 1.0) });
    each_invalid(
        a,
        "POST",
        "/v1/geofences",
        poly.clone(),
        &[
            ("geometry", bowtie),
            ("geometry", open_ring),
            ("geometry", json!({ "type": "Polygon", "coordinates": [huge_ring] })),
            ("geometry", json!({ "type": "Point", "coordinates": [0.0, 0.0] })),
            ("geometry", json!({ "type": "Polygon", "coordinates": "[[0,0]]" })),
            ("geometry", json!({ "type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]] })),
            ("geometry", json!({ "type": "Polygon", "coordinates": [[["0", 0.0], [1.0, 0.0], [1.0, 1.0], ["0", 0.0]]] })),
            ("geometry", json!({ "type": "Polygon", "coordinates": [[[0.0, 95.0], [1.0, 0.0], [1.0, 1.0], [0.0, 95.0]]] })),
            ("geometry", json!([[[[[[[[0]]]]]]]])),
            ("geometry", json!(null)),
        ],
    )
    .await;
    body_errors(a, "POST", "/v1/geofences").await;
    list_errors(a, "/v1/geofences", true).await;
    let r = a.get("/v1/geofences?tag=").await;
    assert_eq!(r.status, 200, "an empty parameter is absent: {}", r.body);
    unknown_ids(a, "GET", "/v1/geofences", "", None).await;
    unknown_ids(
        a,
        "PATCH",
        "/v1/geofences",
        "",
        Some(json!({ "name": "x" })),
    )
    .await;
    unknown_ids(a, "DELETE", "/v1/geofences", "", None).await;

    // Nothing was stored by any refusal.
    let n: i64 = db
        .query_one("SELECT count(*) FROM geofences", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // Staff only: a driver and a customer are refused.
    let (driver, _) = crate::common::api::driver(&api, "gf-driver").await;
    let (customer, _) = crate::common::api::customer(&api, "gf-customer").await;
    for c in [&driver, &customer] {
        is(&c.get("/v1/geofences").await, 403, "forbidden", "list");
        is(
            &c.post("/v1/geofences", base.clone()).await,
            403,
            "forbidden",
            "create",
        );
        let nil = uuid::Uuid::nil();
        let inside = c.get(&format!("/v1/geofences/{nil}/vehicles")).await;
        is(&inside, 403, "forbidden", "who is inside");
        let within = c.get("/v1/vehicles/v1/geofences").await;
        is(&within, 403, "forbidden", "a vehicle's fences");
    }
}
