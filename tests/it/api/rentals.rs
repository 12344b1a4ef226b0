//! Rentals against a real daemon and PostgreSQL: plans, customers, quote, reserve,
//! availability, activate, complete, cancel, payments, visibility, pricing consistency
//! and concurrent double-booking.

use crate::common::api::{customer, ids, plan, reserve_body, standard_plan, vehicle_body, Api};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rental_lifecycle_charges_and_visibility() {
    let api = Api::start().await;
    let a = &api.admin;
    for (i, id) in ["car-1", "van-2"].iter().enumerate() {
        assert_eq!(
            a.post("/v1/vehicles", vehicle_body(id, i as u32 + 1))
                .await
                .status,
            201
        );
    }
    let (dispatcher, _) = a.user("disp", "dispatcher").await;
    let (alice, alice_id) = customer(&api, "alice").await;
    let (bob, bob_id) = customer(&api, "bob").await;

    // Plans: admin only, money validated.
    let p = plan(a, standard_plan()).await;
    assert_eq!(
        dispatcher
            .post("/v1/pricing-plans", standard_plan())
            .await
            .status,
        403
    );
    for (field, value) in [
        ("daily_rate", json!(-1)),
        ("daily_rate", json!(1e20)),
        ("daily_rate", json!("5000")),
        ("daily_rate", json!(50.5)),
        ("currency", json!("eur")),
        ("currency", json!("EURO")),
        ("cancellation_fee_pct", json!(101)),
        ("late_fee_per_hour", json!(9_223_372_036_854_775_807_i64)),
        ("late_fee_per_hour", json!(null)),
    ] {
        let mut b = standard_plan();
        b[field] = value.clone();
        let r = a.post("/v1/pricing-plans", b).await;
        assert_eq!(r.status, 422, "{field}={value}: {}", r.body);
        assert!(r.body.contains(field), "{field}: {}", r.body);
    }
    assert_eq!(
        alice.get(&format!("/v1/pricing-plans/{p}")).await.status,
        200
    );
    assert_eq!(
        alice.get("/v1/pricing-plans").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        a.get("/v1/pricing-plans/00000000-0000-0000-0000-000000000000")
            .await
            .status,
        404
    );

    // Customers see only themselves.
    assert_eq!(ids(&alice.get("/v1/customers").await), [alice_id.as_str()]);
    assert_eq!(
        alice.get(&format!("/v1/customers/{bob_id}")).await.status,
        404
    );
    assert_eq!(
        alice
            .post("/v1/customers", json!({"name": "x", "email": "x@y"}))
            .await
            .status,
        403
    );
    assert_eq!(
        a.post("/v1/customers", json!({"name": "x", "email": "nope"}))
            .await
            .status,
        422
    );
    assert_eq!(
        a.get("/v1/customers?limit=1").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Quote: 2 days and 10 minutes = 3 started days; 700 km estimated, 600 included.
    let (from, to) = ("2030-03-01T10:00:00Z", "2030-03-03T10:10:00Z");
    let r = alice
        .post(
            "/v1/rentals/quote",
            json!({"plan_id": p, "starts_at": from, "ends_at": to, "estimated_km": 700}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let quote = r.json();
    assert_eq!(quote["days"], 3);
    assert_eq!(quote["total"], 3 * 5000 + 100 * 30);
    assert_eq!(quote["currency"], "EUR");
    let bad = alice
        .post(
            "/v1/rentals/quote",
            json!({"plan_id": p, "starts_at": to, "ends_at": from, "estimated_km": 1}),
        )
        .await;
    assert_eq!(bad.status, 422);
    let bad = alice
        .post(
            "/v1/rentals/quote",
            json!({"plan_id": p, "starts_at": "yesterday", "ends_at": to, "estimated_km": 1}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        alice
            .post(
                "/v1/rentals/quote",
                json!({"plan_id": p, "starts_at": from, "ends_at": to, "estimated_km": -1}),
            )
            .await
            .status,
        422
    );

    // Reserve: the charges are exactly the quote's items.
    let r = alice
        .post("/v1/rentals", reserve_body("car-1", &p, from, to, 700))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rental = r.json();
    let rid = rental["id"].as_str().unwrap().to_string();
    assert_eq!(rental["status"], "reserved");
    assert_eq!(rental["customer_id"], alice_id.as_str());
    assert_eq!(rental["charges"], quote["items"]);
    assert_eq!(rental["balance"], quote["total"]);
    // Overlap (by anyone, for anyone): 409 naming the rental in the way.
    let mut b = reserve_body(
        "car-1",
        &p,
        "2030-03-03T09:00:00Z",
        "2030-03-04T09:00:00Z",
        0,
    );
    b["customer_id"] = json!(bob_id);
    let r = dispatcher.post("/v1/rentals", b.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (409, "overlap"));
    assert!(r.body.contains(&rid), "{}", r.body);
    assert_eq!(
        r.json()["error"]["conflict"],
        json!({"kind": "rental", "id": rid}),
        "{}",
        r.body
    );
    b["vehicle_id"] = json!("van-2");
    let r = dispatcher.post("/v1/rentals", b.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let bob_rental = r.json()["id"].as_str().unwrap().to_string();
    b.as_object_mut().unwrap().remove("customer_id");
    assert_eq!(
        dispatcher.post("/v1/rentals", b.clone()).await.status,
        422,
        "staff name the customer"
    );
    b["customer_id"] = json!(bob_id);
    b["starts_at"] = json!("2031-01-01T00:00:00Z");
    b["ends_at"] = json!("2031-01-02T00:00:00Z");
    assert_eq!(
        alice.post("/v1/rentals", b.clone()).await.status,
        403,
        "not for someone else"
    );
    b["vehicle_id"] = json!("ghost");
    assert_eq!(dispatcher.post("/v1/rentals", b).await.status, 422);
    let (driver, _) = a.user("drv", "driver").await;
    assert_eq!(
        driver
            .post("/v1/rentals", reserve_body("car-1", &p, from, to, 0))
            .await
            .status,
        403
    );

    // Visibility: a customer sees only its own rentals.
    assert_eq!(ids(&alice.get("/v1/rentals").await), [rid.as_str()]);
    assert_eq!(
        alice.get(&format!("/v1/rentals/{bob_rental}")).await.status,
        404
    );
    assert_eq!(bob.get(&format!("/v1/rentals/{rid}")).await.status, 404);
    assert_eq!(
        bob.post(&format!("/v1/rentals/{rid}/cancel"), json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        a.get("/v1/rentals?status=reserved").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(a.get("/v1/rentals/nope").await.status, 404);

    // Availability: car-1 is taken in the window, van-2 from the 3rd.
    let avail = |f: &str, t: &str, extra: &str| format!("/v1/availability?from={f}&to={t}{extra}");
    let r = alice
        .get(&avail("2030-03-01T00:00:00Z", "2030-03-02T00:00:00Z", ""))
        .await;
    assert_eq!(ids(&r), ["van-2"]);
    let r = alice
        .get(&avail("2030-03-05T00:00:00Z", "2030-03-06T00:00:00Z", ""))
        .await;
    assert_eq!(ids(&r), ["car-1", "van-2"]);
    let r = alice
        .get(&avail(
            "2030-03-05T00:00:00Z",
            "2030-03-06T00:00:00Z",
            "&min_seats=3",
        ))
        .await;
    assert!(ids(&r).is_empty());
    let r = alice
        .get(&avail(
            "2030-03-05T00:00:00Z",
            "2030-03-06T00:00:00Z",
            "&type=truck&min_load_kg=1000&limit=1",
        ))
        .await;
    assert_eq!(ids(&r), ["car-1"]);
    assert_eq!(
        alice
            .get(&avail("2030-03-06T00:00:00Z", "2030-03-05T00:00:00Z", ""))
            .await
            .status,
        422
    );
    assert_eq!(alice.get("/v1/availability").await.status, 422);
    assert_eq!(alice.get(&avail("x", "y", "")).await.status, 422);

    // Activate: vehicle rented, odometer out recorded (and never below the current one).
    let db = api.db.client().await;
    assert_eq!(
        a.post("/v1/vehicles/car-1/odometer", json!({"reading_km": 500}))
            .await
            .status,
        201
    );
    assert_eq!(
        alice
            .post(
                &format!("/v1/rentals/{rid}/activate"),
                json!({"odometer_km": 600})
            )
            .await
            .status,
        403
    );
    let r = a
        .post(
            &format!("/v1/rentals/{rid}/activate"),
            json!({"odometer_km": 400}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        a.get(&format!("/v1/rentals/{rid}")).await.json()["status"],
        "reserved",
        "rolled back"
    );
    let r = a
        .post(
            &format!("/v1/rentals/{rid}/activate"),
            json!({"odometer_km": 1000}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "active");
    assert_eq!(r.json()["odometer_out"], 1000);
    assert_eq!(a.get("/v1/vehicles/car-1").await.json()["status"], "rented");
    let r = a
        .post(
            &format!("/v1/rentals/{rid}/activate"),
            json!({"odometer_km": 1000}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "illegal_transition"));
    assert_eq!(
        a.post(&format!("/v1/rentals/{rid}/cancel"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        a.post(
            "/v1/rentals/00000000-0000-0000-0000-000000000000/activate",
            json!({"odometer_km": 1})
        )
        .await
        .status,
        404
    );

    // Complete 2 h 30 min late after 900 km: 300 extra km beyond 600 included (100 were
    // charged at reservation), and 3 started hours of late fee.
    let r = a
        .post(
            &format!("/v1/rentals/{rid}/complete"),
            json!({"odometer_km": 999}),
        )
        .await;
    assert_eq!(r.status, 422, "odometer in below out: {}", r.body);
    let r = a
        .post(
            &format!("/v1/rentals/{rid}/complete"),
            json!({"odometer_km": 1900, "returned_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 422, "returned in the future: {}", r.body);
    // returned_at may not be in the future: move the whole rental into the past instead.
    db.batch_execute(&format!(
        "UPDATE rentals SET starts_at = starts_at - interval '5 years', ends_at = ends_at - interval '5 years',
                activated_at = activated_at - interval '5 years' WHERE id = '{rid}'"
    ))
    .await
    .unwrap();
    let r = a
        .post(
            &format!("/v1/rentals/{rid}/complete"),
            json!({"odometer_km": 1900, "returned_at": "2025-03-03T12:40:00Z"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let done = r.json();
    assert_eq!(done["status"], "completed");
    let added: Vec<Value> =
        done["charges"].as_array().unwrap()[quote["items"].as_array().unwrap().len()..].to_vec();
    assert_eq!(
        added,
        vec![
            json!({"kind": "extra_km", "quantity": 200, "unit_amount": 30, "amount": 6000}),
            json!({"kind": "late_fee", "quantity": 3, "unit_amount": 1500, "amount": 4500}),
        ]
    );
    assert_eq!(done["total_charged"], 15000 + 300 * 30 + 4500);
    assert_eq!(a.get("/v1/vehicles/car-1").await.json()["status"], "active");
    assert_eq!(
        a.get("/v1/vehicles/car-1").await.json()["odometer_km"],
        1900
    );
    assert_eq!(
        a.post(
            &format!("/v1/rentals/{rid}/complete"),
            json!({"odometer_km": 2000})
        )
        .await
        .status,
        409
    );

    // Payments: the balance is derived from charges and payments.
    let pay =
        |amount: Value, cur: &str| json!({"amount": amount, "currency": cur, "method": "card"});
    assert_eq!(
        a.post(
            &format!("/v1/rentals/{rid}/payments"),
            pay(json!(-5), "EUR")
        )
        .await
        .status,
        422
    );
    assert_eq!(
        a.post(&format!("/v1/rentals/{rid}/payments"), pay(json!(0), "EUR"))
            .await
            .status,
        422
    );
    assert_eq!(
        a.post(
            &format!("/v1/rentals/{rid}/payments"),
            pay(json!(100), "USD")
        )
        .await
        .status,
        422
    );
    assert_eq!(
        alice
            .post(
                &format!("/v1/rentals/{rid}/payments"),
                pay(json!(100), "EUR")
            )
            .await
            .status,
        403
    );
    let r = a
        .post(
            &format!("/v1/rentals/{rid}/payments"),
            pay(json!(28500), "EUR"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = alice.get(&format!("/v1/rentals/{rid}")).await.json();
    assert_eq!(
        (r["total_paid"].clone(), r["balance"].clone()),
        (json!(28500), json!(0))
    );
    let balance: i64 = db
        .query_one(
            "SELECT ((SELECT sum(amount) FROM rental_charges WHERE rental_id = $1::text::uuid)
                  - (SELECT sum(amount) FROM rental_payments WHERE rental_id = $1::text::uuid))::bigint",
            &[&rid],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(balance, 0);

    // Cancellation: free long before the start, 20 % within 48 h of it.
    let r = bob
        .post(&format!("/v1/rentals/{bob_rental}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "cancelled");
    assert_eq!(r.json()["total_charged"], 0);
    assert_eq!(
        bob.post(&format!("/v1/rentals/{bob_rental}/cancel"), json!({}))
            .await
            .status,
        409
    );
    let soon_from = (chrono::Utc::now() + chrono::Duration::hours(5)).to_rfc3339();
    let soon_to = (chrono::Utc::now() + chrono::Duration::hours(29)).to_rfc3339();
    let r = alice
        .post(
            "/v1/rentals",
            reserve_body("van-2", &p, &soon_from, &soon_to, 0),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "the cancelled rental freed van-2: {}",
        r.body
    );
    let soon = r.json()["id"].as_str().unwrap().to_string();
    let r = alice
        .post(&format!("/v1/rentals/{soon}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200);
    let cancelled = r.json();
    let kinds: Vec<&str> = cancelled["charges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["base", "cancellation_reversal", "cancellation_fee"]);
    assert_eq!(cancelled["total_charged"], 5000 * 20 / 100);
    let held: i64 = db
        .query_one("SELECT count(*) FROM vehicle_commitments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 0, "completed and cancelled rentals hold nothing");
    api.daemon.shutdown().await;
}
