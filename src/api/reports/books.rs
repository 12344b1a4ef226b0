//! What the financial reports ([`super::revenue`], [`super::vehicle_costs`],
//! [`super::receivables`]) share: their time parameters' rules, and whether what they read
//! lies in closed periods of the ledger (docs/financial-reports.md).

use chrono::{DateTime, Utc};

use crate::api::error::ApiError;
use crate::ledger::periods;

/// The longest window a financial report reads, as the fleet report.
pub const MAX_DAYS: i64 = super::fleet::MAX_DAYS;

/// An instant from 1970 to the end of 9999 (what PostgreSQL and every client can represent).
pub fn instant(field: &str, t: DateTime<Utc>) -> Result<(), ApiError> {
    let first = DateTime::<Utc>::UNIX_EPOCH;
    let last = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid instant")
        .and_utc();
    if t < first || t >= last {
        return Err(ApiError::invalid(
            field,
            "must be from 1970-01-01T00:00:00Z to the end of 9999",
        ));
    }
    Ok(())
}

/// `[from, to)`: both within [`instant`]'s range, `to` after `from`, at most [`MAX_DAYS`].
pub fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), ApiError> {
    instant("from", from)?;
    instant("to", to)?;
    if to <= from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if to - from > chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid(
            "to",
            format!("the window may be at most {MAX_DAYS} days"),
        ));
    }
    Ok(())
}

/// Whether every entry posted before `until` lies in a closed month, read in the report's
/// transaction before its figures: once true it stays true, and the figures cannot change.
pub async fn closed(tx: &tokio_postgres::Client, until: DateTime<Utc>) -> Result<bool, ApiError> {
    let through = periods::closed_through(tx).await?;
    Ok(periods::is_closed(through, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn windows_are_ordered_bounded_and_name_the_field() {
        assert!(window(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).is_ok());
        let cases = [
            ("2026-12-01T00:00:00Z", "2026-11-01T00:00:00Z", "to:"),
            ("2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", "to:"),
            ("1969-12-31T23:59:59Z", "2026-12-01T00:00:00Z", "from:"),
            ("2026-12-01T00:00:00Z", "+10000-01-01T00:00:00Z", "to:"),
            ("2000-01-01T00:00:00Z", "2026-12-01T00:00:00Z", "to:"),
        ];
        for (from, to, field) in cases {
            let e = window(at(from), at(to)).unwrap_err();
            assert_eq!(e.status, 422);
            assert!(e.message.starts_with(field), "{from} {to}: {}", e.message);
        }
    }
}
