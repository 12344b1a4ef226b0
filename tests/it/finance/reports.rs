//! The three financial reports on books written by hand (entries posted at chosen times, as
//! SQL can), against figures computed by hand; hostile parameters; and a report over closed
//! months that reads byte for byte the same after corrections.

use serde_json::{json, Value};

use super::{at, constraint, month_back, post_at, post_in};
use crate::common::api::{customer, Api, Client};
use crate::common::errors::expect_status;

const C1: &str = "11111111-1111-1111-1111-111111111111";
const C2: &str = "22222222-2222-2222-2222-222222222222";

fn owed(c: &str) -> String {
    format!("receivable:customer:{c}")
}

async fn ok(c: &Client, path: &str) -> Value {
    let r = c.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

/// The example of docs/financial-reports.md: C1 is charged 100 (day 0), 50 (day 40) and 30
/// (day 85) and pays 120 (day 86); as of day 100 the 60 still owed are the newest 30 (15
/// days old) and 30 of the 50 (60 days old). C2 is charged 10 and pays 25: a credit of 15.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivables_age_first_in_first_out() {
    let api = Api::start().await;
    let a = &api.admin;
    let mut db = api.db.client().await;
    let (c1, c2) = (owed(C1), owed(C2));
    let day = |n: i64| at("2025-01-01T12:00:00Z") + chrono::Duration::days(n);
    for (key, n, account, amount) in [
        ("t.charge:1", 0, &c1, 100),
        ("t.charge:2", 40, &c1, 50),
        ("t.charge:3", 85, &c1, 30),
        ("t.pay:1", 86, &c1, -120),
        ("t.charge:4", 10, &c2, 10),
        ("t.pay:2", 11, &c2, -25),
    ] {
        post_at(
            &mut db,
            key,
            day(n),
            None,
            &[(account, amount), ("revenue:base", -amount)],
        )
        .await
        .unwrap();
    }
    post_in(
        &mut db,
        "t.usd:1",
        "USD",
        day(1),
        None,
        &[(&c1, 7), ("revenue:base", -7)],
    )
    .await
    .unwrap();
    let r = ok(a, "/v1/reports/receivables?as_of=2025-04-11T12:00:00Z").await;
    let bucket = |b: [i64; 7]| {
        json!({"balance": b[0], "current": b[1], "days_1_30": b[2], "days_31_60": b[3],
               "days_61_90": b[4], "over_90": b[5], "credit": b[6]})
    };
    let row = |c: &str, cur: &str, b: [i64; 7]| {
        let mut v = bucket(b);
        v["customer_id"] = json!(c);
        v["currency"] = json!(cur);
        v
    };
    assert_eq!(r["closed"], false);
    assert_eq!(
        r["customers"],
        json!([
            row(C1, "EUR", [60, 0, 30, 30, 0, 0, 0]),
            row(C1, "USD", [7, 0, 0, 0, 0, 7, 0]),
            row(C2, "EUR", [-15, 0, 0, 0, 0, 0, 15]),
        ])
    );
    let mut eur = bucket([45, 0, 30, 30, 0, 0, 15]);
    eur["currency"] = json!("EUR");
    let mut usd = bucket([7, 0, 0, 0, 0, 7, 0]);
    usd["currency"] = json!("USD");
    assert_eq!(r["totals"], json!([eur, usd]));
    // As of day 50: only what was posted by then, aged to then.
    let r = ok(a, "/v1/reports/receivables?as_of=2025-02-20T12:00:00Z").await;
    assert_eq!(
        r["customers"][0],
        row(C1, "EUR", [150, 0, 50, 100, 0, 0, 0])
    );
    // An entry posted exactly at as_of is not yet counted; a day later it is current.
    let r = ok(a, "/v1/reports/receivables?as_of=2025-01-01T12:00:00Z").await;
    assert_eq!(r["customers"], json!([]));
    let r = ok(
        a,
        "/v1/reports/receivables?as_of=2025-01-01T12:00:00.000001Z",
    )
    .await;
    assert_eq!(r["customers"][0], row(C1, "EUR", [100, 100, 0, 0, 0, 0, 0]));
    // Default: now.
    let r = ok(a, "/v1/reports/receivables").await;
    assert_eq!(r["customers"][0]["over_90"], 60);
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revenue_by_month_and_customer_never_mixes_currencies() {
    let api = Api::start().await;
    let a = &api.admin;
    let mut db = api.db.client().await;
    let (c1, c2) = (owed(C1), owed(C2));
    post_at(
        &mut db,
        "t.r:1",
        at("2025-05-03T00:00:00Z"),
        None,
        &[
            (&c1, 120),
            ("revenue:base", -100),
            ("revenue:late_fee", -20),
        ],
    )
    .await
    .unwrap();
    post_at(
        &mut db,
        "t.r:2",
        at("2025-05-31T23:59:59Z"),
        None,
        &[(&c2, -30), ("revenue:cancellation_reversal", 30)],
    )
    .await
    .unwrap();
    post_at(
        &mut db,
        "t.r:3",
        at("2025-06-01T00:00:00Z"),
        None,
        &[(&c2, 50), ("revenue:base", -50)],
    )
    .await
    .unwrap();
    post_in(
        &mut db,
        "t.r:4",
        "USD",
        at("2025-05-10T00:00:00Z"),
        None,
        &[(&c1, 9), ("revenue:base", -9)],
    )
    .await
    .unwrap();
    // Not revenue: a payment and maintenance.
    post_at(
        &mut db,
        "t.r:5",
        at("2025-05-11T00:00:00Z"),
        None,
        &[("bank", 70), (&c1, -70)],
    )
    .await
    .unwrap();
    let k = |kind: &str, amount: i64| json!({"kind": kind, "amount": amount});
    let r = ok(
        a,
        "/v1/reports/revenue?from=2025-05-01T00:00:00Z&to=2025-07-01T00:00:00Z",
    )
    .await;
    assert_eq!(r["group_by"], "month");
    assert_eq!(
        r["groups"],
        json!([
            {"group": "2025-05", "currency": "EUR", "total": 90,
             "kinds": [k("base", 100), k("cancellation_reversal", -30), k("late_fee", 20)]},
            {"group": "2025-05", "currency": "USD", "total": 9, "kinds": [k("base", 9)]},
            {"group": "2025-06", "currency": "EUR", "total": 50, "kinds": [k("base", 50)]},
        ])
    );
    assert_eq!(
        r["totals"],
        json!([
            {"currency": "EUR", "total": 140,
             "kinds": [k("base", 150), k("cancellation_reversal", -30), k("late_fee", 20)]},
            {"currency": "USD", "total": 9, "kinds": [k("base", 9)]},
        ])
    );
    let r = ok(
        a,
        "/v1/reports/revenue?from=2025-05-01T00:00:00Z&to=2025-06-01T00:00:00Z&group_by=customer",
    )
    .await;
    assert_eq!(
        r["groups"],
        json!([
            {"group": C1, "currency": "EUR", "total": 120, "kinds": [k("base", 100), k("late_fee", 20)]},
            {"group": C1, "currency": "USD", "total": 9, "kinds": [k("base", 9)]},
            {"group": C2, "currency": "EUR", "total": -30, "kinds": [k("cancellation_reversal", -30)]},
        ])
    );
    // Without rentals, by vehicle everything is in the null group.
    let r = ok(
        a,
        "/v1/reports/revenue?from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z&group_by=vehicle",
    )
    .await;
    assert_eq!(
        r["groups"],
        json!([{"group": null, "currency": "EUR", "total": 50, "kinds": [k("base", 50)]}])
    );
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicle_costs_per_100km_from_the_ledger_and_the_rollups() {
    let api = Api::start().await;
    let a = &api.admin;
    let mut db = api.db.client().await;
    let lines = |v: &str, labour: i64, parts: i64| {
        vec![
            (format!("expense:maintenance:labour:{v}"), labour),
            (format!("expense:maintenance:parts:{v}"), parts),
            ("payable:maintenance".to_string(), -(labour + parts)),
        ]
    };
    for (key, t, v, labour, parts) in [
        ("t.m:1", "2025-03-10T08:00:00Z", "v-1", 3_000, 1_234),
        ("t.m:2", "2025-03-12T08:00:00Z", "v-3", 500, 0),
        ("t.m:3", "2025-04-01T00:00:00Z", "v-1", 9_999, 1),
    ] {
        let l = lines(v, labour, parts);
        let l: Vec<(&str, i64)> = l
            .iter()
            .filter(|x| x.1 != 0)
            .map(|(a, m)| (a.as_str(), *m))
            .collect();
        post_at(&mut db, key, at(t), None, &l).await.unwrap();
    }
    db.batch_execute(
        "INSERT INTO vehicle_daily (vehicle_id, day, readings, distance_m, moving_s, idle_s, obd_readings, dtc_codes)
         VALUES ('v-1', '2025-03-01', 10, 100000.4, 1, 1, 0, '{}'),
                ('v-1', '2025-03-31', 10, 23456.2, 1, 1, 0, '{}'),
                ('v-1', '2025-04-01', 10, 99999, 1, 1, 0, '{}'),
                ('v-2', '2025-03-15', 10, 80000, 1, 1, 0, '{}'),
                ('v-4', '2025-03-15', 10, 0, 1, 1, 0, '{}')",
    )
    .await
    .unwrap();
    let r = ok(
        a,
        "/v1/reports/vehicle-costs?from=2025-03-01T00:00:00Z&to=2025-04-01T00:00:00Z",
    )
    .await;
    assert_eq!(
        r["vehicles"],
        json!([
            {"vehicle_id": "v-1", "distance_m": 123457, "costs": [
                {"currency": "EUR", "labour": 3000, "parts": 1234, "total": 4234, "per_100km": 3430}]},
            {"vehicle_id": "v-2", "distance_m": 80000, "costs": []},
            {"vehicle_id": "v-3", "distance_m": 0, "costs": [
                {"currency": "EUR", "labour": 500, "parts": 0, "total": 500, "per_100km": null}]},
        ])
    );
    api.daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_report_parameters_are_422_naming_the_field() {
    let api = Api::start().await;
    let a = &api.admin;
    let (alice, _) = customer(&api, "alice").await;
    let ok_window = "from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z";
    let long = "9".repeat(3000);
    for route in ["revenue", "vehicle-costs"] {
        for (query, field) in [
            (
                "from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z".to_string(),
                "to",
            ),
            (
                "from=2025-01-01T00:00:00Z&to=2025-01-01T00:00:00Z".to_string(),
                "to",
            ),
            (
                "from=2000-01-01T00:00:00Z&to=2025-01-01T00:00:00Z".to_string(),
                "to",
            ),
            (
                "from=1969-01-01T00:00:00Z&to=1970-01-02T00:00:00Z".to_string(),
                "from",
            ),
            ("from=yesterday&to=2025-01-01T00:00:00Z".to_string(), "from"),
            (
                "from=2025-01-01&to=2025-01-02T00:00:00Z".to_string(),
                "from",
            ),
            (format!("from={long}&to=2025-01-01T00:00:00Z"), "from"),
            ("to=2025-01-01T00:00:00Z".to_string(), "from"),
            ("from=2025-01-01T00:00:00Z".to_string(), "to"),
            (format!("{ok_window}&evil=1"), "evil"),
        ] {
            let path = format!("/v1/reports/{route}?{query}");
            let r = a.get(&path).await;
            assert_eq!(
                (r.status, r.code()),
                (422, "invalid_value".into()),
                "{path}: {}",
                r.body
            );
            let message = r.json()["error"]["message"].as_str().unwrap().to_string();
            assert!(message.contains(field), "{path}: {message}");
        }
        expect_status!(alice, GET format!("/v1/reports/{route}?{ok_window}") => 403 "forbidden");
    }
    for bad in ["Month", "week", "%00", &long] {
        let path = format!("/v1/reports/revenue?{ok_window}&group_by={bad}");
        let r = a.get(&path).await;
        assert_eq!(r.status, 422, "{path}");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("group_by:"),
            "{}",
            r.body
        );
    }
    for bad in [
        "yesterday",
        "1969-12-31T23:59:59Z",
        "+10000-01-01T00:00:00Z",
        "2025-13-01T00:00:00Z",
        &long,
    ] {
        let path = format!("/v1/reports/receivables?as_of={bad}");
        let r = a.get(&path).await;
        assert_eq!(r.status, 422, "{path}: {}", r.body);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("as_of"),
            "{}",
            r.body
        );
    }
    expect_status!(alice, GET "/v1/reports/receivables" => 403 "forbidden");
    api.daemon.shutdown().await;
}

/// Close a month, read the reports over it, try to post into it (refused), correct it in the
/// open month (a reversal, new entries), read again: the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_over_closed_months_reads_the_same_forever() {
    let api = Api::start().await;
    let a = &api.admin;
    let mut db = api.db.client().await;
    let (m1, m1_at) = month_back(1);
    let (_, this_at) = month_back(0);
    let c1 = owed(C1);
    let day = chrono::Duration::days(1);
    let charge = post_at(
        &mut db,
        "t.c:1",
        m1_at + day,
        None,
        &[
            (&c1, 500),
            ("revenue:base", -450),
            ("revenue:extra_km", -50),
        ],
    )
    .await
    .unwrap();
    post_at(
        &mut db,
        "t.c:2",
        m1_at + day * 2,
        None,
        &[("bank", 200), (&c1, -200)],
    )
    .await
    .unwrap();
    post_at(
        &mut db,
        "t.c:3",
        m1_at + day * 3,
        None,
        &[
            ("expense:maintenance:labour:v-1", 80),
            ("payable:maintenance", -80),
        ],
    )
    .await
    .unwrap();
    let window = format!(
        "from={}&to={}",
        m1_at.format("%Y-%m-%dT%H:%M:%SZ"),
        this_at.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let paths = [
        format!("/v1/reports/revenue?{window}"),
        format!("/v1/reports/revenue?{window}&group_by=customer"),
        format!("/v1/reports/vehicle-costs?{window}"),
        format!(
            "/v1/reports/receivables?as_of={}",
            this_at.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    ];
    let open = a.get(&paths[0]).await.json();
    assert_eq!(open["closed"], false);
    let r = a
        .post(&format!("/v1/ledger/periods/{m1}/close"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut before = Vec::new();
    for p in &paths {
        let r = a.get(p).await;
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        assert_eq!(r.json()["closed"], true, "{p}: {}", r.body);
        before.push(r.body);
    }
    assert_eq!(
        open["groups"],
        serde_json::from_str::<Value>(&before[0]).unwrap()["groups"]
    );
    // Refused in the closed month; corrections in the open one.
    let e = post_at(
        &mut db,
        "t.c:4",
        m1_at + day * 4,
        None,
        &[(&c1, 1), ("revenue:base", -1)],
    )
    .await
    .unwrap_err();
    assert_eq!(constraint(&e), "ledger_period_closed");
    let r = a
        .post(
            &format!("/v1/ledger/entries/{charge}/reverse"),
            json!({"memo": "wrong customer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    post_at(
        &mut db,
        "t.c:5",
        chrono::Utc::now(),
        None,
        &[(&c1, 300), ("revenue:base", -300)],
    )
    .await
    .unwrap();
    post_at(
        &mut db,
        "t.c:6",
        chrono::Utc::now(),
        None,
        &[
            ("expense:maintenance:parts:v-1", 5),
            ("payable:maintenance", -5),
        ],
    )
    .await
    .unwrap();
    for (p, b) in paths.iter().zip(&before) {
        assert_eq!(&a.get(p).await.body, b, "{p}");
    }
    // A window reaching into the open month shows the corrections, and says it is open.
    let to = chrono::Utc::now() + chrono::Duration::days(1);
    let r = ok(
        a,
        &format!(
            "/v1/reports/revenue?from={}&to={}",
            m1_at.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    assert_eq!(r["closed"], false);
    assert_eq!(r["totals"][0]["total"], 300, "{r}");
    api.daemon.shutdown().await;
}
