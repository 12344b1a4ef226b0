//! `GET /v1/ledger/entries` and `GET /v1/ledger/accounts`: staff only, paginated, filtered,
//! and in agreement with the rentals they come from.

use serde_json::{json, Value};

use crate::common::api::{alice_reserves, Api, Client};
use crate::common::errors::{expect_status, list_errors};

/// Every item of a list, following `next_cursor` with pages of `limit`.
async fn all(c: &Client, path: &str, limit: u32) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut next = format!("{path}{sep}limit={limit}");
    loop {
        let r = c.get(&next).await;
        assert_eq!(r.status, 200, "{next}: {}", r.body);
        let page = r.json();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}{sep}limit={limit}&cursor={cursor}"),
            None => return items,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_and_the_accounts_read_as_posted() {
    let api = Api::start().await;
    let a = &api.admin;
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (alice, cust, id) = alice_reserves(&api).await;
    let pay = json!({"amount": 4_000, "currency": "EUR", "method": "card"});
    let r = a.post(&format!("/v1/rentals/{id}/payments"), pay).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let payment = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .post(
            &format!("/v1/rentals/{id}/payments/{payment}/refunds"),
            json!({"amount": 500}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // The journal, one entry per page: reserve, capture, refund, each balanced.
    let entries = all(a, "/v1/ledger/entries", 1).await;
    let keys: Vec<&str> = entries
        .iter()
        .map(|e| e["event_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            format!("rental.reserved:{id}"),
            format!("payment.captured:{payment}"),
            format!("refund.issued:{}", r.json()["id"].as_str().unwrap()),
        ]
    );
    for e in &entries {
        let lines = e["lines"].as_array().unwrap();
        assert!(lines.len() >= 2, "{e}");
        assert_eq!(
            lines
                .iter()
                .map(|l| l["amount"].as_i64().unwrap())
                .sum::<i64>(),
            0,
            "{e}"
        );
        assert_eq!(
            (e["currency"].as_str(), e["rental_id"].as_str()),
            (Some("EUR"), Some(id.as_str()))
        );
    }
    // Filters: by account, and by posting time.
    assert_eq!(all(a, "/v1/ledger/entries?account=bank", 50).await.len(), 2);
    assert_eq!(
        all(a, "/v1/ledger/entries?account=revenue:base", 50)
            .await
            .len(),
        1
    );
    assert_eq!(all(a, "/v1/ledger/entries?account=nope", 50).await.len(), 0);
    let from = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to =
        (started + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        all(a, &format!("/v1/ledger/entries?from={from}&to={to}"), 50)
            .await
            .len(),
        3
    );
    assert_eq!(
        all(a, &format!("/v1/ledger/entries?to={from}"), 50)
            .await
            .len(),
        0
    );

    // Accounts with their balances; the receivable is the rental's balance.
    let accounts = all(a, "/v1/ledger/accounts", 2).await;
    let find = |code: &str| {
        accounts
            .iter()
            .find(|x| x["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {accounts:?}"))
            .clone()
    };
    let owed = find(&format!("receivable:customer:{cust}"));
    assert_eq!(owed["type"], "asset");
    assert_eq!(
        owed["balances"],
        json!([{"currency": "EUR", "balance": 6_500, "debits": 10_500, "credits": 4_000}])
    );
    let rental = a.get(&format!("/v1/rentals/{id}")).await.json();
    assert_eq!(rental["balance"], 6_500);
    assert_eq!(find("revenue:base")["balances"][0]["balance"], -10_000);
    assert_eq!(find("bank")["balances"][0]["balance"], 3_500);
    let revenue = all(a, "/v1/ledger/accounts?prefix=revenue:", 50).await;
    assert_eq!(revenue.len(), 1);

    // Staff only; bad queries are 422.
    expect_status!(alice, GET "/v1/ledger/entries" => 403 "forbidden");
    expect_status!(alice, GET "/v1/ledger/accounts" => 403 "forbidden");
    list_errors(a, "/v1/ledger/entries", false).await;
    list_errors(a, "/v1/ledger/accounts", false).await;
    for bad in ["from=yesterday", "to=1", "account=a%00b", "cursor=azE6enp6"] {
        expect_status!(a, GET format!("/v1/ledger/entries?{bad}") => 422 "invalid_value");
    }
    expect_status!(a, GET "/v1/ledger/accounts?prefix=%00" => 422 "invalid_value");
    api.daemon.shutdown().await;
}
