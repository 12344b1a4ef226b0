//! Numbering without gaps: 50 invoices issued at once over HTTP, one per rental, take 50
//! distinct consecutive numbers of the year.

use std::collections::BTreeSet;

use serde_json::json;

use super::{new_plan, taxed_plan};
use crate::common::api::{customer, hours_from_now, reserve_body, vehicle, Api};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_invoices_take_fifty_consecutive_numbers() {
    let api = Api::start().await;
    let a = &api.admin;
    let p = new_plan(&api, taxed_plan(5_000, 1_900)).await;
    let (_, cust) = customer(&api, "inv-many").await;
    let mut rentals = Vec::new();
    for n in 0..50u32 {
        let v = format!("num-{n}");
        vehicle(a, &v, 100 + n).await;
        let mut body = reserve_body(&v, &p, &hours_from_now(100), &hours_from_now(124), 0);
        body["customer_id"] = json!(cust);
        let r = a.post("/v1/rentals", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        rentals.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let tasks: Vec<_> = rentals
        .iter()
        .map(|id| {
            let a = a.clone();
            let path = format!("/v1/rentals/{id}/invoice");
            tokio::spawn(async move { a.post(&path, json!({})).await })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    let mut years = BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let number = r.json()["number"].as_str().unwrap().to_string();
        let (year, seq) = number.split_once('-').unwrap();
        years.insert(year.to_string());
        assert!(
            numbers.insert(seq.parse::<i64>().unwrap()),
            "{number} twice"
        );
    }
    assert_eq!(years.len(), 1, "{years:?}");
    let first = *numbers.first().unwrap();
    let expected: BTreeSet<i64> = (first..first + 50).collect();
    assert_eq!(numbers, expected);
    assert_eq!(first, 1, "the first invoices of a new database");
    // The counter stands at the last number.
    let db = api.db.client().await;
    let last: i64 = db
        .query_one("SELECT last FROM invoice_counters", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(last, 50);
    // A rolled-back issue takes its number back with it: the next one follows on.
    let tx_db = api.db.client().await;
    tx_db.batch_execute("BEGIN").await.unwrap();
    let taken: i64 = tx_db
        .query_one(
            "UPDATE invoice_counters SET last = last + 1 RETURNING last",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(taken, 51);
    tx_db.batch_execute("ROLLBACK").await.unwrap();
    let v = "num-last";
    vehicle(a, v, 999).await;
    let mut body = reserve_body(v, &p, &hours_from_now(100), &hours_from_now(124), 0);
    body["customer_id"] = json!(cust);
    let id = a.post("/v1/rentals", body).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let next = a
        .post(&format!("/v1/rentals/{id}/invoice"), json!({}))
        .await;
    assert_eq!(next.status, 201, "{}", next.body);
    assert!(next.json()["number"].as_str().unwrap().ends_with("-000051"));
}
