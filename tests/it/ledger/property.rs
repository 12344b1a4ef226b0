//! Random money flows through the API: reservations (some within the plan's free-cancellation
//! notice), activations, completions with more or fewer kilometres than estimated,
//! cancellations, payments captured at once or pending then captured or failed, partial
//! refunds, invoices (the plan taxes 20 %) issued on demand and at completion, and voided,
//! in any order (steps that do not apply are refused, never a 500). After each sequence:
//! every journal entry balances; each rental's balance, as the API shows it and as its rows
//! give it (charges + invoiced tax − captured payments + refunds), equals its ledger
//! receivable; revenue by kind equals the charges by kind; `payable:tax` holds the tax of the
//! invoices that are not void; no charge is on two such invoices; the numbers run without
//! gaps; cash and bank hold what was captured less what was refunded; and posting every
//! entry's business event again posts nothing.

use std::cell::Cell;
use std::collections::BTreeMap;

use fleetd::ledger::{self, Posted, Posting};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use serde_json::json;

use super::{count, RECEIVABLE, UNBALANCED};
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
    Pay {
        rental: usize,
        amount: i64,
        method: usize,
        pending: bool,
    },
    Capture(usize),
    Fail(usize),
    Refund(usize, i64),
    Invoice(usize),
    Void(usize),
}

fn reserve() -> impl Strategy<Value = Op> {
    (0..2usize, 1..120i64, 1..96i64, 0..1_500i64).prop_map(|(customer, start_h, hours, km)| {
        Op::Reserve {
            customer,
            start_h,
            hours,
            km,
        }
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => reserve(),
        2 => any::<usize>().prop_map(Op::Activate),
        2 => (any::<usize>(), 0..3_000i64).prop_map(|(r, km)| Op::Complete(r, km)),
        1 => any::<usize>().prop_map(Op::Cancel),
        4 => (any::<usize>(), 1..12_000i64, 0..3usize, any::<bool>()).prop_map(
            |(rental, amount, method, pending)| Op::Pay { rental, amount, method, pending }
        ),
        2 => any::<usize>().prop_map(Op::Capture),
        1 => any::<usize>().prop_map(Op::Fail),
        3 => (any::<usize>(), 1..6_000i64).prop_map(|(p, amount)| Op::Refund(p, amount)),
        2 => any::<usize>().prop_map(Op::Invoice),
        2 => any::<usize>().prop_map(Op::Void),
    ]
}

fn flow() -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(reserve(), 1..3),
        prop::collection::vec(op(), 1..16),
    )
        .prop_map(|(mut first, rest)| {
            first.extend(rest);
            first
        })
}

/// What the sequences share: the daemon, its database, two customers, a plan, and the
/// number of the next vehicle.
struct World {
    api: Api,
    db: tokio_postgres::Client,
    customers: Vec<String>,
    plan: String,
    next_vehicle: Cell<u32>,
}

async fn run(w: &World, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let a = &w.api.admin;
    let mut rentals: Vec<String> = Vec::new();
    let mut payments: Vec<(String, String)> = Vec::new();
    let mut invoices: Vec<String> = Vec::new();
    let pick = |i: usize, n: usize| (n > 0).then(|| i % n);
    for op in ops {
        let r = match op {
            Op::Reserve {
                customer,
                start_h,
                hours,
                km,
            } => {
                let n = w.next_vehicle.get();
                w.next_vehicle.set(n + 1);
                let v = format!("pv-{n}");
                let (c, hours) = (&w.customers[customer], (start_h, hours));
                let r = reserve_new_vehicle(a, (&v, n), c, &w.plan, hours, km).await;
                rentals.push(r.json()["id"].as_str().unwrap().to_string());
                r
            }
            Op::Activate(i) | Op::Complete(i, _) | Op::Cancel(i) => {
                let Some(i) = pick(i, rentals.len()) else {
                    continue;
                };
                let (what, body) = match op {
                    Op::Activate(_) => ("activate", json!({"odometer_km": 1_000})),
                    Op::Complete(_, km) => ("complete", json!({"odometer_km": 1_000 + km})),
                    _ => ("cancel", json!({})),
                };
                a.post(&format!("/v1/rentals/{}/{what}", rentals[i]), body)
                    .await
            }
            Op::Pay {
                rental,
                amount,
                method,
                pending,
            } => {
                let Some(i) = pick(rental, rentals.len()) else {
                    continue;
                };
                let method = ["cash", "card", "transfer"][method];
                let mut body = json!({"amount": amount, "currency": "EUR", "method": method});
                if pending {
                    body["status"] = json!("pending");
                }
                let r = a
                    .post(&format!("/v1/rentals/{}/payments", rentals[i]), body)
                    .await;
                if r.status == 201 {
                    payments.push((rentals[i].clone(), r.json()["id"].as_str().unwrap().into()));
                }
                r
            }
            Op::Invoice(i) => {
                let Some(i) = pick(i, rentals.len()) else {
                    continue;
                };
                let r = a
                    .post(&format!("/v1/rentals/{}/invoice", rentals[i]), json!({}))
                    .await;
                if r.status == 201 {
                    invoices.push(r.json()["id"].as_str().unwrap().into());
                }
                r
            }
            Op::Void(i) => {
                let Some(i) = pick(i, invoices.len()) else {
                    continue;
                };
                a.post(&format!("/v1/invoices/{}/void", invoices[i]), json!({}))
                    .await
            }
            Op::Capture(p) | Op::Fail(p) | Op::Refund(p, _) => {
                let Some(p) = pick(p, payments.len()) else {
                    continue;
                };
                let (rental, payment) = &payments[p];
                let base = format!("/v1/rentals/{rental}/payments/{payment}");
                match op {
                    Op::Capture(_) => a.post(&format!("{base}/capture"), json!({})).await,
                    Op::Fail(_) => a.post(&format!("{base}/fail"), json!({})).await,
                    Op::Refund(_, amount) => {
                        a.post(&format!("{base}/refunds"), json!({"amount": amount}))
                            .await
                    }
                    _ => unreachable!(),
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
    check(w, &rentals).await
}

async fn check(w: &World, rentals: &[String]) -> Result<(), TestCaseError> {
    let db = &w.db;
    prop_assert_eq!(count(db, UNBALANCED).await, 0);
    for id in rentals {
        let shown = w.api.admin.get(&format!("/v1/rentals/{id}")).await.json();
        let uuid: uuid::Uuid = id.parse().unwrap();
        let receivable: i64 = db.query_one(RECEIVABLE, &[&uuid]).await.unwrap().get(0);
        let rows: i64 = db
            .query_one(fleetd::api::rentals::payments::BALANCE, &[&uuid])
            .await
            .unwrap()
            .get(0);
        prop_assert_eq!(shown["balance"].as_i64(), Some(receivable), "{}", shown);
        prop_assert_eq!(rows, receivable);
    }
    let by_kind = |sql: &'static str| async move {
        db.query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
            .collect::<BTreeMap<_, _>>()
    };
    let charged = by_kind(
        "SELECT kind, sum(amount)::bigint FROM rental_charges GROUP BY kind HAVING sum(amount) <> 0",
    )
    .await;
    let revenue = by_kind(
        "SELECT substr(account, 9), -sum(amount)::bigint FROM journal_lines
          WHERE account LIKE 'revenue:%' GROUP BY 1 HAVING sum(amount) <> 0",
    )
    .await;
    prop_assert_eq!(charged, revenue);
    let held = by_kind(
        "SELECT account, sum(amount)::bigint FROM journal_lines
          WHERE account IN ('cash', 'bank') GROUP BY 1 HAVING sum(amount) <> 0",
    )
    .await;
    let captured = by_kind(
        "SELECT CASE method WHEN 'cash' THEN 'cash' ELSE 'bank' END, sum(amount - refunded)::bigint
           FROM rental_payments WHERE status IN ('captured', 'refunded')
          GROUP BY 1 HAVING sum(amount - refunded) <> 0",
    )
    .await;
    prop_assert_eq!(held, captured);
    // The tax of the invoices that are not void is what `payable:tax` owes; no charge is on
    // two of them, and what they cover is what `invoiced_charges` holds.
    let tax = count(
        db,
        "SELECT (coalesce((SELECT sum(amount) FROM journal_lines WHERE account = 'payable:tax'), 0)
               + coalesce((SELECT sum(tax) FROM invoices WHERE status <> 'void'), 0))::bigint",
    )
    .await;
    prop_assert_eq!(tax, 0);
    let twice = count(
        db,
        "SELECT count(*) FROM (SELECT l.charge_id FROM invoice_lines l
                                 JOIN invoices i ON i.id = l.invoice_id
                                WHERE i.status <> 'void' GROUP BY 1 HAVING count(*) > 1) t",
    )
    .await;
    prop_assert_eq!(twice, 0);
    let differ = count(
        db,
        "SELECT count(*) FROM (
             (SELECT l.charge_id, l.invoice_id FROM invoice_lines l
                JOIN invoices i ON i.id = l.invoice_id WHERE i.status <> 'void'
              EXCEPT SELECT charge_id, invoice_id FROM invoiced_charges)
             UNION ALL
             (SELECT charge_id, invoice_id FROM invoiced_charges
              EXCEPT SELECT l.charge_id, l.invoice_id FROM invoice_lines l
                JOIN invoices i ON i.id = l.invoice_id WHERE i.status <> 'void')) d",
    )
    .await;
    prop_assert_eq!(differ, 0);
    let gaps = count(
        db,
        "SELECT count(*) FROM (SELECT year, count(*) AS n, max(seq) AS top FROM invoices
                                GROUP BY year) y
          WHERE n <> top OR top <> (SELECT last FROM invoice_counters c WHERE c.year = y.year)",
    )
    .await;
    prop_assert_eq!(gaps, 0);
    // Replaying every business event posts nothing.
    let before = count(db, "SELECT count(*) FROM journal_entries").await;
    let entries = db
        .query(
            "SELECT e.event_key, e.currency::text, e.rental_id,
                    array_agg(l.account ORDER BY l.id), array_agg(l.amount ORDER BY l.id)
               FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id GROUP BY e.id",
            &[],
        )
        .await
        .unwrap();
    for e in &entries {
        let accounts: Vec<String> = e.get(3);
        let amounts: Vec<i64> = e.get(4);
        let p = Posting {
            key: e.get(0),
            currency: e.get(1),
            memo: "replay".into(),
            rental_id: e.get(2),
            lines: accounts.into_iter().zip(amounts).collect(),
        };
        prop_assert_eq!(ledger::post(db, &p).await.unwrap(), Posted::Already);
    }
    prop_assert_eq!(
        count(db, "SELECT count(*) FROM journal_entries").await,
        before
    );
    Ok(())
}

#[test]
fn random_money_flows_keep_the_books_balanced() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = rt.block_on(async {
        let api = Api::start().await;
        let mut taxed = standard_plan();
        taxed["tax_bp"] = json!(2_000);
        let p = plan(&api.admin, taxed).await;
        let mut customers = Vec::new();
        for name in ["prop-a", "prop-b"] {
            customers.push(customer(&api, name).await.1);
        }
        let db = api.db.client().await;
        World {
            api,
            db,
            customers,
            plan: p,
            next_vehicle: Cell::new(100),
        }
    });
    // A fixed seed: the coverage asserted below (captures and refunds among the random
    // operations, many of which are refused) must not depend on the draw.
    let mut runner = TestRunner::new_with_rng(
        proptest_config(16),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&flow(), |ops| rt.block_on(run(&world, ops)))
        .unwrap();
    // The flows did move money both ways, and invoiced and voided.
    let (invoiced, voided) = rt.block_on(async {
        (
            count(&world.db, "SELECT count(*) FROM invoices").await,
            count(
                &world.db,
                "SELECT count(*) FROM invoices WHERE status = 'void'",
            )
            .await,
        )
    });
    assert!(
        invoiced > 5 && voided > 0,
        "invoiced {invoiced}, voided {voided}"
    );
    let (captures, refunds) = rt.block_on(async {
        (
            count(
                &world.db,
                "SELECT count(*) FROM journal_entries WHERE event_key LIKE 'payment.captured:%'",
            )
            .await,
            count(
                &world.db,
                "SELECT count(*) FROM journal_entries WHERE event_key LIKE 'refund.issued:%'",
            )
            .await,
        )
    });
    assert!(
        captures > 5 && refunds > 0,
        "captures {captures}, refunds {refunds}"
    );
    rt.block_on(world.api.daemon.shutdown());
}
