//! Closed periods ([`crate::ledger::periods`], docs/financial-reports.md):
//! `POST /v1/ledger/periods/{month}/close` (admin) closes a month that has ended, and every
//! month before it; closing a closed month again answers the close that covers it and changes
//! nothing. `GET /v1/ledger/periods` (staff) lists the closes. There is no reopening.

use axum::extract::Path;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::api::auth::{Caller, ADMIN, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::middleware::txn::Db;
use crate::api::routes::{RouteDoc, Routes};
use crate::ledger::periods::{self, month_text, Close, Closed, PeriodError};

/// A closed month.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Period {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// The month that the close covering this one named (this month, or a later one:
    /// closing a month closes every month before it).
    pub closed_with: String,
    pub closed_at: DateTime<Utc>,
    /// The user who closed it; null when closed from SQL.
    pub closed_by: Option<Uuid>,
    /// Whether this request closed it (false: it was closed before and nothing changed).
    pub closed_now: bool,
}

/// The ledger's closes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Periods {
    /// `YYYY-MM`: every month up to and including it is closed; null while none is.
    pub closed_through: Option<String>,
    /// Each close, oldest first.
    pub closes: Vec<CloseItem>,
}

/// One close.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CloseItem {
    /// `YYYY-MM`: the month named; the months before it were closed with it if they were
    /// still open.
    pub month: String,
    pub closed_at: DateTime<Utc>,
    pub closed_by: Option<Uuid>,
}

impl From<Close> for CloseItem {
    fn from(c: Close) -> Self {
        CloseItem {
            month: month_text(c.month),
            closed_at: c.closed_at,
            closed_by: c.closed_by,
        }
    }
}

impl From<PeriodError> for ApiError {
    fn from(e: PeriodError) -> Self {
        match e {
            PeriodError::Database(e) => e.into(),
            e @ PeriodError::NotEnded(_) => ApiError::new(ErrorCode::PeriodNotEnded, e.to_string()),
        }
    }
}

/// `YYYY-MM` with a year of 1970..=9999 and a month of 01..=12, as its first day.
pub fn parse_month(field: &str, s: &str) -> Result<NaiveDate, ApiError> {
    let bad = || ApiError::invalid(field, "expected YYYY-MM, a year of 1970 to 9999");
    let b = s.as_bytes();
    if b.len() != 7
        || b[4] != b'-'
        || !s[..4]
            .bytes()
            .chain(s[5..].bytes())
            .all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let year: i32 = s[..4].parse().map_err(|_| bad())?;
    let month: u32 = s[5..].parse().map_err(|_| bad())?;
    if !(1970..=9999).contains(&year) {
        return Err(bad());
    }
    NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)
}

async fn close(
    caller: Caller,
    db: Db,
    Path(month): Path<String>,
) -> Result<Json<Period>, ApiError> {
    let first = parse_month("month", &month)?;
    let tx = db.tx().await?;
    let (c, closed_now) = match periods::close(&*tx, first, Some(caller.user_id)).await? {
        Closed::Now(c) => (c, true),
        Closed::Already(c) => (c, false),
    };
    Ok(Json(Period {
        month: month_text(first),
        closed_with: month_text(c.month),
        closed_at: c.closed_at,
        closed_by: c.closed_by,
        closed_now,
    }))
}

async fn list(_: Caller, db: Db) -> Result<Json<Periods>, ApiError> {
    let tx = db.tx().await?;
    let closes = periods::closes(&*tx).await?;
    Ok(Json(Periods {
        closed_through: closes.last().map(|c| month_text(c.month)),
        closes: closes.into_iter().map(CloseItem::from).collect(),
    }))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            errors: &[422],
            ..RouteDoc::step::<Period>(
                "/v1/ledger/periods/{month}/close",
                "Close a month of the ledger (YYYY-MM, UTC) and every month before it (admin): nothing can be posted into them afterwards. Closing a closed month changes nothing and answers the close covering it; a month that has not ended is 409 period_not_ended",
                ADMIN,
            )
        }
        .conflicts(&[ErrorCode::PeriodNotEnded]),
        close,
    )
    .add(
        RouteDoc {
            response: Some(|g| g.subschema_for::<Periods>()),
            ..RouteDoc::new(
                "GET",
                "/v1/ledger/periods",
                "The ledger's closes and the month it is closed through (staff)",
                STAFF,
            )
        },
        list,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_yyyy_mm_from_1970() {
        assert_eq!(
            parse_month("m", "2026-11").unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        for bad in [
            "2026-13",
            "2026-00",
            "0000-01",
            "1969-12",
            "2026-1",
            "2026/11",
            "+026-11",
            "2026-11-01",
            "",
            "２０２６-11",
            "2026--1",
            " 2026-1",
        ] {
            let e = parse_month("month", bad).unwrap_err();
            assert_eq!(e.status, 422, "{bad}");
            assert!(e.message.starts_with("month:"), "{bad}: {}", e.message);
        }
    }
}
