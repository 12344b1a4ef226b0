//! The financial reports and closed periods (docs/financial-reports.md) on a real PostgreSQL:
//! - [`periods`]: closing months through the API and what PostgreSQL refuses afterwards;
//!   postings racing a close; reports over closed months that read the same forever.
//! - [`reverse`]: `POST /v1/ledger/entries/{id}/reverse`.
//! - [`reports`]: the revenue, vehicle-costs and receivables reports on hand-computed books
//!   and hostile parameters.
//! - [`property`]: the revenue report equals the rentals' charges over random operations.

mod periods;
mod property;
mod reports;
mod reverse;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Posts a balanced entry at `at` (as SQL can; the daemon always posts at `now()`), in a
/// transaction of its own; the database's error if it refuses.
pub async fn post_at(
    db: &mut tokio_postgres::Client,
    key: &str,
    at: DateTime<Utc>,
    rental: Option<Uuid>,
    lines: &[(&str, i64)],
) -> Result<i64, tokio_postgres::Error> {
    post_in(db, key, "EUR", at, rental, lines).await
}

/// [`post_at`] in `currency`.
pub async fn post_in(
    db: &mut tokio_postgres::Client,
    key: &str,
    currency: &str,
    at: DateTime<Utc>,
    rental: Option<Uuid>,
    lines: &[(&str, i64)],
) -> Result<i64, tokio_postgres::Error> {
    let tx = db.transaction().await?;
    let id = insert_in(&tx, key, currency, at, rental, lines).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`post_at`] in the caller's transaction.
pub async fn insert_at(
    c: &impl GenericClient,
    key: &str,
    at: DateTime<Utc>,
    rental: Option<Uuid>,
    lines: &[(&str, i64)],
) -> Result<i64, tokio_postgres::Error> {
    insert_in(c, key, "EUR", at, rental, lines).await
}

async fn insert_in(
    c: &impl GenericClient,
    key: &str,
    currency: &str,
    at: DateTime<Utc>,
    rental: Option<Uuid>,
    lines: &[(&str, i64)],
) -> Result<i64, tokio_postgres::Error> {
    let accounts: Vec<&str> = lines.iter().map(|l| l.0).collect();
    let amounts: Vec<i64> = lines.iter().map(|l| l.1).collect();
    c.execute(
        "INSERT INTO ledger_accounts (code) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        &[&accounts],
    )
    .await?;
    let id: i64 = c
        .query_one(
            "INSERT INTO journal_entries (event_key, currency, posted_at, rental_id)
             VALUES ($1, $2, $3, $4) RETURNING id",
            &[&key, &currency, &at, &rental],
        )
        .await?
        .get(0);
    c.execute(
        "INSERT INTO journal_lines (entry_id, account, amount, currency)
         SELECT $1, a, m, $4 FROM unnest($2::text[], $3::bigint[]) u(a, m)",
        &[&id, &accounts, &amounts, &currency],
    )
    .await?;
    Ok(id)
}

/// The constraint a database error names.
pub fn constraint(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .and_then(|d| d.constraint())
        .unwrap_or_default()
        .to_string()
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The first day of the month `back` months before the current UTC month, as `YYYY-MM` and
/// as its first instant.
pub fn month_back(back: u32) -> (String, DateTime<Utc>) {
    let first = fleetd::ledger::periods::month_of(Utc::now()) - chrono::Months::new(back);
    (
        fleetd::ledger::periods::month_text(first),
        first.and_hms_opt(0, 0, 0).unwrap().and_utc(),
    )
}
