//! Closing months: the routes, what PostgreSQL refuses afterwards, postings racing a close,
//! and reports over closed months that read the same forever.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{constraint, insert_at, month_back, post_at};
use crate::common::api::{customer, Api};
use crate::common::errors::expect_status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_month_refuses_every_posting_into_it_and_before_it() {
    let api = Api::start().await;
    let a = &api.admin;
    let mut db = api.db.client().await;
    let (this, this_at) = month_back(0);
    let (m1, m1_at) = month_back(1);
    let (m2, m2_at) = month_back(2);
    let day = chrono::Duration::days(3);
    let old = post_at(
        &mut db,
        "t.old:1",
        m1_at + day,
        None,
        &[("cash", 5), ("revenue:base", -5)],
    )
    .await
    .unwrap();
    post_at(
        &mut db,
        "t.old:2",
        m2_at + day,
        None,
        &[("cash", 7), ("revenue:base", -7)],
    )
    .await
    .unwrap();

    // Who, which months.
    let (alice, _) = customer(&api, "alice").await;
    let (dispatcher, _) = a.user("dora", "dispatcher").await;
    expect_status!(alice, "POST" format!("/v1/ledger/periods/{m1}/close"), json!({}) => 403 "forbidden");
    expect_status!(dispatcher, "POST" format!("/v1/ledger/periods/{m1}/close"), json!({}) => 403 "forbidden");
    expect_status!(alice, GET "/v1/ledger/periods" => 403 "forbidden");
    expect_status!(a, "POST" format!("/v1/ledger/periods/{this}/close"), json!({}) => 409 "period_not_ended");
    expect_status!(a, "POST" "/v1/ledger/periods/2999-01/close", json!({}) => 409 "period_not_ended");
    let long = "9".repeat(5000);
    for bad in [
        "2026-13",
        "0000-01",
        "1969-12",
        "2026-1",
        "2026-11-01",
        "abcd-ef",
        "%00",
        &long,
    ] {
        let r = a
            .post(&format!("/v1/ledger/periods/{bad}/close"), json!({}))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "invalid_value".into()),
            "{bad}: {}",
            r.body
        );
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("month:"),
            "{}",
            r.body
        );
    }
    let r = dispatcher.get("/v1/ledger/periods").await;
    assert_eq!(r.json(), json!({"closed_through": null, "closes": []}));

    // Closing m1 closes m2 too; again, nothing changes.
    let r = a
        .post(&format!("/v1/ledger/periods/{m1}/close"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = r.json();
    assert_eq!(
        (first["month"].as_str(), first["closed_now"].as_bool()),
        (Some(m1.as_str()), Some(true))
    );
    assert!(first["closed_by"].is_string(), "{first}");
    let again = a
        .post(&format!("/v1/ledger/periods/{m1}/close"), json!({}))
        .await
        .json();
    assert_eq!(again["closed_now"], false);
    assert_eq!(again["closed_at"], first["closed_at"]);
    let before = a
        .post(&format!("/v1/ledger/periods/{m2}/close"), json!({}))
        .await
        .json();
    assert_eq!(
        (
            before["closed_with"].as_str(),
            before["closed_now"].as_bool()
        ),
        (Some(m1.as_str()), Some(false))
    );
    let list = a.get("/v1/ledger/periods").await.json();
    assert_eq!(list["closed_through"], m1.as_str());
    assert_eq!(list["closes"].as_array().unwrap().len(), 1);

    // Nothing goes into m1 or before; the open month takes entries.
    for (key, at) in [
        ("t.late:1", m1_at + day),
        ("t.late:2", m2_at),
        ("t.late:3", m2_at - chrono::Duration::days(400)),
    ] {
        let e = post_at(&mut db, key, at, None, &[("cash", 1), ("revenue:base", -1)])
            .await
            .unwrap_err();
        assert_eq!(constraint(&e), "ledger_period_closed", "{key}: {e}");
    }
    post_at(
        &mut db,
        "t.now:1",
        this_at + chrono::Duration::seconds(1),
        None,
        &[("cash", 1), ("revenue:base", -1)],
    )
    .await
    .unwrap();
    // Nor a line added to an entry of a closed month, balanced as it may be.
    let e = db
        .batch_execute(&format!(
            "BEGIN; INSERT INTO journal_lines (entry_id, account, amount, currency)
             VALUES ({old}, 'cash', 3, 'EUR'), ({old}, 'revenue:base', -3, 'EUR'); COMMIT"
        ))
        .await
        .unwrap_err();
    assert_eq!(constraint(&e), "ledger_period_closed", "{e}");
    db.batch_execute("ROLLBACK").await.unwrap();
    // Closed stays closed; a month closes only once it has ended, from SQL as well.
    for sql in [
        "UPDATE ledger_periods SET closed_at = now()".to_string(),
        "DELETE FROM ledger_periods".to_string(),
        "TRUNCATE ledger_periods".to_string(),
    ] {
        let e = db.batch_execute(&sql).await.unwrap_err();
        assert_eq!(constraint(&e), "ledger_immutable", "{sql}: {e}");
    }
    let e = db
        .batch_execute(&format!(
            "INSERT INTO ledger_periods (month) VALUES ('{this}-01')"
        ))
        .await
        .unwrap_err();
    assert_eq!(constraint(&e), "ledger_period_ended", "{e}");
    // A snapshot older than the transaction's postings could miss a close: refused.
    let e = db
        .batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ;
             INSERT INTO journal_entries (event_key, currency) VALUES ('t.rr:1', 'EUR')",
        )
        .await
        .unwrap_err();
    assert_eq!(constraint(&e), "ledger_read_committed", "{e}");
    db.batch_execute("ROLLBACK").await.unwrap();
    api.daemon.shutdown().await;
}

/// Posters keep posting into last month, each transaction holding its entry a moment before
/// committing, while the month is closed. The entries in the month right after the close
/// committed are all it will ever have: every posting either committed before the close or
/// was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postings_racing_a_close_commit_before_it_or_not_at_all() {
    let api = Api::start().await;
    let (m1, m1_at) = month_back(1);
    let closed = Arc::new(AtomicBool::new(false));
    let mut posters = Vec::new();
    for p in 0..6 {
        let (url, closed) = (api.db.url.clone(), closed.clone());
        posters.push(tokio::spawn(async move {
            let (mut db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let (mut ok, mut refused, mut after_close) = (0, 0, 0);
            for n in 0i32.. {
                let done = closed.load(Ordering::SeqCst);
                let tx = db.transaction().await.unwrap();
                let at = m1_at + chrono::Duration::hours(p * 24 + 1);
                let key = format!("t.race:{p}-{n}");
                let result = match insert_at(
                    &tx,
                    &key,
                    at,
                    None,
                    &[("cash", 1), ("revenue:base", -1)],
                )
                .await
                {
                    Ok(_) => {
                        tx.execute("SELECT pg_sleep(0.01 * $1::int)", &[&(n % 4)])
                            .await
                            .unwrap();
                        tx.commit().await
                    }
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        assert_eq!(constraint(&e), "ledger_period_closed", "{e}");
                        refused += 1;
                    }
                }
                if done {
                    after_close += 1;
                    if after_close == 3 {
                        break;
                    }
                }
            }
            (ok, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = api
        .admin
        .post(&format!("/v1/ledger/periods/{m1}/close"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    closed.store(true, Ordering::SeqCst);
    let db = api.db.client().await;
    let count = "SELECT count(*) FROM journal_entries WHERE event_key LIKE 't.race:%'";
    let at_close: i64 = db.query_one(count, &[]).await.unwrap().get(0);
    let (mut ok, mut refused) = (0, 0);
    for p in posters {
        let (o, r) = p.await.unwrap();
        ok += o;
        refused += r;
    }
    let at_end: i64 = db.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(
        at_end, at_close,
        "entries committed into {m1} after its close"
    );
    assert_eq!(ok, at_end);
    assert!(
        ok > 6 && refused >= 6 * 3,
        "{ok} committed, {refused} refused"
    );
    api.daemon.shutdown().await;
}
