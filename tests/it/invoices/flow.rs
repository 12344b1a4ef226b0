//! Issuing, covering, voiding, paying, and the tax's rounding, in the ledger and the
//! rental's balance.

use serde_json::json;

use super::{balance, invoice, new_plan, receivable, rental, taxed_plan};
use crate::common::api::Api;
use crate::common::errors::{is, unknown_ids};
use crate::ledger::{count, entries_with_key, UNBALANCED};

fn seq(invoice: &serde_json::Value) -> i64 {
    let number = invoice["number"].as_str().unwrap();
    let (year, seq) = number.split_once('-').unwrap();
    assert_eq!(year.len(), 4, "{number}");
    assert_eq!(seq.len(), 6, "{number}");
    seq.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_covers_what_is_not_invoiced_and_its_tax_reaches_the_ledger() {
    let api = Api::start().await;
    let a = &api.admin;
    let p = new_plan(&api, taxed_plan(5_000, 2_000)).await;
    let (id, (_, cust)) = rental(&api, &p, "inv-cover", 1).await;
    let first = invoice(a, &id).await;
    assert_eq!(first["status"], "issued");
    assert_eq!(first["rental_id"], id.as_str());
    assert_eq!(first["customer_id"], cust.as_str());
    assert_eq!(first["lines"].as_array().unwrap().len(), 1);
    assert_eq!(first["lines"][0]["kind"], "base");
    assert_eq!(
        (
            &first["net"],
            &first["tax_bp"],
            &first["tax"],
            &first["total"]
        ),
        (&json!(10_000), &json!(2_000), &json!(2_000), &json!(12_000))
    );
    // The tax is owed by the customer and to the tax authority.
    assert_eq!(balance(&api, "payable:tax").await, -2_000);
    let shown = a.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(
        (&shown["total_tax"], &shown["balance"]),
        (&json!(2_000), &json!(12_000))
    );
    assert_eq!(receivable(&api, &id).await, 12_000);
    // Nothing left: 409.
    let r = a
        .post(&format!("/v1/rentals/{id}/invoice"), json!({}))
        .await;
    is(&r, 409, "nothing_to_invoice", "second invoice");
    // Completion invoices what it adds: 300 km over the 400 included, at 30 each.
    let r = a
        .post(
            &format!("/v1/rentals/{id}/activate"),
            json!({"odometer_km": 1_000}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a
        .post(
            &format!("/v1/rentals/{id}/complete"),
            json!({"odometer_km": 1_700}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["total_tax"], 2_000 + 1_800);
    let list = a.get(&format!("/v1/invoices?rental_id={id}")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let last = &items[1];
    assert_eq!(seq(last), seq(&first) + 1);
    assert_eq!(last["lines"][0]["kind"], "extra_km");
    assert_eq!((&last["net"], &last["tax"]), (&json!(9_000), &json!(1_800)));
    let rental = a.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(rental["balance"], 10_000 + 2_000 + 9_000 + 1_800);
    assert_eq!(receivable(&api, &id).await, 22_800);
    // A completed rental with everything invoiced issues nothing more.
    let r = a
        .post(&format!("/v1/rentals/{id}/invoice"), json!({}))
        .await;
    is(&r, 409, "nothing_to_invoice", "after completion");
    let db = api.db.client().await;
    assert_eq!(count(&db, UNBALANCED).await, 0);
    let key = format!("invoice.issued:{}", first["id"].as_str().unwrap());
    assert_eq!(entries_with_key(&db, &key).await, 1);
    let events: i64 = db
        .query_one(
            "SELECT (SELECT count(*) FROM events WHERE type = 'invoice.issued')
                  + (SELECT count(*) FROM event_outbox WHERE type = 'invoice.issued')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 2);
    // A charge is on at most one invoice that is not void, in the database too.
    let charge: i64 = first["lines"][0]["charge_id"].as_i64().unwrap();
    let last_id: uuid::Uuid = last["id"].as_str().unwrap().parse().unwrap();
    let e = db
        .execute(
            "INSERT INTO invoiced_charges (charge_id, invoice_id) VALUES ($1, $2)",
            &[&charge, &last_id],
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION),
        "{e:?}"
    );
    // Unknown rentals are 404.
    unknown_ids(a, "POST", "/v1/rentals", "/invoice", Some(json!({}))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voiding_reverses_the_tax_and_frees_the_charges_and_paid_is_final() {
    let api = Api::start().await;
    let a = &api.admin;
    let p = new_plan(&api, taxed_plan(5_000, 2_000)).await;
    let (id, _) = rental(&api, &p, "inv-void", 2).await;
    let first = invoice(a, &id).await;
    let inv = first["id"].as_str().unwrap();
    let r = a.post(&format!("/v1/invoices/{inv}/void"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "void");
    assert!(r.json()["voided_at"].is_string());
    assert_eq!(balance(&api, "payable:tax").await, 0);
    let shown = a.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(
        (&shown["total_tax"], &shown["balance"]),
        (&json!(0), &json!(10_000))
    );
    assert_eq!(receivable(&api, &id).await, 10_000);
    let db = api.db.client().await;
    let reversal: i64 = db
        .query_one(
            "SELECT count(*) FROM journal_entries WHERE event_key = $1 AND reverses IS NOT NULL",
            &[&format!("invoice.voided:{inv}")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reversal, 1);
    let r = a.post(&format!("/v1/invoices/{inv}/void"), json!({})).await;
    is(&r, 409, "illegal_transition", "void twice");
    // Its charges can be invoiced again, under the next number.
    let again = invoice(a, &id).await;
    assert_eq!(seq(&again), seq(&first) + 1);
    assert_eq!(again["lines"], first["lines"]);
    assert_eq!(again["total"], 12_000);
    // Paying the balance marks the issued invoice paid; a paid invoice cannot be voided.
    let pay = json!({"amount": 11_999, "currency": "EUR", "method": "card"});
    let r = a.post(&format!("/v1/rentals/{id}/payments"), pay).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = format!("/v1/invoices/{}", again["id"].as_str().unwrap());
    assert_eq!(a.get(&path).await.json()["status"], "issued");
    let pay = json!({"amount": 1, "currency": "EUR", "method": "cash"});
    let r = a.post(&format!("/v1/rentals/{id}/payments"), pay).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let paid = a.get(&path).await.json();
    assert_eq!(paid["status"], "paid");
    assert!(paid["paid_at"].is_string());
    let r = a.post(&format!("{path}/void"), json!({})).await;
    is(&r, 409, "illegal_transition", "void a paid invoice");
    // The voided one stays void; filters find each.
    let list = a
        .get(&format!("/v1/invoices?rental_id={id}&status=void"))
        .await
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], inv);
    let list = a.get("/v1/invoices?status=paid").await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Activating and completing with nothing new to charge issues no invoice.
    a.post(
        &format!("/v1/rentals/{id}/activate"),
        json!({"odometer_km": 10}),
    )
    .await;
    let r = a
        .post(
            &format!("/v1/rentals/{id}/complete"),
            json!({"odometer_km": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = a.get(&format!("/v1/invoices?rental_id={id}")).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(count(&db, UNBALANCED).await, 0);
    assert_eq!(receivable(&api, &id).await, 0);
    unknown_ids(a, "POST", "/v1/invoices", "/void", Some(json!({}))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tax_rounds_half_away_from_zero_on_the_invoice_net() {
    let api = Api::start().await;
    let a = &api.admin;
    // One minor unit a day, two days: net 2.
    let cases = [(2_500, 1), (2_499, 0), (7_500, 2), (10_000, 2), (0, 0)];
    for (n, (bp, tax)) in cases.into_iter().enumerate() {
        let p = new_plan(&api, taxed_plan(1, bp)).await;
        let (id, _) = rental(&api, &p, &format!("inv-round-{n}"), 10 + n as u32).await;
        let i = invoice(a, &id).await;
        assert_eq!(
            (i["net"].as_i64(), i["tax"].as_i64()),
            (Some(2), Some(tax)),
            "{bp}"
        );
        assert_eq!(receivable(&api, &id).await, 2 + tax);
        let db = api.db.client().await;
        let key = format!("invoice.issued:{}", i["id"].as_str().unwrap());
        assert_eq!(
            entries_with_key(&db, &key).await,
            i64::from(tax != 0),
            "a zero tax posts nothing"
        );
    }
    // A credit: cancelled for free after the invoice, the reversal is invoiced with a
    // negative tax that mirrors the first (net 2 at 25 %: 0.5 → 1; net −2: −1).
    let p = new_plan(&api, taxed_plan(1, 2_500)).await;
    let (id, (cust_client, _)) = rental(&api, &p, "inv-credit", 20).await;
    let first = invoice(a, &id).await;
    assert_eq!(first["tax"], 1);
    let r = cust_client
        .post(&format!("/v1/rentals/{id}/cancel"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["balance"],
        1,
        "the tax is still owed until credited"
    );
    let credit = invoice(a, &id).await;
    assert_eq!(
        (&credit["net"], &credit["tax"], &credit["total"]),
        (&json!(-2), &json!(-1), &json!(-3))
    );
    assert_eq!(credit["lines"][0]["kind"], "cancellation_reversal");
    let rental = a.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(
        (&rental["total_tax"], &rental["balance"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(receivable(&api, &id).await, 0);
    // Both are settled: the balance is zero.
    assert_eq!(credit["status"], "paid");
    let db = api.db.client().await;
    assert_eq!(count(&db, UNBALANCED).await, 0);
}
