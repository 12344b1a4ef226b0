//! What PostgreSQL itself refuses in the ledger, posting once per business event, reversals,
//! and the backfill of a database that had charges, payments and maintenance before the
//! ledger existed.

use fleetd::ledger::{self, Posted, Posting};
use tokio_postgres::Client;

use super::{balance, count, UNBALANCED};
use crate::common::TestDb;

async fn migrated() -> (TestDb, Client) {
    let db = TestDb::create().await;
    let mut client = db.client().await;
    fleetd::migrate::migrate(&mut client).await.unwrap();
    (db, client)
}

/// `sql` in its own transaction: the error of the statement or of the commit (where the
/// deferred balance check runs), as `(constraint, message)`.
async fn refused(c: &mut Client, sql: &str) -> (String, String) {
    let tx = c.transaction().await.unwrap();
    let result = match tx.batch_execute(sql).await {
        Ok(()) => tx.commit().await,
        Err(e) => Err(e),
    };
    let e = result.expect_err(sql);
    let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
    (
        db.constraint().unwrap_or_default().to_string(),
        db.message().to_string(),
    )
}

fn posting(key: &str, currency: &str, lines: &[(&str, i64)]) -> Posting {
    Posting {
        key: key.into(),
        currency: currency.into(),
        memo: "test".into(),
        rental_id: None,
        lines: lines.iter().map(|(a, m)| (a.to_string(), *m)).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_what_is_not_double_entry() {
    let (_db, mut c) = migrated().await;
    c.batch_execute(
        "INSERT INTO ledger_accounts (code) VALUES ('cash'), ('bank'), ('revenue:base')",
    )
    .await
    .unwrap();
    // Unbalanced: refused at commit by the deferred trigger.
    let (constraint, message) = refused(
        &mut c,
        "WITH e AS (INSERT INTO journal_entries (event_key, currency) VALUES ('t.unbalanced:1', 'EUR') RETURNING id)
         INSERT INTO journal_lines (entry_id, account, amount, currency)
         SELECT id, a, m, 'EUR' FROM e, (VALUES ('cash', 100), ('revenue:base', -99)) v(a, m)",
    )
    .await;
    assert_eq!(constraint, "journal_entry_balanced", "{message}");
    assert!(message.contains("does not balance"), "{message}");
    // One line, or none: refused.
    let (constraint, _) = refused(
        &mut c,
        "WITH e AS (INSERT INTO journal_entries (event_key, currency) VALUES ('t.single:1', 'EUR') RETURNING id)
         INSERT INTO journal_lines (entry_id, account, amount, currency) SELECT id, 'cash', 0 + 1, 'EUR' FROM e",
    )
    .await;
    assert_eq!(constraint, "journal_entry_balanced");
    let (constraint, _) = refused(
        &mut c,
        "INSERT INTO journal_entries (event_key, currency) VALUES ('t.empty:1', 'EUR')",
    )
    .await;
    assert_eq!(constraint, "journal_entry_balanced");
    // A zero line is not a line.
    let (constraint, _) = refused(
        &mut c,
        "WITH e AS (INSERT INTO journal_entries (event_key, currency) VALUES ('t.zero:1', 'EUR') RETURNING id)
         INSERT INTO journal_lines (entry_id, account, amount, currency)
         SELECT id, a, m, 'EUR' FROM e, (VALUES ('cash', 0), ('bank', 0)) v(a, m)",
    )
    .await;
    assert_eq!(constraint, "journal_lines_amount_check");
    // Mixed currencies: a line in another currency than its entry, even if the sums match.
    let (constraint, _) = refused(
        &mut c,
        "WITH e AS (INSERT INTO journal_entries (event_key, currency) VALUES ('t.mixed:1', 'EUR') RETURNING id)
         INSERT INTO journal_lines (entry_id, account, amount, currency)
         SELECT id, a, m, cur FROM e, (VALUES ('cash', 100, 'EUR'), ('revenue:base', -100, 'USD')) v(a, m, cur)",
    )
    .await;
    assert_eq!(constraint, "journal_lines_entry_currency");
    // A malformed currency, an unknown kind of account.
    let (constraint, _) = refused(
        &mut c,
        "INSERT INTO journal_entries (event_key, currency) VALUES ('t.cur:1', 'eur')",
    )
    .await;
    assert_eq!(constraint, "journal_entries_currency_check");
    let (_, message) = refused(
        &mut c,
        "INSERT INTO ledger_accounts (code) VALUES ('goodwill')",
    )
    .await;
    assert!(message.contains("null value"), "{message}");
    assert_eq!(count(&c, "SELECT count(*) FROM journal_entries").await, 0);

    // A balanced entry commits (posting runs in the business event's transaction: the
    // balance is checked at its commit); then nothing in the ledger can change or go.
    let tx = c.transaction().await.unwrap();
    let posted = ledger::post(
        &tx,
        &posting("t.ok:1", "EUR", &[("cash", 100), ("revenue:base", -100)]),
    )
    .await
    .unwrap();
    assert!(matches!(posted, Posted::Entry(_)));
    tx.commit().await.unwrap();
    for sql in [
        "UPDATE journal_lines SET amount = amount * 2",
        "UPDATE journal_entries SET memo = 'edited'",
        "UPDATE ledger_accounts SET created_at = now()",
        "DELETE FROM journal_lines",
        "DELETE FROM journal_entries",
        "DELETE FROM ledger_accounts WHERE code = 'bank'",
        "TRUNCATE journal_lines",
        "TRUNCATE journal_entries CASCADE",
        "TRUNCATE ledger_accounts CASCADE",
    ] {
        let (constraint, message) = refused(&mut c, sql).await;
        assert_eq!(constraint, "ledger_immutable", "{sql}: {message}");
        assert!(message.contains("append-only"), "{sql}: {message}");
    }
    assert_eq!(balance(&c, "cash").await, 100);
    assert_eq!(count(&c, UNBALANCED).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_posts_once_and_a_correction_is_a_reversing_entry() {
    let (_db, mut client) = migrated().await;
    let c = client.transaction().await.unwrap();
    let p = posting(
        "t.sale:1",
        "EUR",
        &[
            ("receivable:customer:x", 700),
            ("revenue:new_kind", -500),
            ("revenue:base", -200),
        ],
    );
    let Posted::Entry(id) = ledger::post(&c, &p).await.unwrap() else {
        panic!("first posting")
    };
    // The same business event again, even with other lines: nothing posted.
    assert_eq!(ledger::post(&c, &p).await.unwrap(), Posted::Already);
    let other = posting("t.sale:1", "EUR", &[("cash", 1), ("bank", -1)]);
    assert_eq!(ledger::post(&c, &other).await.unwrap(), Posted::Already);
    // Lines that net to nothing post nothing; an unbalanced posting never reaches SQL.
    let nothing = posting("t.nothing:1", "EUR", &[("cash", 5), ("cash", -5)]);
    assert_eq!(ledger::post(&c, &nothing).await.unwrap(), Posted::Nothing);
    let bad = posting("t.bad:1", "EUR", &[("cash", 5), ("bank", -4)]);
    assert!(matches!(
        ledger::post(&c, &bad).await,
        Err(ledger::LedgerError::Unbalanced(_))
    ));
    assert_eq!(count(&c, "SELECT count(*) FROM journal_entries").await, 1);
    // A new kind of charge has its own revenue account, created on first use.
    let kind: String = c
        .query_one(
            "SELECT type FROM ledger_accounts WHERE code = 'revenue:new_kind'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kind, "revenue");

    let reversed = ledger::reverse(&c, id, "t.sale_corrected:1", "wrong price")
        .await
        .unwrap();
    let Posted::Entry(rid) = reversed else {
        panic!("reversal")
    };
    for account in ["receivable:customer:x", "revenue:new_kind", "revenue:base"] {
        assert_eq!(balance(&c, account).await, 0, "{account}");
    }
    let r: Option<i64> = c
        .query_one(
            "SELECT reverses FROM journal_entries WHERE id = $1",
            &[&rid],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(r, Some(id));
    c.commit().await.unwrap();
    assert_eq!(count(&client, UNBALANCED).await, 0);
    // An entry is reversed once.
    let c = client.transaction().await.unwrap();
    let again = ledger::reverse(&c, id, "t.sale_corrected:2", "again").await;
    let Err(ledger::LedgerError::Database(e)) = again else {
        panic!("{again:?}")
    };
    assert_eq!(
        e.as_db_error().unwrap().constraint(),
        Some("journal_entries_reverses_key")
    );
}

/// A database with history from before the ledger: migrated to 0025, given a customer's
/// rentals with charges (a credit too), payments and a completed maintenance job, then
/// migrated to 0026: the ledger equals that history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_database_gets_a_ledger_equal_to_its_history() {
    let db = TestDb::create().await;
    let mut c = db.client().await;
    for m in fleetd::migrate::MIGRATIONS
        .iter()
        .filter(|m| m.version < 26)
    {
        let tx = c.transaction().await.unwrap();
        tx.batch_execute(m.sql).await.unwrap();
        tx.commit().await.unwrap();
    }
    c.batch_execute(
        "INSERT INTO vehicles (id, plate, vin, make, model, year, type, seats, load_kg)
              VALUES ('v-1', 'P-1', '1M8GDM9AXKP042788', 'm', 'm', 2020, 'car', 4, 0);
         INSERT INTO customers (id, name, email)
              VALUES ('00000000-0000-4000-8000-0000000000c1', 'c', 'c@example.com');
         INSERT INTO pricing_plans (id, name, currency, daily_rate, included_km_per_day,
                                    extra_km_rate, late_fee_per_hour, free_cancellation_hours,
                                    cancellation_fee_pct)
              VALUES ('00000000-0000-4000-8000-0000000000a1', 'p', 'EUR', 5000, 100, 30, 1000, 48, 20);",
    )
    .await
    .unwrap();
    c.batch_execute(
        "INSERT INTO rentals (id, vehicle_id, customer_id, plan_id, starts_at, ends_at, estimated_km, currency, status)
              VALUES ('00000000-0000-4000-8000-0000000000b1', 'v-1', '00000000-0000-4000-8000-0000000000c1',
                      '00000000-0000-4000-8000-0000000000a1', now(), now() + interval '2 days', 0, 'EUR', 'completed'),
                     ('00000000-0000-4000-8000-0000000000b2', 'v-1', '00000000-0000-4000-8000-0000000000c1',
                      '00000000-0000-4000-8000-0000000000a1', now(), now() + interval '1 day', 0, 'EUR', 'cancelled'),
                     ('00000000-0000-4000-8000-0000000000b3', 'v-1', '00000000-0000-4000-8000-0000000000c1',
                      '00000000-0000-4000-8000-0000000000a1', now(), now() + interval '1 day', 0, 'EUR', 'cancelled');
         INSERT INTO rental_charges (rental_id, kind, quantity, unit_amount, amount, currency) VALUES
             ('00000000-0000-4000-8000-0000000000b1', 'base', 2, 5000, 10000, 'EUR'),
             ('00000000-0000-4000-8000-0000000000b1', 'extra_km', 50, 30, 1500, 'EUR'),
             ('00000000-0000-4000-8000-0000000000b1', 'extra_km', -20, 30, -600, 'EUR'),
             ('00000000-0000-4000-8000-0000000000b2', 'base', 1, 5000, 5000, 'EUR'),
             ('00000000-0000-4000-8000-0000000000b2', 'cancellation_reversal', 1, -5000, -5000, 'EUR'),
             ('00000000-0000-4000-8000-0000000000b2', 'cancellation_fee', 1, 1000, 1000, 'EUR'),
             ('00000000-0000-4000-8000-0000000000b3', 'base', 1, 0, 0, 'EUR');
         INSERT INTO rental_payments (id, rental_id, amount, currency, method) VALUES
             ('00000000-0000-4000-8000-0000000000d1', '00000000-0000-4000-8000-0000000000b1', 8000, 'EUR', 'card'),
             ('00000000-0000-4000-8000-0000000000d2', '00000000-0000-4000-8000-0000000000b1', 2000, 'EUR', 'cash'),
             ('00000000-0000-4000-8000-0000000000d3', '00000000-0000-4000-8000-0000000000b2', 1000, 'EUR', 'transfer');
         INSERT INTO maintenance_jobs (id, vehicle_id, description, starts_at, ends_at, status,
                                       completed_at, labour_cost, currency)
              VALUES ('00000000-0000-4000-8000-0000000000e1', 'v-1', 'brakes', now(), now() + interval '1 hour',
                      'completed', now(), 12000, 'EUR'),
                     ('00000000-0000-4000-8000-0000000000e2', 'v-1', 'free check', now(), now() + interval '1 hour',
                      'completed', now(), 0, 'EUR');
         INSERT INTO maintenance_parts (job_id, part_name, quantity, unit_cost)
              VALUES ('00000000-0000-4000-8000-0000000000e1', 'pad', 4, 2500);",
    )
    .await
    .unwrap();
    let ledger = fleetd::migrate::MIGRATIONS
        .iter()
        .find(|m| m.version == 26)
        .unwrap();
    let tx = c.transaction().await.unwrap();
    tx.batch_execute(ledger.sql).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(count(&c, UNBALANCED).await, 0);
    let customer = "receivable:customer:00000000-0000-4000-8000-0000000000c1";
    // Charged 10,900 + 1,000; paid 10,000 + 1,000.
    assert_eq!(balance(&c, customer).await, 900);
    assert_eq!(balance(&c, "revenue:base").await, -15_000);
    assert_eq!(balance(&c, "revenue:extra_km").await, -900);
    assert_eq!(balance(&c, "revenue:cancellation_reversal").await, 5_000);
    assert_eq!(balance(&c, "revenue:cancellation_fee").await, -1_000);
    assert_eq!(balance(&c, "bank").await, 9_000);
    assert_eq!(balance(&c, "cash").await, 2_000);
    assert_eq!(balance(&c, "expense:maintenance:labour:v-1").await, 12_000);
    assert_eq!(balance(&c, "expense:maintenance:parts:v-1").await, 10_000);
    assert_eq!(balance(&c, "payable:maintenance").await, -22_000);
    // A rental charged nothing and a free job post nothing; every payment is captured.
    assert_eq!(count(&c, "SELECT count(*) FROM journal_entries").await, 6);
    assert_eq!(
        count(&c, "SELECT count(*) FROM rental_payments WHERE status = 'captured' AND captured_at = created_at").await,
        3
    );
    // Each rental's receivable is its balance.
    for (rental, expected) in [
        ("00000000-0000-4000-8000-0000000000b1", 900),
        ("00000000-0000-4000-8000-0000000000b2", 0),
    ] {
        let id: uuid::Uuid = rental.parse().unwrap();
        let r: i64 = c.query_one(super::RECEIVABLE, &[&id]).await.unwrap().get(0);
        assert_eq!(r, expected, "{rental}");
    }
    // The daemon's own keys: replaying a backfilled payment posts nothing.
    let m = fleetd::ledger::rentals::Movement {
        id: "00000000-0000-4000-8000-0000000000d1".parse().unwrap(),
        rental: "00000000-0000-4000-8000-0000000000b1".parse().unwrap(),
        customer: "00000000-0000-4000-8000-0000000000c1".parse().unwrap(),
        currency: "EUR",
        method: "card",
        amount: 8000,
    };
    assert_eq!(
        fleetd::ledger::rentals::payment_captured(&c, &m)
            .await
            .unwrap(),
        Posted::Already
    );
}
