//! `/v1/locations`: create, list (by kind, paginated), read, change and delete; staff write,
//! anyone signed in reads, an admin deletes; hostile input (coordinates out of range or not
//! numbers, huge numbers, unknown kinds, over-long names, unknown geofences) refused with the
//! field named and nothing stored; deleting its geofence keeps the location, without a fence;
//! the OpenAPI document has the routes, `location_in_use` and the new fields.

use serde_json::{json, Value};

use crate::common::api::{customer, ids, Api};
use crate::common::errors::{body_errors, each_invalid, is, list_errors, unknown_ids};

fn depot() -> Value {
    json!({"name": " North depot ", "kind": "depot", "lat": 52.52, "lon": 13.405,
           "address": "Alexanderplatz 1, Berlin"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_are_created_listed_changed_and_deleted() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    let (dispatcher, _) = a.user("disp", "dispatcher").await;
    let (alice, _) = customer(&api, "alice").await;

    let r = dispatcher.post("/v1/locations", depot()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.json();
    assert_eq!(d["name"], "North depot");
    assert_eq!(
        (d["kind"].as_str(), d["lat"].as_f64(), d["lon"].as_f64()),
        (Some("depot"), Some(52.52), Some(13.405))
    );
    assert_eq!(d["geofence_id"], Value::Null);
    assert_eq!(d["address"], "Alexanderplatz 1, Berlin");
    let depot_id = d["id"].as_str().unwrap().to_string();
    // Stored as geography, where SQL finds it.
    let (lat, lon): (f64, f64) = {
        let row = db
            .query_one(
                "SELECT ST_Y(point::geometry), ST_X(point::geometry) FROM locations
                  WHERE id = $1::text::uuid",
                &[&depot_id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((lat, lon), (52.52, 13.405));

    // A city with a geofence; customers cannot create.
    let fence = a
        .post(
            "/v1/geofences",
            json!({"name": "Paris", "center": {"lat": 48.85, "lon": 2.35}, "radius_m": 5000}),
        )
        .await;
    assert_eq!(fence.status, 201, "{}", fence.body);
    let fence_id = fence.json()["id"].as_str().unwrap().to_string();
    let city = json!({"name": "Paris", "kind": "city", "lat": 48.85, "lon": 2.35,
                      "geofence_id": fence_id});
    is(
        &alice.post("/v1/locations", city.clone()).await,
        403,
        "forbidden",
        "customer creates",
    );
    let r = a.post("/v1/locations", city).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let city_id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["geofence_id"], fence_id.as_str());

    // Anyone signed in reads and lists; by kind; pages.
    let r = alice.get(&format!("/v1/locations/{depot_id}")).await;
    assert_eq!(
        (r.status, r.json()["name"].as_str()),
        (200, Some("North depot"))
    );
    let mut all = ids(&alice.get("/v1/locations").await);
    let mut want = vec![depot_id.clone(), city_id.clone()];
    all.sort();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(
        ids(&alice.get("/v1/locations?kind=city").await),
        [city_id.as_str()]
    );
    assert!(ids(&alice.get("/v1/locations?kind=custom").await).is_empty());
    let first = alice.get("/v1/locations?limit=1").await.json();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = alice
        .get(&format!("/v1/locations?limit=1&cursor={cursor}"))
        .await
        .json();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);

    // Change: a part of the point, the kind, clearing the address; customers cannot.
    let path = format!("/v1/locations/{depot_id}");
    is(
        &alice.patch(&path, json!({"name": "x"})).await,
        403,
        "forbidden",
        "customer patches",
    );
    let r = dispatcher
        .patch(
            &path,
            json!({"lat": 52.0, "kind": "custom", "address": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.json();
    assert_eq!(
        (c["lat"].as_f64(), c["lon"].as_f64()),
        (Some(52.0), Some(13.405))
    );
    assert_eq!(
        (c["kind"].as_str(), &c["address"]),
        (Some("custom"), &Value::Null)
    );
    assert_eq!(c["name"], "North depot");
    assert_eq!(c["created_at"], d["created_at"]);
    let r = dispatcher
        .patch(&path, json!({"geofence_id": fence_id}))
        .await;
    assert_eq!(r.json()["geofence_id"], fence_id.as_str(), "{}", r.body);
    let r = dispatcher.patch(&path, json!({"geofence_id": null})).await;
    assert_eq!(r.json()["geofence_id"], Value::Null, "{}", r.body);

    // Deleting the city's geofence keeps the city, without a fence.
    let r = a.delete(&format!("/v1/geofences/{fence_id}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = a.get(&format!("/v1/locations/{city_id}")).await;
    assert_eq!((r.status, &r.json()["geofence_id"]), (200, &Value::Null));

    // Delete: admin only; then gone.
    is(
        &dispatcher.delete(&path).await,
        403,
        "forbidden",
        "dispatcher deletes",
    );
    assert_eq!(a.delete(&path).await.status, 204);
    is(&a.get(&path).await, 404, "not_found", "deleted");
    is(&a.delete(&path).await, 404, "not_found", "deleted twice");
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_and_nothing_stored() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    body_errors(a, "POST", "/v1/locations").await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let cases = [
        ("lat", json!(90.0001)),
        ("lat", json!(-91)),
        ("lon", json!(180.5)),
        ("lon", json!(-1e300)),
        ("lat", json!(1e308)),
        ("lat", json!("52.5")),
        ("lat", json!(null)),
        ("-lon", Value::Null),
        ("lat", json!("NaN")),
        ("lon", json!("Infinity")),
        ("kind", json!("warehouse")),
        ("kind", json!("DEPOT")),
        ("-kind", Value::Null),
        ("name", json!("")),
        ("name", json!("   ")),
        ("name", json!("n".repeat(201))),
        ("name", json!("bad\u{0}name")),
        ("name", json!(42)),
        ("address", json!("a".repeat(501))),
        ("address", json!(" ")),
        ("geofence_id", json!(unknown)),
        ("geofence_id", json!("not-a-uuid")),
        ("id", json!(unknown)),
        ("radius_m", json!(100)),
    ];
    each_invalid(a, "POST", "/v1/locations", depot(), &cases).await;
    // A number too large for a double is not JSON fleetd reads: 400, as any malformed body.
    let r = crate::common::errors::send_raw(
        a,
        "POST",
        "/v1/locations",
        br#"{"name":"x","kind":"depot","lat":1e400,"lon":0}"#,
    )
    .await;
    is(&r, 400, "malformed_request", "lat 1e400");
    // The field is named.
    let r = a
        .post(
            "/v1/locations",
            crate::common::errors::with(depot(), "geofence_id", json!(unknown)),
        )
        .await;
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("geofence_id:"),
        "{}",
        r.body
    );
    let r = a
        .post(
            "/v1/locations",
            crate::common::errors::with(depot(), "lat", json!(95)),
        )
        .await;
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("lat:"),
        "{}",
        r.body
    );
    let n: i64 = db
        .query_one("SELECT count(*) FROM locations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "nothing stored");

    // Changes are checked the same way.
    let r = a.post("/v1/locations", depot()).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let path = format!("/v1/locations/{id}");
    body_errors(a, "PATCH", &path).await;
    let cases = [
        ("lat", json!(-90.5)),
        ("lon", json!(181)),
        ("kind", json!("hub")),
        ("name", json!("n".repeat(201))),
        ("geofence_id", json!(unknown)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
    ];
    each_invalid(a, "PATCH", &path, json!({}), &cases).await;
    let r = a.get(&path).await.json();
    assert_eq!(
        (r["lat"].as_f64(), r["name"].as_str()),
        (Some(52.52), Some("North depot"))
    );

    // Unknown ids and bad pages.
    unknown_ids(a, "GET", "/v1/locations", "", None).await;
    unknown_ids(a, "PATCH", "/v1/locations", "", Some(json!({"name": "x"}))).await;
    unknown_ids(a, "DELETE", "/v1/locations", "", None).await;
    list_errors(a, "/v1/locations", true).await;
    is(
        &a.get("/v1/locations?kind=hub").await,
        422,
        "invalid_value",
        "unknown kind filter",
    );
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_has_the_new_routes_and_fields() {
    let api = Api::start().await;
    let doc = api.anonymous().get("/openapi.json").await.json();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/v1/locations", "post"),
        ("/v1/locations", "get"),
        ("/v1/locations/{id}", "get"),
        ("/v1/locations/{id}", "patch"),
        ("/v1/locations/{id}", "delete"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    let codes = &paths["/v1/locations/{id}"]["delete"]["responses"]["409"]["content"]
        ["application/json"]["schema"]["properties"]["error"]["properties"]["code"]["enum"];
    assert!(
        codes
            .as_array()
            .unwrap()
            .contains(&json!("location_in_use")),
        "{codes}"
    );
    let params = paths["/v1/availability"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(
        params.iter().any(|p| p["name"] == "location_id"),
        "{params:?}"
    );
    // The bodies' new fields, by the schemas they name.
    let body = |path: &str| {
        let r = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        doc["components"]["schemas"][r]["properties"].clone()
    };
    assert!(body("/v1/pricing-plans")["one_way_fee"].is_object());
    for path in ["/v1/rentals", "/v1/rentals/quote"] {
        let props = body(path);
        assert!(props["origin_location_id"].is_object(), "{path}: {props}");
        assert!(
            props["destination_location_id"].is_object(),
            "{path}: {props}"
        );
    }
    let location = body("/v1/locations");
    assert_eq!(location["lat"]["maximum"], 90.0, "{location}");
    assert_eq!(
        location["kind"]["$ref"]
            .as_str()
            .map(|r| r.ends_with("LocationKind")),
        Some(true),
        "{location}"
    );
    api.daemon.shutdown().await;
}
