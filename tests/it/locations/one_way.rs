//! One-way rentals: a plan's `one_way_fee` is one charge of its own, in the quote, the
//! reservation, `GET /v1/rentals/{id}`, the `rental.reserved` event and the total, exactly
//! when the destination differs from the origin; the destination defaults to the origin;
//! unknown or incomplete locations are refused with the field named; cancelling credits the
//! fee with the rest; a location rentals name cannot be deleted, also when the delete races
//! the reservation.

use serde_json::{json, Value};

use crate::common::api::{customer, hours_from_now, plan, standard_plan, vehicle, Api, Client};
use crate::common::errors::{each_invalid, is};

async fn location(a: &Client, name: &str, lat: f64, lon: f64) -> String {
    let r = a
        .post(
            "/v1/locations",
            json!({"name": name, "kind": "depot", "lat": lat, "lon": lon}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

fn fees(v: &Value, key: &str) -> Vec<Value> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "one_way_fee")
        .cloned()
        .collect()
}

fn sum(v: &Value, key: &str) -> i64 {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["amount"].as_i64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_way_fee_is_its_own_charge_exactly_when_the_ends_differ() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    let (alice, alice_id) = customer(&api, "alice").await;
    for (i, v) in ["car-1", "car-2", "car-3"].iter().enumerate() {
        vehicle(a, v, i as u32 + 1).await;
    }
    let berlin = location(a, "Berlin", 52.52, 13.405).await;
    let hamburg = location(a, "Hamburg", 53.55, 9.99).await;

    // Plans: the fee defaults to 0, is money (never negative, at most 10^12).
    let mut body = standard_plan();
    let r = a.post("/v1/pricing-plans", body.clone()).await;
    assert_eq!(r.json()["one_way_fee"], 0, "{}", r.body);
    body["one_way_fee"] = json!(2500);
    let p = plan(a, body.clone()).await;
    let r = alice.get(&format!("/v1/pricing-plans/{p}")).await;
    assert_eq!(r.json()["one_way_fee"], 2500);
    for bad in [
        json!(-1),
        json!(1_000_000_000_001_i64),
        json!(25.5),
        json!("2500"),
    ] {
        let mut b = body.clone();
        b["one_way_fee"] = bad.clone();
        let r = a.post("/v1/pricing-plans", b).await;
        is(&r, 422, "invalid_value", &format!("one_way_fee={bad}"));
        assert!(r.body.contains("one_way_fee"), "{}", r.body);
    }

    // Quotes: the fee only when the ends differ.
    let (from, to) = (hours_from_now(100), hours_from_now(148));
    let window = json!({"plan_id": p, "starts_at": from, "ends_at": to, "estimated_km": 100});
    let alice_ref = &alice;
    let quote = |ends: Value| {
        let mut b = window.clone();
        b.as_object_mut()
            .unwrap()
            .extend(ends.as_object().unwrap().clone());
        async move {
            let r = alice_ref.post("/v1/rentals/quote", b).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()
        }
    };
    let one_way =
        quote(json!({"origin_location_id": berlin, "destination_location_id": hamburg})).await;
    let f = fees(&one_way, "items");
    assert_eq!(f.len(), 1, "{one_way}");
    assert_eq!(
        f[0],
        json!({"kind": "one_way_fee", "quantity": 1, "unit_amount": 2500, "amount": 2500})
    );
    assert_eq!(one_way["total"], 2 * 5000 + 2500);
    assert_eq!(one_way["total"].as_i64().unwrap(), sum(&one_way, "items"));
    for ends in [
        json!({}),
        json!({"origin_location_id": berlin}),
        json!({"origin_location_id": berlin, "destination_location_id": berlin}),
    ] {
        let q = quote(ends.clone()).await;
        assert!(fees(&q, "items").is_empty(), "{ends}: {q}");
        assert_eq!(q["total"], 2 * 5000, "{ends}");
    }

    // Reserving one-way: the fee charged once, shown by the rental and the event.
    let reserve = |vehicle: &str, ends: Value| {
        let mut b = window.clone();
        b["vehicle_id"] = json!(vehicle);
        b["customer_id"] = json!(alice_id);
        b.as_object_mut()
            .unwrap()
            .extend(ends.as_object().unwrap().clone());
        b
    };
    let r = a
        .post(
            "/v1/rentals",
            reserve(
                "car-1",
                json!({"origin_location_id": berlin, "destination_location_id": hamburg}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rental = r.json();
    let id = rental["id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            rental["origin_location_id"].as_str(),
            rental["destination_location_id"].as_str()
        ),
        (Some(berlin.as_str()), Some(hamburg.as_str()))
    );
    assert_eq!(fees(&rental, "charges").len(), 1, "{rental}");
    assert_eq!(rental["total_charged"], one_way["total"]);
    assert_eq!(rental["charges"], one_way["items"]);
    let shown = alice.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(shown["charges"], rental["charges"]);
    assert_eq!(shown["balance"], 2 * 5000 + 2500);
    let stored: Vec<(String, i64)> = db
        .query(
            "SELECT kind, amount FROM rental_charges WHERE rental_id = $1::text::uuid ORDER BY id",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        stored,
        [
            ("base".to_string(), 10_000),
            ("one_way_fee".to_string(), 2500)
        ]
    );
    let events = crate::alerts::events_of(&db, "rental.reserved").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["rental"]["charges"], rental["charges"]);
    assert_eq!(
        events[0]["rental"]["destination_location_id"],
        hamburg.as_str()
    );

    // A round trip: the destination defaults to the origin, no fee; no locations: none either.
    let r = a
        .post(
            "/v1/rentals",
            reserve("car-2", json!({"origin_location_id": berlin})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let round = r.json();
    assert_eq!(round["destination_location_id"], berlin.as_str());
    assert!(fees(&round, "charges").is_empty());
    assert_eq!(round["total_charged"], 2 * 5000);
    let r = a.post("/v1/rentals", reserve("car-3", json!({}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let plain = r.json();
    assert_eq!(
        (
            &plain["origin_location_id"],
            &plain["destination_location_id"]
        ),
        (&Value::Null, &Value::Null)
    );
    assert!(fees(&plain, "charges").is_empty());

    // A customer reserves one-way for itself, as staff do.
    let mut own = reserve(
        "car-2",
        json!({"origin_location_id": hamburg, "destination_location_id": berlin}),
    );
    own["starts_at"] = json!(hours_from_now(200));
    own["ends_at"] = json!(hours_from_now(224));
    let r = alice.post("/v1/rentals", own).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(fees(&r.json(), "charges").len(), 1, "{}", r.body);
    assert_eq!(r.json()["total_charged"], 5000 + 2500);

    // Refused: a destination without an origin, unknown locations (the field named).
    let unknown = "00000000-0000-4000-8000-000000000000";
    for (ends, field) in [
        (
            json!({"destination_location_id": hamburg}),
            "origin_location_id",
        ),
        (json!({"origin_location_id": unknown}), "origin_location_id"),
        (
            json!({"origin_location_id": berlin, "destination_location_id": unknown}),
            "destination_location_id",
        ),
    ] {
        for (path, body) in [
            ("/v1/rentals", reserve("car-3", ends.clone())),
            ("/v1/rentals/quote", {
                let mut b = window.clone();
                b.as_object_mut()
                    .unwrap()
                    .extend(ends.as_object().unwrap().clone());
                b
            }),
        ] {
            let r = a.post(path, body).await;
            is(&r, 422, "invalid_value", &format!("{path} {ends}"));
            let message = r.json()["error"]["message"].as_str().unwrap().to_string();
            assert!(message.starts_with(&format!("{field}:")), "{message}");
        }
    }
    each_invalid(
        a,
        "POST",
        "/v1/rentals/quote",
        window.clone(),
        &[
            ("origin_location_id", json!("berlin")),
            ("destination_location_id", json!(7)),
        ],
    )
    .await;

    // A location rentals name stays; one no rental names goes.
    let r = a.delete(&format!("/v1/locations/{hamburg}")).await;
    is(&r, 409, "location_in_use", "delete a destination");
    let spare = location(a, "Spare", 50.0, 8.0).await;
    assert_eq!(
        a.delete(&format!("/v1/locations/{spare}")).await.status,
        204
    );

    // Cancelling the one-way rental long before its start credits everything, the fee too.
    let r = a.post(&format!("/v1/rentals/{id}/cancel"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cancelled = r.json();
    assert_eq!(cancelled["total_charged"], 0, "{cancelled}");
    assert_eq!(fees(&cancelled, "charges").len(), 1);
    api.daemon.shutdown().await;
}

/// A location deleted while reservations name it: the delete wins (204, the reservation is 422
/// `origin_location_id`) or the reservation wins (201, the delete is 409 `location_in_use`),
/// never both, never a 500, and no rental names a deleted location.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_location_races_reservations_cleanly() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    let (_, alice) = customer(&api, "alice").await;
    vehicle(a, "car-1", 1).await;
    let p = plan(a, standard_plan()).await;
    let (mut deleted, mut reserved) = (0, 0);
    for round in 0..12i64 {
        let here = location(a, &format!("spot {round}"), 50.0, 8.0).await;
        let body = json!({"vehicle_id": "car-1", "customer_id": alice, "plan_id": p,
                          "starts_at": hours_from_now(100 + 10 * round),
                          "ends_at": hours_from_now(105 + 10 * round), "estimated_km": 0,
                          "origin_location_id": here});
        let path = format!("/v1/locations/{here}");
        // The delete starts 0 to 15 ms after the reservation, so that either may win.
        let late = std::time::Duration::from_millis(5 * (round % 4) as u64);
        let (reserve, delete) = tokio::join!(a.post("/v1/rentals", body), async {
            tokio::time::sleep(late).await;
            a.delete(&path).await
        });
        match (reserve.status, delete.status) {
            (201, 409) => {
                is(&delete, 409, "location_in_use", "reservation first");
                reserved += 1;
            }
            (422, 204) => {
                assert!(
                    reserve.body.contains("origin_location_id"),
                    "{}",
                    reserve.body
                );
                deleted += 1;
            }
            other => panic!("round {round}: {other:?} {} {}", reserve.body, delete.body),
        }
    }
    assert_eq!(
        deleted + reserved,
        12,
        "deleted {deleted}, reserved {reserved}"
    );
    let orphans: i64 = db
        .query_one(
            "SELECT count(*) FROM rentals r WHERE NOT EXISTS
               (SELECT 1 FROM locations l WHERE l.id = r.origin_location_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(orphans, 0);
    api.daemon.shutdown().await;
}
