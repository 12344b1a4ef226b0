//! The event schemas of the served `/openapi.json` (docs/events.md, "Schemas") against the
//! events real changes emit: every stored body, as webhooks and the stream send it
//! (`event_body(e)`), validates against `Event` (the union) and its type's `{Type}Event`, with
//! formats checked and, in a strict pass, every object of the referenced API representations
//! closed too (so no field goes undocumented). The flows here produce every type of the
//! catalogue; [`covered_by_the_flows`] keeps that list honest.

mod background;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::api::{
    customer, driver, hours_from_now, plan, reserve_body, standard_plan, vehicle, Api,
};
use crate::common::dispatch::{create_job, publish_fix, seat, wait_job, TRUCK};
use crate::common::Publisher;

/// The served document.
pub async fn served(api: &Api) -> Value {
    let r = api.anonymous().get("/openapi.json").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// A validator for component `name` of `doc`, formats checked.
fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let schema = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `doc` with every object schema that lists its properties and says nothing of others
/// closed (`additionalProperties: false`): the API representations an event embeds then
/// refuse a field they do not document.
fn strict(doc: &Value) -> Value {
    fn close(v: &mut Value) {
        match v {
            Value::Object(o) => {
                let open = o.get("type") == Some(&json!("object"))
                    && o.contains_key("properties")
                    && !o.contains_key("additionalProperties")
                    && !o.contains_key("patternProperties");
                if open {
                    o.insert("additionalProperties".into(), json!(false));
                }
                o.values_mut().for_each(close);
            }
            Value::Array(items) => items.iter_mut().for_each(close),
            _ => {}
        }
    }
    let mut doc = doc.clone();
    close(&mut doc["components"]["schemas"]);
    doc
}

/// The component name of type `t`'s event: `rental.no_show` → `RentalNoShowEvent`.
fn event_name(t: &str) -> String {
    let camel: String = t
        .split(['.', '_'])
        .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
        .collect();
    format!("{camel}Event")
}

/// Every stored event as `(type, body)`, in id order, once the sequencer numbered them all.
pub async fn bodies(db: &tokio_postgres::Client) -> Vec<(String, Value)> {
    let _: Vec<i64> = super::numbered(db, "").await;
    db.query("SELECT type, event_body(e) FROM events e ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), serde_json::from_str(r.get(1)).unwrap()))
        .collect()
}

/// Validates every body against `doc`'s `Event`, its `{Type}Event`, and strict `Event`;
/// panics listing every failure; returns the types seen.
pub fn validate_all(doc: &Value, bodies: &[(String, Value)]) -> BTreeSet<String> {
    let any = validator(doc, "Event");
    let closed = validator(&strict(doc), "Event");
    let mut failures = Vec::new();
    for (t, body) in bodies {
        let own = validator(doc, &event_name(t));
        for (what, v) in [
            ("Event", &any),
            ("its own", &own),
            ("strict Event", &closed),
        ] {
            for e in v.iter_errors(body) {
                failures.push(format!("{t} against {what}: {e} at {}", e.instance_path()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    bodies.iter().map(|(t, _)| t.clone()).collect()
}

/// The types each flow produces; together, the whole catalogue.
const API_FLOW: &[&str] = &[
    "vehicle.registered",
    "vehicle.status_changed",
    "vehicle.decommissioned",
    "driver.duty_changed",
    "assignment.created",
    "assignment.cancelled",
    "rental.reserved",
    "rental.activated",
    "rental.completed",
    "rental.cancelled",
    "rental.payment_recorded",
    "payment.captured",
    "payment.failed",
    "refund.issued",
    "invoice.issued",
    "invoice.voided",
    "maintenance.scheduled",
    "maintenance.started",
    "maintenance.completed",
    "maintenance.cancelled",
    "job.created",
    "job.offered",
    "job.accepted",
    "job.declined",
    "job.expired",
    "job.picked_up",
    "job.completed",
    "job.cancelled",
    "job.unassigned",
];

/// Types no flow here produces, each with the reason (none today).
const NOT_PRODUCED: &[(&str, &str)] = &[];

#[test]
fn covered_by_the_flows() {
    let mut all: Vec<&str> = API_FLOW
        .iter()
        .chain(background::TIME_RULES)
        .chain(background::SEGMENTER)
        .chain(background::ALERTS)
        .copied()
        .chain(NOT_PRODUCED.iter().map(|(t, _)| *t))
        .collect();
    all.sort_unstable();
    let mut catalogue: Vec<&str> = fleetd::events::Kind::ALL.map(|k| k.as_str()).to_vec();
    catalogue.sort_unstable();
    assert_eq!(all, catalogue);
}

const BASE: (f64, f64) = (48.8566, 2.3522);

/// Vehicles, drivers, assignments, maintenance, rentals by hand, and dispatch jobs through
/// every transition (one driver, offers that expire after 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_dispatcher_emit_what_their_schemas_say() {
    let api = Api::start_with(|c| {
        c.dispatch.staleness_s = 600;
        c.dispatch.offer_timeout_s = 5;
        c.dispatch.retry_base_ms = 100;
        c.dispatch.retry_max_ms = 400;
        c.dispatch.max_attempts = 3;
    })
    .await;
    let a = &api.admin;
    let db = api.db.client().await;
    let ok = |r: crate::common::api::Resp, want: u16| assert_eq!(r.status, want, "{}", r.body);

    vehicle(a, "sc-1", 1).await;
    vehicle(a, "sc-2", 2).await;
    for s in ["under_maintenance", "active", "decommissioned"] {
        ok(
            a.post("/v1/vehicles/sc-2/status", json!({ "status": s }))
                .await,
            200,
        );
    }
    let (_, evan) = driver(&api, "evan").await;
    let shift = json!({"driver_id": evan, "vehicle_id": "sc-1",
                       "starts_at": hours_from_now(100), "ends_at": hours_from_now(101)});
    let r = a.post("/v1/assignments", shift).await;
    let asg = r.json()["id"].as_str().unwrap().to_string();
    ok(r, 201);
    ok(
        a.post(&format!("/v1/assignments/{asg}/cancel"), json!({}))
            .await,
        200,
    );

    let window = |from, to| {
        json!({"vehicle_id": "sc-1", "description": "brakes",
                                   "starts_at": hours_from_now(from), "ends_at": hours_from_now(to)})
    };
    let r = a.post("/v1/maintenance", window(-1, 1)).await;
    let job = r.json()["id"].as_str().unwrap().to_string();
    ok(r, 201);
    ok(
        a.post(&format!("/v1/maintenance/{job}/start"), json!({}))
            .await,
        200,
    );
    let parts = json!([{"part_name": "pads", "quantity": 2, "unit_cost": 1500}]);
    let done = json!({"labour_cost": 1000, "currency": "EUR", "parts": parts});
    ok(
        a.post(&format!("/v1/maintenance/{job}/complete"), done)
            .await,
        200,
    );
    let r = a.post("/v1/maintenance", window(300, 301)).await;
    let later = r.json()["id"].as_str().unwrap().to_string();
    ok(r, 201);
    ok(
        a.post(&format!("/v1/maintenance/{later}/cancel"), json!({}))
            .await,
        200,
    );

    let p = plan(a, standard_plan()).await;
    let (alice, _) = customer(&api, "alice").await;
    let r = alice
        .post(
            "/v1/rentals",
            reserve_body("sc-1", &p, &hours_from_now(-1), &hours_from_now(24), 100),
        )
        .await;
    let rental = r.json()["id"].as_str().unwrap().to_string();
    ok(r, 201);
    let step = |what: &str| format!("/v1/rentals/{rental}/{what}");
    ok(
        a.post(&step("activate"), json!({"odometer_km": 10})).await,
        200,
    );
    let pay = json!({"amount": 500, "currency": "EUR", "method": "card"});
    let r = a.post(&step("payments"), pay).await;
    let paid = r.json()["id"].as_str().unwrap().to_string();
    ok(r, 201);
    let refund = json!({"amount": 200, "reason": "goodwill"});
    ok(
        a.post(&step(&format!("payments/{paid}/refunds")), refund)
            .await,
        201,
    );
    let pending = json!({"amount": 100, "currency": "EUR", "method": "cash", "status": "pending"});
    let r = a.post(&step("payments"), pending).await;
    let pending = r.json()["id"].as_str().unwrap().to_string();
    ok(r, 201);
    ok(
        a.post(&step(&format!("payments/{pending}/fail")), json!({}))
            .await,
        200,
    );
    ok(
        a.post(&step("complete"), json!({"odometer_km": 50})).await,
        200,
    );
    let r = alice
        .post(
            "/v1/rentals",
            reserve_body("sc-1", &p, &hours_from_now(200), &hours_from_now(210), 5),
        )
        .await;
    let cancelled = r.json()["id"].as_str().unwrap().to_string();
    ok(r, 201);
    let r = a
        .post(&format!("/v1/rentals/{cancelled}/invoice"), json!({}))
        .await;
    let invoice = r.json()["id"].as_str().unwrap().to_string();
    ok(r, 201);
    ok(
        a.post(&format!("/v1/invoices/{invoice}/void"), json!({}))
            .await,
        200,
    );
    ok(
        a.post(&format!("/v1/rentals/{cancelled}/cancel"), json!({}))
            .await,
        200,
    );

    // Dispatch: one available driver with a fresh position at the pickup.
    let (dana, d) = seat(&api, "dana", "sc-d", 3, &TRUCK, "available").await;
    let publisher = Publisher::connect(&api.broker).await;
    publish_fix(
        &publisher,
        "sc-d",
        crate::common::now_ms() - 1_000,
        BASE.0,
        BASE.1,
    )
    .await;
    let offered = |id: String| async move {
        wait_job(a, &id, "offered", |j| j["state"] == "offered").await;
        id
    };
    let job_step = |id: &str, s: &str| format!("/v1/dispatch/jobs/{id}/{s}");
    // Accepted, picked up, completed.
    let j1 = offered(create_job(a, BASE.0, BASE.1).await).await;
    for s in ["accept", "pickup", "complete"] {
        ok(dana.post(&job_step(&j1, s), json!({})).await, 200);
    }
    // Cancelled while offered.
    let j2 = offered(create_job(a, BASE.0, BASE.1).await).await;
    ok(a.post(&job_step(&j2, "cancel"), json!({})).await, 200);
    // Declined, then nobody else: unassigned.
    let j3 = offered(create_job(a, BASE.0, BASE.1).await).await;
    ok(dana.post(&job_step(&j3, "decline"), json!({})).await, 200);
    wait_job(a, &j3, "unassigned", |j| j["state"] == "unassigned").await;
    // Left to expire, then nobody else: unassigned.
    let j4 = offered(create_job(a, BASE.0, BASE.1).await).await;
    wait_job(a, &j4, "unassigned", |j| j["state"] == "unassigned").await;
    // The driver's user deactivated: available → off duty.
    let user: String = db
        .query_one(
            "SELECT user_id::text FROM drivers WHERE id::text = $1",
            &[&d],
        )
        .await
        .unwrap()
        .get(0);
    ok(
        a.patch(&format!("/v1/users/{user}"), json!({"active": false}))
            .await,
        200,
    );

    let doc = served(&api).await;
    let all = bodies(&db).await;
    let seen = validate_all(&doc, &all);
    let want: BTreeSet<String> = API_FLOW.iter().map(|t| t.to_string()).collect();
    assert_eq!(seen, want);

    // The validation can fail: a payload field of the wrong type, a missing one, an
    // undocumented one in an embedded representation (strict only).
    let of = |t: &str| all.iter().find(|(k, _)| k == t).unwrap().1.clone();
    let any = validator(&doc, "Event");
    let mut bad = of("rental.completed");
    bad["payload"]["rental"]["total_charged"] = json!("1000");
    assert!(!any.is_valid(&bad), "{bad}");
    let mut bad = of("job.offered");
    bad["payload"]["attempts"] = json!(1.5);
    assert!(!any.is_valid(&bad), "{bad}");
    let mut bad = of("rental.payment_recorded");
    bad["payload"].as_object_mut().unwrap().remove("rental_id");
    assert!(!any.is_valid(&bad), "{bad}");
    let mut bad = of("vehicle.registered");
    bad["payload"]["vehicle"]["colour"] = json!("red");
    assert!(any.is_valid(&bad), "Vehicle itself is open");
    assert!(!validator(&strict(&doc), "Event").is_valid(&bad), "{bad}");
    api.daemon.shutdown().await;
}
