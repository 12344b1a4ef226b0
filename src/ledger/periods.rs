//! Closed periods (migrations/0030_ledger_periods.sql): the ledger closes by UTC month, and
//! closing a month closes every month before it. PostgreSQL refuses an entry or a line
//! posted into a closed month (constraint `ledger_period_closed`); a close waits for the
//! postings in flight (an advisory lock they share and it takes exclusively), so no entry
//! commits into a month after its close committed. Closed periods are never reopened.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// The lock every posting shares and a close takes exclusively (`ledger_periods_lock()`).
const LOCK: &str = "SELECT pg_advisory_xact_lock(ledger_periods_lock())";
/// The close covering month `$1` (the first at or after it), if any.
const COVERING: &str = "SELECT month, closed_at, closed_by FROM ledger_periods
                         WHERE month >= $1 ORDER BY month LIMIT 1";
const CLOSE: &str = "INSERT INTO ledger_periods (month, closed_by) VALUES ($1, $2)
                     RETURNING month, closed_at, closed_by";
/// Whether month `$1` has ended, by the database's clock (the one `posted_at` is read from).
const ENDED: &str = "SELECT now() >= ($1::date + interval '1 month')";
const THROUGH: &str = "SELECT max(month) FROM ledger_periods";
const CLOSES: &str = "SELECT month, closed_at, closed_by FROM ledger_periods ORDER BY month";

/// Why a close failed.
#[derive(Debug, thiserror::Error)]
pub enum PeriodError {
    /// The database refused or the connection broke.
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    /// The month has not ended yet (by the database's clock).
    #[error("{} has not ended yet", month_text(*.0))]
    NotEnded(NaiveDate),
}

/// One close: the month named, when, and by whom (null when closed from SQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub month: NaiveDate,
    pub closed_at: DateTime<Utc>,
    pub closed_by: Option<Uuid>,
}

impl Close {
    fn from_row(r: &tokio_postgres::Row) -> Close {
        Close {
            month: r.get(0),
            closed_at: r.get(1),
            closed_by: r.get(2),
        }
    }
}

/// What [`close`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The month is closed now, by this close.
    Now(Close),
    /// It was closed already, by this close (of it or of a later month).
    Already(Close),
}

/// `2026-11`.
pub fn month_text(month: NaiveDate) -> String {
    format!("{:04}-{:02}", month.year(), month.month())
}

/// The first day of the UTC month of `at`.
pub fn month_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
        .with_day(1)
        .expect("every month has a first day")
}

/// Closes `month` (its first day) and every month before it, in the caller's transaction.
/// Closing a closed month changes nothing ([`Closed::Already`]). Outside a transaction the
/// lock would be released before the row is written.
pub async fn close(
    c: &impl GenericClient,
    month: NaiveDate,
    by: Option<Uuid>,
) -> Result<Closed, PeriodError> {
    // Taken first, so that the check and the insert see every posting committed.
    c.execute(LOCK, &[]).await?;
    if let Some(r) = c.query_opt(COVERING, &[&month]).await? {
        return Ok(Closed::Already(Close::from_row(&r)));
    }
    if !c.query_one(ENDED, &[&month]).await?.get::<_, bool>(0) {
        return Err(PeriodError::NotEnded(month));
    }
    let r = c.query_one(CLOSE, &[&month, &by]).await?;
    Ok(Closed::Now(Close::from_row(&r)))
}

/// The latest closed month: every month up to it is closed.
pub async fn closed_through(c: &impl GenericClient) -> Result<Option<NaiveDate>, PeriodError> {
    Ok(c.query_one(THROUGH, &[]).await?.get(0))
}

/// Every close, oldest first.
pub async fn closes(c: &impl GenericClient) -> Result<Vec<Close>, PeriodError> {
    Ok(c.query(CLOSES, &[])
        .await?
        .iter()
        .map(Close::from_row)
        .collect())
}

/// Whether everything posted before `until` lies in closed months: a report reading only
/// such entries reads the same forever.
pub fn is_closed(through: Option<NaiveDate>, until: DateTime<Utc>) -> bool {
    let last = month_of(until - chrono::Duration::microseconds(1));
    through.is_some_and(|t| last <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_is_closed_when_its_last_instant_is() {
        let nov = Some(day("2026-11-01"));
        assert!(is_closed(nov, at("2026-12-01T00:00:00Z")));
        assert!(is_closed(nov, at("2026-11-15T00:00:00Z")));
        assert!(!is_closed(nov, at("2026-12-01T00:00:00.000001Z")));
        assert!(!is_closed(None, at("2000-01-01T00:00:00Z")));
        assert_eq!(month_of(at("2026-11-30T23:59:59Z")), day("2026-11-01"));
        assert_eq!(month_text(day("0999-02-01")), "0999-02");
    }
}
