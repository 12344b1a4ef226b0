//! The double-entry ledger (docs/ledger.md) on a real PostgreSQL:
//! - [`database`]: what the database refuses (unbalanced, single-line and mixed-currency
//!   entries; UPDATE, DELETE, TRUNCATE), posting once per business event, reversals, and the
//!   backfill of a database upgraded with history.
//! - [`payments`]: payment states and refunds through the API, overpayment, hostile amounts
//!   and currencies, 50 concurrent refunds of one payment, maintenance costs.
//! - [`routes`]: `GET /v1/ledger/entries` and `/v1/ledger/accounts`.
//! - [`property`]: random sequences of rental steps, payments and refunds keep every
//!   journal balanced and each rental's balance equal to its receivable.

mod database;
mod payments;
mod property;
mod routes;

use tokio_postgres::GenericClient;

/// Entries that do not balance or have fewer than two lines (none, ever).
pub const UNBALANCED: &str = "SELECT count(*) FROM journal_entries e
      WHERE (SELECT count(*) FROM journal_lines l WHERE l.entry_id = e.id) < 2
         OR (SELECT sum(amount) FROM journal_lines l WHERE l.entry_id = e.id) <> 0";

/// The ledger's receivable of rental `$1`.
pub const RECEIVABLE: &str = "SELECT coalesce(sum(l.amount), 0)::bigint
      FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
     WHERE e.rental_id = $1 AND l.account LIKE 'receivable:%'";

/// The balance of account `account` (debit-positive).
pub async fn balance(db: &impl GenericClient, account: &str) -> i64 {
    db.query_one(
        "SELECT coalesce(sum(amount), 0)::bigint FROM journal_lines WHERE account = $1",
        &[&account],
    )
    .await
    .unwrap()
    .get(0)
}

pub async fn count(db: &impl GenericClient, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// How many journal entries carry `event_key` (one at most: the key posts once).
pub async fn entries_with_key(db: &impl GenericClient, event_key: &str) -> i64 {
    db.query_one(
        "SELECT count(*) FROM journal_entries WHERE event_key = $1",
        &[&event_key],
    )
    .await
    .unwrap()
    .get(0)
}
