//! Invoices (docs/invoices.md) through the API on a real PostgreSQL:
//! - [`flow`]: issuing on demand and at completion, what an invoice covers, the tax in the
//!   ledger and in the rental's balance, voiding and invoicing again, `paid`, the rounding
//!   of the tax (a credit invoice too).
//! - [`numbering`]: 50 concurrent issues take 50 consecutive numbers.
//! - [`document`]: the HTML document (escaping, currency formatting), who may read what, and
//!   hostile input.

mod document;
mod flow;
mod numbering;

use serde_json::{json, Value};

use crate::common::api::{customer, hours_from_now, plan, reserve_body, vehicle, Api, Client};

/// The standard plan with a tax rate.
pub fn taxed_plan(daily_rate: i64, tax_bp: i64) -> Value {
    json!({"name": "taxed", "currency": "EUR", "daily_rate": daily_rate,
           "included_km_per_day": 200, "extra_km_rate": 30, "late_fee_per_hour": 1500,
           "free_cancellation_hours": 48, "cancellation_fee_pct": 20, "tax_bp": tax_bp})
}

/// A rental of two days starting in 100 hours on `plan` for a new customer named `name`:
/// its id and the customer's (client, id).
pub async fn rental(api: &Api, plan_id: &str, name: &str, n: u32) -> (String, (Client, String)) {
    let a = &api.admin;
    let v = format!("inv-{n}");
    vehicle(a, &v, n).await;
    let (c, cust) = customer(api, name).await;
    let mut body = reserve_body(&v, plan_id, &hours_from_now(100), &hours_from_now(148), 0);
    body["customer_id"] = json!(cust);
    let r = a.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    (r.json()["id"].as_str().unwrap().to_string(), (c, cust))
}

/// A new plan on `body`.
pub async fn new_plan(api: &Api, body: Value) -> String {
    plan(&api.admin, body).await
}

/// `POST /v1/rentals/{id}/invoice`, expected 201: the invoice.
pub async fn invoice(a: &Client, rental: &str) -> Value {
    let r = a
        .post(&format!("/v1/rentals/{rental}/invoice"), json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

/// The balance of `account` (debit-positive).
pub async fn balance(api: &Api, account: &str) -> i64 {
    crate::ledger::balance(&api.db.client().await, account).await
}

/// The ledger's receivable of `rental`.
pub async fn receivable(api: &Api, rental: &str) -> i64 {
    let id: uuid::Uuid = rental.parse().unwrap();
    api.db
        .client()
        .await
        .query_one(crate::ledger::RECEIVABLE, &[&id])
        .await
        .unwrap()
        .get(0)
}
