//! The revenue report against a recomputation: random reservations, activations,
//! completions (more or fewer km than estimated, late or not), cancellations and payments
//! through the API, from a fixed seed; then the report, grouped by month, vehicle and
//! customer, equals the rentals' charges summed by group and kind (all posted in the window).

use std::cell::Cell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};

use crate::common::api::{customer, plan, reserve_new_vehicle, standard_plan, Api};
use crate::common::proptest_config;

#[derive(Debug, Clone)]
enum Op {
    Reserve {
        customer: usize,
        start_h: i64,
        hours: i64,
        km: i64,
    },
    Activate(usize),
    Complete(usize, i64),
    Cancel(usize),
    Pay(usize, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 1..120i64, 1..96i64, 0..1_500i64).prop_map(|(customer, start_h, hours, km)| Op::Reserve { customer, start_h, hours, km }),
        2 => any::<usize>().prop_map(Op::Activate),
        2 => (any::<usize>(), 0..3_000i64).prop_map(|(r, km)| Op::Complete(r, km)),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => (any::<usize>(), 1..5_000i64).prop_map(|(r, a)| Op::Pay(r, a)),
    ]
}

struct World {
    api: Api,
    db: tokio_postgres::Client,
    customers: Vec<String>,
    plan: String,
    next: Cell<u32>,
    from: String,
}

/// (group, currency) → kind → amount, zeros dropped.
type Books = BTreeMap<(Option<String>, String), BTreeMap<String, i64>>;

fn from_report(r: &Value) -> Books {
    let mut b = Books::new();
    for g in r["groups"].as_array().unwrap() {
        let key = (
            g["group"].as_str().map(String::from),
            g["currency"].as_str().unwrap().to_string(),
        );
        let mut sum = 0;
        for k in g["kinds"].as_array().unwrap() {
            let amount = k["amount"].as_i64().unwrap();
            sum += amount;
            b.entry(key.clone())
                .or_default()
                .insert(k["kind"].as_str().unwrap().into(), amount);
        }
        assert_eq!(g["total"].as_i64(), Some(sum), "{g}");
    }
    b
}

async fn from_charges(db: &tokio_postgres::Client, by: &str) -> Books {
    let group = match by {
        "month" => "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')",
        "vehicle" => "r.vehicle_id",
        _ => "r.customer_id::text",
    };
    let sql = format!(
        "SELECT {group}, c.currency::text, c.kind, sum(c.amount)::bigint
           FROM rental_charges c JOIN rentals r ON r.id = c.rental_id
          GROUP BY 1, 2, 3 HAVING sum(c.amount) <> 0"
    );
    let mut b = Books::new();
    for r in db.query(&sql, &[]).await.unwrap() {
        b.entry((r.get(0), r.get(1)))
            .or_default()
            .insert(r.get(2), r.get(3));
    }
    b
}

async fn run(w: &World, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let a = &w.api.admin;
    let mut rentals: Vec<String> = Vec::new();
    for op in ops {
        let pick = |i: usize| (!rentals.is_empty()).then(|| rentals[i % rentals.len()].clone());
        let r = match op {
            Op::Reserve {
                customer,
                start_h,
                hours,
                km,
            } => {
                let n = w.next.get();
                w.next.set(n + 1);
                let v = format!("fv-{n}");
                let (c, hours) = (&w.customers[customer], (start_h, hours));
                let r = reserve_new_vehicle(a, (&v, n), c, &w.plan, hours, km).await;
                rentals.push(r.json()["id"].as_str().unwrap().to_string());
                r
            }
            Op::Activate(i) | Op::Complete(i, _) | Op::Cancel(i) | Op::Pay(i, _) => {
                let Some(id) = pick(i) else { continue };
                match op {
                    Op::Activate(_) => {
                        a.post(
                            &format!("/v1/rentals/{id}/activate"),
                            json!({"odometer_km": 1_000}),
                        )
                        .await
                    }
                    Op::Complete(_, km) => {
                        a.post(
                            &format!("/v1/rentals/{id}/complete"),
                            json!({"odometer_km": 1_000 + km}),
                        )
                        .await
                    }
                    Op::Cancel(_) => a.post(&format!("/v1/rentals/{id}/cancel"), json!({})).await,
                    Op::Pay(_, amount) => {
                        a.post(
                            &format!("/v1/rentals/{id}/payments"),
                            json!({"amount": amount, "currency": "EUR", "method": "card"}),
                        )
                        .await
                    }
                    Op::Reserve { .. } => unreachable!(),
                }
            }
        };
        prop_assert!(
            matches!(r.status, 200 | 201 | 409 | 422),
            "{op:?}: {} {}",
            r.status,
            r.body
        );
    }
    let to = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for by in ["month", "vehicle", "customer"] {
        let r = a
            .get(&format!(
                "/v1/reports/revenue?from={}&to={to}&group_by={by}",
                w.from
            ))
            .await;
        prop_assert_eq!(r.status, 200, "{}", r.body);
        prop_assert_eq!(
            from_report(&r.json()),
            from_charges(&w.db, by).await,
            "{}",
            by
        );
    }
    Ok(())
}

#[test]
fn the_revenue_report_equals_the_charges() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = rt.block_on(async {
        let api = Api::start().await;
        let p = plan(&api.admin, standard_plan()).await;
        let mut customers = Vec::new();
        for name in ["fin-a", "fin-b", "fin-c"] {
            customers.push(customer(&api, name).await.1);
        }
        let db = api.db.client().await;
        let from = (chrono::Utc::now() - chrono::Duration::hours(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        World {
            api,
            db,
            customers,
            plan: p,
            next: Cell::new(100),
            from,
        }
    });
    let mut runner = TestRunner::new_with_rng(
        proptest_config(10),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&prop::collection::vec(op(), 1..14), |ops| {
            rt.block_on(run(&world, ops))
        })
        .unwrap();
    let kinds: i64 = rt.block_on(async {
        world
            .db
            .query_one("SELECT count(DISTINCT kind) FROM rental_charges", &[])
            .await
            .unwrap()
            .get(0)
    });
    assert!(kinds >= 3, "only {kinds} kinds of charge");
    rt.block_on(world.api.daemon.shutdown());
}
