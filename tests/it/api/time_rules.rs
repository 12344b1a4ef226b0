//! The rules that fire as time passes, against a real daemon and PostgreSQL on a manual
//! clock: a shift past its end stops dispatch at once and then completes and unseats its
//! driver; an expired licence unseats a driver; a reservation never collected becomes a
//! no-show, charged per its plan, whatever the number of concurrent passes; an overdue
//! vehicle cannot be booked; and the daemon runs the rules on its own.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::common::api::{
    customer, plan, reserve_body, standard_plan, vehicle, Api, Client, ADMIN_PASSWORD,
};
use crate::common::dispatch::{
    eventually, nearest_ids, publish_fix, register_vehicle, wait_nearest, TRUCK,
};
use crate::common::errors::is;
use crate::common::{metric, Publisher};

fn t0() -> DateTime<Utc> {
    "2031-05-20T08:00:00Z".parse().unwrap()
}

fn at(t: DateTime<Utc>, hours: i64) -> String {
    (t + Duration::hours(hours)).to_rfc3339()
}

fn id(r: &crate::common::api::Resp) -> String {
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

/// A driver user with a profile whose licence expires on `expiry`: (client, driver id).
async fn driver(a: &Client, name: &str, expiry: &str) -> (Client, String) {
    let (client, user_id) = a.user(name, "driver").await;
    let r = a
        .post(
            "/v1/drivers",
            json!({"user_id": user_id, "name": name, "licence_number": format!("L-{name}"),
                   "licence_expiry": expiry}),
        )
        .await;
    (client, id(&r))
}

/// Reserves `vehicle` for `customer` over `[from, to)`, as staff.
async fn reserve(
    a: &Client,
    plan: &str,
    customer: &str,
    vehicle: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    let mut b = reserve_body(vehicle, plan, &from.to_rfc3339(), &to.to_rfc3339(), 10);
    b["customer_id"] = json!(customer);
    id(&a.post("/v1/rentals", b).await)
}

/// The admin with a token issued at the clock's now (moving the clock expires older ones).
async fn admin(api: &Api) -> Client {
    api.anonymous().login("admin", ADMIN_PASSWORD).await
}

/// Real time now, to the second: the dispatch tests publish real positions.
fn real_now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

const NEAR: &str = "lat=52.0&lon=13.0&radius_m=5000";

/// Dispatch skips a driver the moment their shift ends (no pass needed); the pass then
/// completes the shift, releases the vehicle and unseats the driver, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_that_ends_stops_dispatch_at_once_and_then_unseats_its_driver() {
    let t = real_now();
    let (api, hand) = Api::start_at_with(t, |c| c.dispatch.staleness_s = 86_400).await;
    let a = &api.admin;
    register_vehicle(&api, "shift-1", 1, &TRUCK).await;
    let (dc, d) = driver(a, "shifty", "2099-01-01").await;
    let shift = id(&a
        .post(
            "/v1/assignments",
            json!({"driver_id": d, "vehicle_id": "shift-1", "starts_at": at(t, -1), "ends_at": at(t, 2)}),
        )
        .await);
    let r = dc
        .patch(
            &format!("/v1/drivers/{d}"),
            json!({"current_vehicle_id": "shift-1", "duty_status": "available"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let publisher = Publisher::connect(&api.broker).await;
    publish_fix(&publisher, "shift-1", t.timestamp_millis(), 52.0, 13.0).await;
    wait_nearest(a, NEAR, &["shift-1"]).await;

    hand.advance(Duration::hours(2) - Duration::seconds(1));
    let fresh = admin(&api).await;
    let a = &fresh;
    assert_eq!(
        nearest_ids(a, NEAR).await,
        ["shift-1"],
        "a second before the end"
    );
    let pass = api.daemon.time_rules.pass().await.unwrap();
    assert!(pass.shifts_ended.is_empty(), "{pass:?}");
    hand.advance(Duration::seconds(1));
    assert!(
        nearest_ids(a, NEAR).await.is_empty(),
        "the shift ended: not dispatchable even before the rules run"
    );

    let pass = api.daemon.time_rules.pass().await.unwrap();
    assert_eq!(pass.shifts_ended, [shift.parse::<uuid::Uuid>().unwrap()]);
    assert_eq!(pass.seats_left, [d.parse::<uuid::Uuid>().unwrap()]);
    let r = a.get(&format!("/v1/assignments/{shift}")).await;
    assert_eq!(r.json()["status"], "completed", "{}", r.body);
    let r = a.get(&format!("/v1/drivers/{d}")).await;
    assert_eq!(r.json()["current_vehicle_id"], json!(null), "{}", r.body);
    let db = api.db.client().await;
    let held: i64 = db
        .query_one(
            "SELECT count(*) FROM vehicle_commitments WHERE vehicle_id = 'shift-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 0, "the vehicle is released");
    let again = api.daemon.time_rules.pass().await.unwrap();
    assert_eq!(again, Default::default(), "a second pass changes nothing");
    let n = metric(
        api.daemon.addr,
        "fleetd_time_rules_total",
        "rule=\"shift_ended\"",
    )
    .await;
    assert_eq!(n, 1.0);

    // A driver put in a vehicle by staff with no shift stays; a shift cancelled while it runs
    // unseats its driver at once.
    let (_, d2) = driver(a, "cancelled", "2099-01-01").await;
    vehicle(a, "shift-2", 2).await;
    let s2 = id(&a
        .post(
            "/v1/assignments",
            json!({"driver_id": d2, "vehicle_id": "shift-2", "starts_at": at(hand_now(t, 2), -1),
                   "ends_at": at(hand_now(t, 2), 5)}),
        )
        .await);
    let r = a
        .patch(
            &format!("/v1/drivers/{d2}"),
            json!({"current_vehicle_id": "shift-2"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a
        .post(&format!("/v1/assignments/{s2}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.get(&format!("/v1/drivers/{d2}")).await;
    assert_eq!(r.json()["current_vehicle_id"], json!(null), "{}", r.body);
}

/// The clock of the first test after it advanced `hours`.
fn hand_now(t: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    t + Duration::hours(hours)
}

/// A licence valid through today: dispatchable today, not from midnight (UTC), then unseated
/// by the pass and refused a vehicle until it is renewed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_licence_unseats_the_driver_and_refuses_a_vehicle() {
    let t = real_now();
    let (api, hand) = Api::start_at_with(t, |c| c.dispatch.staleness_s = 86_400).await;
    let a = &api.admin;
    register_vehicle(&api, "lic-1", 1, &TRUCK).await;
    let today = t.date_naive().to_string();
    let (_, d) = driver(a, "expiring", &today).await;
    let r = a
        .patch(
            &format!("/v1/drivers/{d}"),
            json!({"current_vehicle_id": "lic-1", "duty_status": "available"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let publisher = Publisher::connect(&api.broker).await;
    publish_fix(&publisher, "lic-1", t.timestamp_millis(), 52.0, 13.0).await;
    wait_nearest(a, NEAR, &["lic-1"]).await;

    let midnight = (t.date_naive() + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    hand.set(midnight - Duration::seconds(1));
    let fresh = admin(&api).await;
    let a = &fresh;
    assert_eq!(
        nearest_ids(a, NEAR).await,
        ["lic-1"],
        "valid through its last day"
    );
    assert!(api
        .daemon
        .time_rules
        .pass()
        .await
        .unwrap()
        .licences_expired
        .is_empty());
    hand.set(midnight);
    assert!(nearest_ids(a, NEAR).await.is_empty(), "expired at midnight");
    let pass = api.daemon.time_rules.pass().await.unwrap();
    assert_eq!(pass.licences_expired, [d.parse::<uuid::Uuid>().unwrap()]);
    let r = a.get(&format!("/v1/drivers/{d}")).await;
    assert_eq!(r.json()["current_vehicle_id"], json!(null), "{}", r.body);

    let r = a
        .patch(
            &format!("/v1/drivers/{d}"),
            json!({"current_vehicle_id": "lic-1"}),
        )
        .await;
    is(
        &r,
        422,
        "invalid_value",
        "an expired licence takes no vehicle",
    );
    assert!(r.body.contains("licence expired"), "{}", r.body);
    let r = a
        .patch(
            &format!("/v1/drivers/{d}"),
            json!({"current_vehicle_id": "lic-1", "licence_expiry": "2099-01-01"}),
        )
        .await;
    assert_eq!(r.status, 200, "renewed: {}", r.body);
    wait_nearest(a, NEAR, &["lic-1"]).await;
}

/// A reservation not activated `no_show_hours` after its start becomes `no_show`: its
/// charges reversed, the plan's cancellation fee charged, its vehicle released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_never_collected_becomes_a_no_show() {
    let (api, hand) = Api::start_at(t0()).await;
    let a = &api.admin;
    vehicle(a, "ns-1", 1).await;
    vehicle(a, "ns-2", 2).await;
    let p = plan(a, standard_plan()).await;
    let (_, c) = customer(&api, "noshow").await;
    let start = t0() + Duration::hours(1);
    let missed = reserve(a, &p, &c, "ns-1", start, start + Duration::hours(24)).await;
    let collected = reserve(a, &p, &c, "ns-2", start, start + Duration::hours(24)).await;
    hand.advance(Duration::hours(1));
    let fresh = admin(&api).await;
    let a = &fresh;
    let r = a
        .post(
            &format!("/v1/rentals/{collected}/activate"),
            json!({"odometer_km": 100}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    hand.set(start + Duration::hours(24) - Duration::seconds(1));
    let fresh = admin(&api).await;
    let a = &fresh;
    assert!(api
        .daemon
        .time_rules
        .pass()
        .await
        .unwrap()
        .no_shows
        .is_empty());
    hand.advance(Duration::seconds(1));
    let pass = api.daemon.time_rules.pass().await.unwrap();
    assert_eq!(pass.no_shows, [missed.parse::<uuid::Uuid>().unwrap()]);

    let r = a.get(&format!("/v1/rentals/{missed}")).await;
    let rental = r.json();
    assert_eq!(rental["status"], "no_show", "{}", r.body);
    // One day at 5000, reversed; 20 % of it charged.
    assert_eq!(rental["total_charged"], 1000, "{}", r.body);
    let kinds: Vec<&str> = rental["charges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["base", "no_show_reversal", "no_show_fee"]);
    let r = a.get(&format!("/v1/rentals/{collected}")).await;
    assert_eq!(r.json()["status"], "active", "{}", r.body);
    let r = a
        .post(
            &format!("/v1/rentals/{missed}/activate"),
            json!({"odometer_km": 100}),
        )
        .await;
    is(
        &r,
        409,
        "illegal_transition",
        "a no-show cannot be activated",
    );
    let r = a.get("/v1/rentals?status=no_show").await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1, "{}", r.body);
    let db = api.db.client().await;
    let held: i64 = db
        .query_one(
            "SELECT count(*) FROM vehicle_commitments WHERE ref_id = $1",
            &[&missed.parse::<uuid::Uuid>().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 0, "the vehicle is released");
}

/// Against a reference: after each step of the clock, exactly the reservations whose start
/// is `no_show_hours` or more behind are no-shows, each charged one fee, however many passes
/// run at once (as several daemons would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_passes_mark_exactly_the_reference_no_shows_once() {
    let (api, hand) = Api::start_at_with(t0(), |c| c.rentals.no_show_hours = 2).await;
    let a = &api.admin;
    let p = plan(a, standard_plan()).await;
    let (_, c) = customer(&api, "many").await;
    let mut rentals = Vec::new();
    for v in 0..3u32 {
        let vid = format!("ref-{v}");
        vehicle(a, &vid, v + 1).await;
        for i in 0..8i64 {
            let start = t0() + Duration::minutes(i * 120 + i64::from(v) * 37 + 60);
            let id = reserve(a, &p, &c, &vid, start, start + Duration::minutes(90)).await;
            rentals.push((id, start));
        }
    }
    let mut rng_state = 0x2545_f491_4f6c_dd1d_u64;
    let mut now = t0();
    let mut seen = BTreeSet::new();
    while now < t0() + Duration::hours(22) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        now += Duration::minutes((rng_state % 240) as i64 + 1);
        hand.set(now);
        let fresh = admin(&api).await;
        let a = &fresh;
        let rules = &api.daemon.time_rules;
        let (p1, p2, p3) = tokio::join!(rules.pass(), rules.pass(), rules.pass());
        for id in [p1.unwrap(), p2.unwrap(), p3.unwrap()]
            .into_iter()
            .flat_map(|p| p.no_shows)
        {
            assert!(seen.insert(id.to_string()), "{id} marked twice");
        }
        let want: BTreeSet<String> = rentals
            .iter()
            .filter(|(_, start)| *start + Duration::hours(2) <= now)
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(seen, want, "at {now}");
        let r = a.get("/v1/rentals?status=no_show&limit=200").await;
        assert_eq!(r.json()["items"].as_array().unwrap().len(), want.len());
    }
    assert_eq!(seen.len(), rentals.len(), "the walk passes every deadline");
    let db = api.db.client().await;
    let fees: i64 = db
        .query_one(
            "SELECT count(*) FROM rental_charges WHERE kind = 'no_show_fee'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(fees, rentals.len() as i64, "one fee per no-show");
}

/// A vehicle out past its booking (an overdue rental) cannot be reserved or assigned for any
/// window until it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_vehicle_cannot_be_booked_until_it_is_back() {
    let (api, hand) = Api::start_at(t0()).await;
    let a = &api.admin;
    vehicle(a, "late-1", 1).await;
    let p = plan(a, standard_plan()).await;
    let (_, c) = customer(&api, "late").await;
    let r1 = reserve(a, &p, &c, "late-1", t0(), t0() + Duration::hours(3)).await;
    let r = a
        .post(
            &format!("/v1/rentals/{r1}/activate"),
            json!({"odometer_km": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let later = |h| t0() + Duration::hours(h);
    let mut b = reserve_body("late-1", &p, &at(t0(), 10), &at(t0(), 12), 10);
    b["customer_id"] = json!(c);
    let r = a.post("/v1/rentals", b.clone()).await;
    assert_eq!(
        r.status, 201,
        "booked after the rental ends, while it is on time: {}",
        r.body
    );
    let r2 = id(&r);
    let r = a.post(&format!("/v1/rentals/{r2}/cancel"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);

    hand.set(later(5));
    let fresh = admin(&api).await;
    let a = &fresh;
    let r = a.post("/v1/rentals", b.clone()).await;
    is(
        &r,
        409,
        "vehicle_overdue",
        "the rental is two hours overdue",
    );
    assert!(r.body.contains("late-1 is rented"), "{}", r.body);
    let (_, d) = driver(a, "waiting", "2099-01-01").await;
    let r = a
        .post(
            "/v1/assignments",
            json!({"driver_id": d, "vehicle_id": "late-1", "starts_at": at(t0(), 10), "ends_at": at(t0(), 11)}),
        )
        .await;
    is(&r, 409, "vehicle_overdue", "nor assigned");

    let r = a
        .post(
            &format!("/v1/rentals/{r1}/complete"),
            json!({"odometer_km": 50}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.post("/v1/rentals", b).await;
    assert_eq!(r.status, 201, "back: {}", r.body);
}

/// The daemon applies the rules every `rules.interval_s` by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_the_rules_on_its_own() {
    let (api, hand) = Api::start_at_with(t0(), |c| c.rules.interval_s = 1).await;
    let a = &api.admin;
    vehicle(a, "auto-1", 1).await;
    let p = plan(a, standard_plan()).await;
    let (_, c) = customer(&api, "auto").await;
    let r = reserve(a, &p, &c, "auto-1", t0(), t0() + Duration::hours(2)).await;
    hand.advance(Duration::hours(24));
    let fresh = admin(&api).await;
    let a = &fresh;
    eventually("the rental becomes a no-show", || async {
        let got = a.get(&format!("/v1/rentals/{r}")).await.json();
        (got["status"] == "no_show").then_some(())
    })
    .await;
}
