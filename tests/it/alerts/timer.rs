//! The time-based rules on a manual clock: `licence_expiring` opens for a licence within its
//! days and resolves once renewed; `offline` opens for a silent vehicle with a driver on
//! duty, and resolves when readings resume; two timers evaluating at once open each alert
//! once and count each evaluation once.

use chrono::{DateTime, Duration, Utc};
use fleetd::alerts::AlertTimer;
use fleetd::clock::Clock;
use serde_json::json;

use super::{create_rule, events_of, pool};
use crate::common::api::Api;
use crate::common::count;
use crate::common::dispatch::seed_seat;

fn second(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap()
}

/// A driver whose licence expires `days` after `now`'s date; their id.
async fn driver_expiring(api: &Api, name: &str, now: DateTime<Utc>, days: i64) -> String {
    let (_, user) = api.admin.user(name, "driver").await;
    let expiry = (now + Duration::days(days)).date_naive().to_string();
    let r = api
        .admin
        .post(
            "/v1/drivers",
            json!({"user_id": user, "name": name, "licence_number": format!("L-{name}"),
                   "licence_expiry": expiry}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

async fn alert_of(
    db: &tokio_postgres::Client,
    subject: &str,
) -> Option<(String, i32, serde_json::Value)> {
    db.query_opt(
        "SELECT status, count, details FROM alerts WHERE subject_id = $1
          ORDER BY opened_at DESC LIMIT 1",
        &[&subject],
    )
    .await
    .unwrap()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_licences_open_and_renewals_resolve() {
    let now = second(Utc::now());
    let (api, hand) = Api::start_at(now).await;
    let soon = driver_expiring(&api, "sam", now, 10).await;
    let later = driver_expiring(&api, "lou", now, 90).await;
    create_rule(
        &api.admin,
        json!({"name": "licences", "kind": "licence_expiring",
               "params": {"within_days": 30}, "clear_s": 0}),
    )
    .await;
    let db = api.db.client().await;
    api.daemon.alerts.pass().await.unwrap();
    let (status, n, details) = alert_of(&db, &soon).await.expect("an alert for sam");
    assert_eq!((status.as_str(), n), ("open", 1));
    assert_eq!(details["days_left"], 10);
    assert_eq!(details["driver_id"], soon.as_str());
    assert!(
        alert_of(&db, &later).await.is_none(),
        "90 days is not within 30"
    );
    let listed = api
        .admin
        .get("/v1/alerts?kind=licence_expiring")
        .await
        .json();
    assert_eq!(listed["items"][0]["subject_type"], "driver");

    // Not due again within the interval; then seen again.
    hand.advance(Duration::seconds(10));
    assert_eq!(api.daemon.alerts.pass().await.unwrap().rules, 0);
    hand.advance(Duration::minutes(2));
    api.daemon.alerts.pass().await.unwrap();
    assert_eq!(alert_of(&db, &soon).await.unwrap().1, 2);

    // Renewed: the next evaluation resolves it.
    let r = api
        .admin
        .patch(
            &format!("/v1/drivers/{soon}"),
            json!({"licence_expiry": "2099-01-01"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    hand.advance(Duration::minutes(2));
    // (The daemon's own timer may run the pass first: the state is what counts.)
    api.daemon.alerts.pass().await.unwrap();
    assert_eq!(alert_of(&db, &soon).await.unwrap().0, "resolved");
    assert_eq!(events_of(&db, "alert.opened").await.len(), 1);
    let resolved = events_of(&db, "alert.resolved").await;
    assert_eq!(resolved[0]["alert"]["resolution"], "auto");
    api.daemon.shutdown().await;
}

/// One GPS reading of `vehicle` at `ts`, stored as the writers store them.
async fn reading(db: &tokio_postgres::Client, vehicle: &str, ts: DateTime<Utc>) {
    db.execute(
        "INSERT INTO gps_readings (vehicle_id, ts, position, received_at)
         VALUES ($1, $2, ST_SetSRID(ST_MakePoint(13.4, 52.5), 4326), $2)",
        &[&vehicle, &ts],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_vehicles_on_duty_go_offline_until_readings_resume() {
    let now = second(Utc::now());
    let (api, hand) = Api::start_at(now).await;
    let db = api.db.client().await;
    let on_duty = seed_seat(&db, 1, "off-1").await;
    seed_seat(&db, 2, "off-2").await;
    seed_seat(&db, 3, "never").await;
    // off-2's driver is off duty: never offline, however silent.
    db.execute(
        "UPDATE drivers SET duty_status = 'off_duty' WHERE current_vehicle_id = 'off-2'",
        &[],
    )
    .await
    .unwrap();
    // `never` is out of the rule's scope.
    create_rule(
        &api.admin,
        json!({"name": "silent", "kind": "offline", "params": {"after_min": 10}, "clear_s": 0,
               "scope": {"vehicle_ids": ["off-1", "off-2"]}}),
    )
    .await;
    let last = now - Duration::minutes(5);
    reading(&db, "off-1", last).await;
    reading(&db, "off-2", now - Duration::hours(5)).await;
    api.daemon.alerts.pass().await.unwrap();
    assert!(
        alert_of(&db, "off-1").await.is_none(),
        "5 minutes of silence"
    );

    hand.advance(Duration::minutes(6));
    api.daemon.alerts.pass().await.unwrap();
    let (status, _, details) = alert_of(&db, "off-1").await.unwrap();
    assert_eq!(status, "open");
    assert_eq!(details["driver_id"], on_duty.to_string());
    assert_eq!(details["after_min"], 10);
    let seen: DateTime<Utc> = serde_json::from_value(details["last_reading_at"].clone()).unwrap();
    assert_eq!(seen, last);
    assert!(alert_of(&db, "off-2").await.is_none());
    assert!(alert_of(&db, "never").await.is_none());

    // Readings resume: resolved at the next evaluation.
    hand.advance(Duration::minutes(2));
    reading(&db, "off-1", now + Duration::minutes(8)).await;
    api.daemon.alerts.pass().await.unwrap();
    assert_eq!(alert_of(&db, "off-1").await.unwrap().0, "resolved");

    // Silent again, then the driver goes off duty: opened, then resolved.
    hand.advance(Duration::minutes(30));
    api.daemon.alerts.pass().await.unwrap();
    assert_eq!(alert_of(&db, "off-1").await.unwrap().0, "open");
    db.execute(
        "UPDATE drivers SET duty_status = 'off_duty' WHERE id = $1",
        &[&on_duty],
    )
    .await
    .unwrap();
    hand.advance(Duration::minutes(2));
    api.daemon.alerts.pass().await.unwrap();
    assert_eq!(alert_of(&db, "off-1").await.unwrap().0, "resolved");
    assert_eq!(count(&db, "SELECT count(*) FROM alerts").await, 2);
    assert_eq!(events_of(&db, "alert.opened").await.len(), 2);
    assert_eq!(events_of(&db, "alert.resolved").await.len(), 2);
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_timers_open_each_alert_once() {
    let api = Api::start().await;
    let now = second(Utc::now());
    for n in 0..3 {
        driver_expiring(&api, &format!("d{n}"), now, 5).await;
    }
    create_rule(
        &api.admin,
        json!({"name": "licences", "kind": "licence_expiring",
               "params": {"within_days": 30}}),
    )
    .await;
    create_rule(
        &api.admin,
        json!({"name": "licences too", "kind": "licence_expiring",
               "params": {"within_days": 7}}),
    )
    .await;
    let (clock, hand) = Clock::manual(now);
    let every = std::time::Duration::from_secs(60);
    let one = AlertTimer::new(pool(&api), clock.clone(), every);
    let two = AlertTimer::new(pool(&api), clock, every);
    let db = api.db.client().await;
    for round in 1..=5 {
        let (a, b) = tokio::join!(one.pass(), two.pass());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.rules + b.rules, 2, "round {round}: {a:?} {b:?}");
        assert_eq!(a.opened + b.opened, if round == 1 { 6 } else { 0 });
        assert_eq!(a.seen + b.seen, if round == 1 { 0 } else { 6 });
        hand.advance(Duration::minutes(1));
    }
    assert_eq!(count(&db, "SELECT count(*) FROM alerts").await, 6);
    assert_eq!(
        count(&db, "SELECT count(*) FROM alerts WHERE count = 5").await,
        6,
        "each evaluation counted once"
    );
    assert_eq!(events_of(&db, "alert.opened").await.len(), 6);
    api.daemon.shutdown().await;
}

/// `maintenance_due`: a vehicle in scope whose schedule falls due opens an alert naming the
/// schedule; a vehicle out of scope does not; completing the linked job resolves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_falling_due_opens_and_its_completed_job_resolves() {
    let now = second(Utc::now());
    let (api, hand) = Api::start_at(now).await;
    let a = &api.admin;
    for (id, n, kind) in [("md-1", 1, "truck"), ("md-2", 2, "van")] {
        let mut body = crate::common::api::vehicle_body(id, n);
        body["type"] = json!(kind);
        let r = a.post("/v1/vehicles", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let at = json!({"reading_km": 100});
        let r = a.post(&format!("/v1/vehicles/{id}/odometer"), at).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let mut schedules = Vec::new();
    for v in ["md-1", "md-2"] {
        let r = a
            .post(
                "/v1/maintenance-schedules",
                json!({"name": "Oil", "vehicle_id": v, "every_km": 5000, "lead_km": 500}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        schedules.push(r.json()["id"].as_str().unwrap().to_string());
    }
    create_rule(
        a,
        json!({"name": "service due", "kind": "maintenance_due",
               "scope": {"vehicle_types": ["truck"]}, "clear_s": 0}),
    )
    .await;
    let db = api.db.client().await;
    api.daemon.alerts.pass().await.unwrap();
    assert!(alert_of(&db, "md-1").await.is_none(), "nothing due yet");

    hand.advance(Duration::minutes(5));
    let a = &api
        .anonymous()
        .login("admin", crate::common::api::ADMIN_PASSWORD)
        .await;
    for v in ["md-1", "md-2"] {
        let r = a
            .post(
                &format!("/v1/vehicles/{v}/odometer"),
                json!({"reading_km": 4_650}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    api.daemon.alerts.pass().await.unwrap();
    let (status, n, details) = alert_of(&db, "md-1").await.expect("md-1 is due");
    assert_eq!((status.as_str(), n), ("open", 1));
    assert_eq!(
        details["schedules"][0]["schedule_id"],
        schedules[0].as_str()
    );
    assert_eq!(details["schedules"][0]["status"], "due");
    assert_eq!(details["schedules"][0]["km_remaining"], 450);
    assert!(
        alert_of(&db, "md-2").await.is_none(),
        "a van is out of scope"
    );

    // Serviced: a job linked to the schedule, completed.
    hand.advance(Duration::minutes(5));
    let a = &api
        .anonymous()
        .login("admin", crate::common::api::ADMIN_PASSWORD)
        .await;
    let start = (now + Duration::minutes(10)).to_rfc3339();
    let end = (now + Duration::hours(2)).to_rfc3339();
    let r = a
        .post(
            "/v1/maintenance",
            json!({"vehicle_id": "md-1", "description": "oil", "starts_at": start,
                   "ends_at": end, "schedule_id": schedules[0]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let job = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .post(&format!("/v1/maintenance/{job}/start"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let done = json!({"labour_cost": 100, "currency": "EUR"});
    let r = a
        .post(&format!("/v1/maintenance/{job}/complete"), done)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    hand.advance(Duration::minutes(5));
    api.daemon.alerts.pass().await.unwrap();
    let (status, _, _) = alert_of(&db, "md-1").await.unwrap();
    assert_eq!(status, "resolved");
    assert_eq!(count(&db, "SELECT count(*) FROM alerts").await, 1);
    api.daemon.shutdown().await;
}
