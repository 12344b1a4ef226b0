//! The printable document, who may read and issue what, and hostile input.

use serde_json::json;

use super::{invoice, new_plan, rental, taxed_plan};
use crate::common::api::{customer, Api};
use crate::common::errors::{each_invalid, is, list_errors, unknown_ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_document_escapes_everything_and_formats_amounts() {
    let api = Api::start_with(|c| {
        c.invoices.seller_name = "Acme & <Sons>".into();
        c.invoices.seller_address = "Main St 1\n10115 Berlin".into();
        c.invoices.seller_tax_id = "DE123456789".into();
    })
    .await;
    let a = &api.admin;
    let p = new_plan(&api, taxed_plan(5_000, 2_000)).await;
    let hostile = "<script>alert(1)</script>";
    let (id, (own, _)) = rental(&api, &p, "inv-doc", 1).await;
    // The customer's name as the fleet recorded it: hostile.
    let db = api.db.client().await;
    db.execute(
        "UPDATE customers SET name = $1 WHERE id = (SELECT customer_id FROM rentals WHERE id = $2::text::uuid)",
        &[&hostile, &id],
    )
    .await
    .unwrap();
    let i = invoice(a, &id).await;
    let path = format!("/v1/invoices/{}/html", i["id"].as_str().unwrap());
    for c in [a, &own] {
        let r = c.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'"));
        assert!(r.body.starts_with("<!DOCTYPE html>"), "{}", r.body);
        assert!(!r.body.contains("<script>"), "{}", r.body);
        assert!(
            r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{}",
            r.body
        );
        let number = i["number"].as_str().unwrap();
        for needle in [
            number,
            "100.00 EUR",
            "20.00 EUR",
            "120.00 EUR",
            "20.00 %",
            "base",
            "Acme &amp; &lt;Sons&gt;<br>Main St 1<br>10115 Berlin<br>Tax number: DE123456789",
        ] {
            assert!(r.body.contains(needle), "{needle}: {}", r.body);
        }
    }
    // Another customer sees neither the invoice nor its document; lists show their own.
    let (other, _) = customer(&api, "inv-doc-other").await;
    let json_path = format!("/v1/invoices/{}", i["id"].as_str().unwrap());
    is(
        &other.get(&path).await,
        404,
        "not_found",
        "another's document",
    );
    is(
        &other.get(&json_path).await,
        404,
        "not_found",
        "another's invoice",
    );
    let mine = own.get("/v1/invoices").await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.json()["items"].as_array().unwrap().len(), 1);
    let theirs = other.get("/v1/invoices").await.json();
    assert!(theirs["items"].as_array().unwrap().is_empty());
    assert_eq!(own.get(&json_path).await.status, 200);
    // Customers neither issue nor void; drivers do not read.
    let r = own
        .post(&format!("/v1/rentals/{id}/invoice"), json!({}))
        .await;
    is(&r, 403, "forbidden", "a customer issuing");
    let r = own.post(&format!("{json_path}/void"), json!({})).await;
    is(&r, 403, "forbidden", "a customer voiding");
    let (driver, _) = a.user("inv-driver", "driver").await;
    is(
        &driver.get("/v1/invoices").await,
        403,
        "forbidden",
        "a driver listing",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_naming_the_field() {
    let api = Api::start().await;
    let a = &api.admin;
    each_invalid(
        a,
        "POST",
        "/v1/pricing-plans",
        taxed_plan(5_000, 2_000),
        &[
            ("tax_bp", json!(-1)),
            ("tax_bp", json!(10_001)),
            ("tax_bp", json!(1_i64 << 40)),
            ("tax_bp", json!("2000")),
            ("tax_bp", json!(20.5)),
            ("tax_bp", json!(null)),
        ],
    )
    .await;
    for bad in [json!(-1), json!(10_001), json!(1_i64 << 40)] {
        let body = super::super::common::errors::with(taxed_plan(5_000, 0), "tax_bp", bad);
        let r = a.post("/v1/pricing-plans", body).await;
        assert!(r.body.contains("tax_bp"), "{}", r.body);
    }
    // The bounds themselves are fine, and the default is none.
    for bp in [0, 10_000] {
        let r = a.post("/v1/pricing-plans", taxed_plan(1, bp)).await;
        assert_eq!((r.status, r.json()["tax_bp"].as_i64()), (201, Some(bp)));
    }
    let r = a
        .post("/v1/pricing-plans", crate::common::api::standard_plan())
        .await;
    assert_eq!(r.json()["tax_bp"], 0);
    // Lists: pagination, filters, unknown parameters.
    list_errors(a, "/v1/invoices", false).await;
    for q in [
        "status=paidish",
        "year=0",
        "year=10000",
        "year=x",
        "rental_id=nope",
        "customer_id=1",
    ] {
        let r = a.get(&format!("/v1/invoices?{q}")).await;
        is(&r, 422, "invalid_value", q);
    }
    let r = a.get("/v1/invoices?cursor=azE6enp6").await; // "k1:zzz": not a number
    is(&r, 422, "invalid_value", "a cursor that is not a number");
    unknown_ids(a, "GET", "/v1/invoices", "", None).await;
    unknown_ids(a, "GET", "/v1/invoices", "/html", None).await;
    unknown_ids(a, "POST", "/v1/invoices", "/void", Some(json!({}))).await;
    unknown_ids(a, "POST", "/v1/rentals", "/invoice", Some(json!({}))).await;
    // Pages chain in number order.
    let p = new_plan(&api, taxed_plan(5_000, 0)).await;
    let mut numbers = Vec::new();
    for n in 0..3 {
        let (id, _) = rental(&api, &p, &format!("inv-page-{n}"), 10 + n).await;
        numbers.push(
            invoice(a, &id).await["number"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let one = a.get("/v1/invoices?limit=2").await.json();
    let cursor = one["next_cursor"].as_str().unwrap();
    let two = a
        .get(&format!("/v1/invoices?limit=2&cursor={cursor}"))
        .await
        .json();
    let got: Vec<String> = one["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(two["items"].as_array().unwrap())
        .map(|i| i["number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, numbers);
    assert!(two["next_cursor"].is_null());
    let year = &numbers[0][..4];
    let r = a
        .get(&format!("/v1/invoices?year={year}&limit=200"))
        .await
        .json();
    assert_eq!(r["items"].as_array().unwrap().len(), 3);
}
