//! The outbox against a real daemon and PostgreSQL: every state change of the API, the
//! dispatcher and the time rules emits its events in its own transaction; the daemon's
//! sequencer numbers them without gaps, each aggregate's in order; a refused or failed change
//! leaves none.

use serde_json::{json, Value};

use crate::common::api::{
    customer, driver, hours_from_now, plan, reserve_body, standard_plan, vehicle, Api,
};
use crate::common::dispatch::create_job;

/// Every event as (id, type, aggregate_id, actor, payload), in id order, once the daemon's
/// sequencer has numbered everything staged.
async fn events(db: &tokio_postgres::Client) -> Vec<(i64, String, String, String, Value)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let staged: i64 = db
            .query_one("SELECT count(*) FROM event_outbox", &[])
            .await
            .unwrap()
            .get(0);
        if staged == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{staged} events never numbered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    db.query(
        "SELECT id, type, aggregate_id, actor, payload FROM events ORDER BY id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

fn types(all: &[(i64, String, String, String, Value)], aggregate: &str) -> Vec<String> {
    all.iter()
        .filter(|e| e.2 == aggregate)
        .map(|e| e.1.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_emits_its_events_in_its_transaction() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    let admin_id: String = db
        .query_one("SELECT id::text FROM users WHERE username = 'admin'", &[])
        .await
        .unwrap()
        .get(0);

    // Vehicles: registered, by hand into maintenance and back, decommissioned.
    vehicle(a, "ev-1", 1).await;
    vehicle(a, "ev-2", 2).await;
    let st = |s: &str| json!({ "status": s });
    for s in ["under_maintenance", "active"] {
        let r = a.post("/v1/vehicles/ev-2/status", st(s)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Refused (illegal) and failed (no such vehicle) changes leave nothing.
    assert_eq!(
        a.post("/v1/vehicles/ev-2/status", st("rented"))
            .await
            .status,
        409
    );
    assert_eq!(
        a.post("/v1/vehicles/nope/status", st("active"))
            .await
            .status,
        404
    );
    assert_eq!(
        a.post("/v1/vehicles/ev-2/status", st("decommissioned"))
            .await
            .status,
        200
    );

    // A driver's duty, by hand; an assignment created and cancelled.
    let (_, d) = driver(&api, "evan").await;
    let r = a
        .patch(
            &format!("/v1/drivers/{d}"),
            json!({"duty_status": "available"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a
        .patch(
            &format!("/v1/drivers/{d}"),
            json!({"duty_status": "available"}),
        )
        .await;
    assert_eq!(r.status, 200, "unchanged duty: no event; {}", r.body);
    let body = json!({"driver_id": d, "vehicle_id": "ev-1",
                      "starts_at": hours_from_now(100), "ends_at": hours_from_now(101)});
    let r = a.post("/v1/assignments", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let asg = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        a.post(&format!("/v1/assignments/{asg}/cancel"), json!({}))
            .await
            .status,
        200
    );

    // Maintenance scheduled, started, completed.
    let w = json!({"vehicle_id": "ev-1", "description": "brakes",
                   "starts_at": hours_from_now(-1), "ends_at": hours_from_now(1)});
    let r = a.post("/v1/maintenance", w).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let job = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        a.post(&format!("/v1/maintenance/{job}/start"), json!({}))
            .await
            .status,
        200
    );
    let done = json!({"labour_cost": 1000, "currency": "EUR", "parts": []});
    let r = a
        .post(&format!("/v1/maintenance/{job}/complete"), done)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A rental reserved (by its customer), activated, paid, completed.
    let p = plan(a, standard_plan()).await;
    let (alice, _) = customer(&api, "alice").await;
    let body = reserve_body("ev-1", &p, &hours_from_now(-1), &hours_from_now(24), 100);
    let r = alice.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rental = r.json()["id"].as_str().unwrap().to_string();
    let alice_id: String = db
        .query_one("SELECT id::text FROM users WHERE username = 'alice'", &[])
        .await
        .unwrap()
        .get(0);
    let step = |what: &str| format!("/v1/rentals/{rental}/{what}");
    assert_eq!(
        a.post(&step("activate"), json!({"odometer_km": 10}))
            .await
            .status,
        200
    );
    let pay = json!({"amount": 500, "currency": "EUR", "method": "card"});
    assert_eq!(a.post(&step("payments"), pay).await.status, 201);
    assert_eq!(
        a.post(&step("complete"), json!({"odometer_km": 50}))
            .await
            .status,
        200
    );

    // A dispatch job created and cancelled.
    let dj = create_job(a, 52.5, 13.4).await;
    let r = a
        .post(&format!("/v1/dispatch/jobs/{dj}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let all = events(&db).await;
    let ids: Vec<i64> = all.iter().map(|e| e.0).collect();
    assert_eq!(
        ids,
        (1..=all.len() as i64).collect::<Vec<_>>(),
        "gapless, from 1"
    );
    assert_eq!(types(&all, "ev-1")[..1], ["vehicle.registered"]);
    assert_eq!(
        types(&all, "ev-2"),
        [
            "vehicle.registered",
            "vehicle.status_changed",
            "vehicle.status_changed",
            "vehicle.status_changed",
            "vehicle.decommissioned",
        ]
    );
    let ev2: Vec<&Value> = all.iter().filter(|e| e.2 == "ev-2").map(|e| &e.4).collect();
    assert_eq!(
        *ev2[1],
        json!({"vehicle_id": "ev-2", "from": "active", "to": "under_maintenance"})
    );
    assert_eq!(ev2[4]["to"], "decommissioned");
    // ev-1: into maintenance and back, into the rental and back.
    assert_eq!(
        types(&all, "ev-1"),
        [
            "vehicle.registered",
            "vehicle.status_changed",
            "vehicle.status_changed",
            "vehicle.status_changed",
            "vehicle.status_changed",
        ]
    );
    assert_eq!(types(&all, &d), ["driver.duty_changed"]);
    assert_eq!(
        types(&all, &asg),
        ["assignment.created", "assignment.cancelled"]
    );
    assert_eq!(
        types(&all, &job),
        [
            "maintenance.scheduled",
            "maintenance.started",
            "maintenance.completed"
        ]
    );
    assert_eq!(
        types(&all, &rental),
        [
            "rental.reserved",
            "rental.activated",
            "rental.payment_recorded",
            "rental.completed"
        ]
    );
    assert_eq!(types(&all, &dj), ["job.created", "job.cancelled"]);

    // Payloads are the resources as the API shows them; the actor is whoever asked.
    let of = |t: &str| all.iter().find(|e| e.1 == t).unwrap();
    assert_eq!(of("rental.reserved").3, alice_id);
    assert_eq!(of("rental.activated").3, admin_id);
    assert_eq!(of("rental.completed").4["rental"]["status"], "completed");
    assert_eq!(of("rental.payment_recorded").4["payment"]["amount"], 500);
    assert_eq!(of("maintenance.completed").4["job"]["labour_cost"], 1000);
    assert_eq!(
        of("assignment.cancelled").4["assignment"]["status"],
        "cancelled"
    );
    assert_eq!(of("driver.duty_changed").4["to"], "available");
    assert_eq!(of("job.cancelled").4["state"], "cancelled");
    assert_eq!(of("vehicle.registered").4["vehicle"]["id"], "ev-1");
    // Nothing is left staged.
    let staged: i64 = db
        .query_one("SELECT count(*) FROM event_outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(staged, 0);
}

/// Concurrent transactions: ids stay gapless, so a reader that has seen an id has seen every
/// smaller one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_stay_gapless_under_concurrency() {
    let api = Api::start().await;
    let db = api.db.client().await;
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let a = api.admin.clone();
        tasks.push(tokio::spawn(async move {
            vehicle(&a, &format!("cc-{i}"), 100 + i).await;
        }));
    }
    // Meanwhile a reader polls: every snapshot holds exactly ids 1..=n.
    let reader = tokio::spawn({
        let url = api.db.url.clone();
        async move {
            let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut seen = 0;
            for _ in 0..2_000 {
                let r = c
                    .query_one("SELECT count(*), coalesce(max(id), 0) FROM events", &[])
                    .await
                    .unwrap();
                let (n, max): (i64, i64) = (r.get(0), r.get(1));
                assert_eq!(n, max, "a snapshot with a gap");
                seen = seen.max(n);
                if seen == 40 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    });
    // Three more sequencers, a daemon each, numbering one event at a time.
    let mut sequencers = Vec::new();
    for _ in 0..3 {
        let url = api.db.url.clone();
        sequencers.push(tokio::spawn(async move {
            let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            for _ in 0..300 {
                c.execute("SELECT events_sequence(1)", &[]).await.unwrap();
            }
        }));
    }
    for t in tasks.into_iter().chain(sequencers) {
        t.await.unwrap();
    }
    reader.await.unwrap();
    let all = events(&db).await;
    assert_eq!(all.len(), 40);
    assert_eq!(all.last().unwrap().0, 40);
}

/// A transaction that stages events and rolls back leaves nothing and takes no id; one
/// outside the API is the system's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_change_takes_no_id() {
    use fleetd::events::{emit, Kind};
    let api = Api::start().await;
    let mut db = api.db.client().await;
    let tx = db.transaction().await.unwrap();
    emit(&tx, Kind::VehicleRegistered, "gone", json!({"a": 1}))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let tx = db.transaction().await.unwrap();
    emit(&tx, Kind::VehicleRegistered, "kept", json!({"a": 2}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    vehicle(&api.admin, "after", 1).await;
    let all = events(&db).await;
    let got: Vec<(i64, &str, &str)> = all
        .iter()
        .map(|e| (e.0, e.2.as_str(), e.3.as_str()))
        .collect();
    assert_eq!(got[..1], [(1, "kept", "system")]);
    assert_eq!((got[1].0, got[1].1), (2, "after"));
    assert_ne!(got[1].2, "system");
    // Malformed events are refused by the database, whatever the caller.
    for (kind, id, payload) in [
        ("Vehicle.Registered", "x", json!({})),
        ("vehicle", "x", json!({})),
        ("vehicle.registered", "", json!({})),
        ("vehicle.registered", "x", json!([1])),
    ] {
        let r = db
            .execute("SELECT fleetd_emit($1, $2, $3)", &[&kind, &id, &payload])
            .await;
        assert!(r.is_err(), "{kind} {id:?} {payload}");
    }
}
