//! `GET /v1/reports/revenue?from=&to=&group_by=month|vehicle|customer`: revenue from the
//! ledger (docs/financial-reports.md). The lines on `revenue:*` accounts of the entries
//! posted in `[from, to)`, credits counted positive, so contra-revenue accounts
//! (`cancellation_reversal`, reversals) net in as negative amounts; per group and currency
//! (never summed across currencies), with each kind (account) apart. A vehicle is the
//! entry's rental's; a customer the receivable the entry posts to (both fixed once posted).

use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::books;
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::middleware::txn::Db;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevenueQuery {
    /// Entries posted at or after this time.
    pub from: DateTime<Utc>,
    /// Entries posted before this time; at most 3660 days after `from`.
    pub to: DateTime<Utc>,
    /// `month` (UTC, the default), `vehicle` or `customer`.
    #[schemars(extend("enum" = ["month", "vehicle", "customer"]))]
    pub group_by: Option<String>,
}

/// The revenue of one kind (a `revenue:{kind}` account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct KindAmount {
    /// E.g. `base`, `extra_km`, `late_fee`, `cancellation_reversal`.
    pub kind: String,
    /// Minor units; negative for a contra-revenue kind.
    pub amount: i64,
}

/// One group's revenue in one currency.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RevenueGroup {
    /// `YYYY-MM`, the vehicle id or the customer id; null when the entry has no rental
    /// (vehicle) or no receivable (customer).
    pub group: Option<String>,
    pub currency: String,
    /// The sum of `kinds`, minor units.
    pub total: i64,
    /// By kind, in kind order; kinds that net to zero are left out.
    pub kinds: Vec<KindAmount>,
}

/// Every group's revenue in one currency.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RevenueTotal {
    pub currency: String,
    pub total: i64,
    pub kinds: Vec<KindAmount>,
}

/// The report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Revenue {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schemars(extend("enum" = ["month", "vehicle", "customer"]))]
    pub group_by: String,
    /// Every month the window touches is closed: this answer never changes.
    pub closed: bool,
    /// By group, then currency.
    pub groups: Vec<RevenueGroup>,
    /// By currency.
    pub totals: Vec<RevenueTotal>,
}

/// `$1` from, `$2` to, `$3` grouping: (group, currency, kind, revenue).
const REVENUE: &str = "
    SELECT CASE $3::text
             WHEN 'month' THEN to_char(e.posted_at AT TIME ZONE 'UTC', 'YYYY-MM')
             WHEN 'vehicle' THEN (SELECT r.vehicle_id FROM rentals r WHERE r.id = e.rental_id)
             ELSE (SELECT substr(min(x.account), 21) FROM journal_lines x
                    WHERE x.entry_id = e.id AND x.account LIKE 'receivable:customer:%')
           END AS grp,
           e.currency::text, substr(l.account, 9) AS kind, (-sum(l.amount))::bigint
      FROM journal_entries e
      JOIN journal_lines l ON l.entry_id = e.id AND l.account LIKE 'revenue:%'
     WHERE e.posted_at >= $1 AND e.posted_at < $2
     GROUP BY 1, 2, 3
    HAVING sum(l.amount) <> 0
     ORDER BY 1 NULLS LAST, 2, 3";

fn group_by(v: &Option<String>) -> Result<&'static str, ApiError> {
    match v.as_deref() {
        None | Some("month") => Ok("month"),
        Some("vehicle") => Ok("vehicle"),
        Some("customer") => Ok("customer"),
        Some(_) => Err(ApiError::invalid(
            "group_by",
            "expected month, vehicle or customer",
        )),
    }
}

pub async fn revenue(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<RevenueQuery>,
) -> Result<Json<Revenue>, ApiError> {
    books::window(q.from, q.to)?;
    let by = group_by(&q.group_by)?;
    let tx = db.tx().await?;
    let closed = books::closed(&tx, q.to).await?;
    let rows = tx.query(REVENUE, &[&q.from, &q.to, &by]).await?;
    let mut groups: Vec<RevenueGroup> = Vec::new();
    let mut totals: Vec<RevenueTotal> = Vec::new();
    for r in rows {
        let (group, currency): (Option<String>, String) = (r.get(0), r.get(1));
        let k = KindAmount {
            kind: r.get(2),
            amount: r.get(3),
        };
        if groups
            .last()
            .is_none_or(|g| g.group != group || g.currency != currency)
        {
            groups.push(RevenueGroup {
                group,
                currency: currency.clone(),
                total: 0,
                kinds: Vec::new(),
            });
        }
        let g = groups.last_mut().expect("pushed above");
        g.total = g.total.checked_add(k.amount).ok_or_else(overflow)?;
        g.kinds.push(k.clone());
        let t = match totals.iter_mut().position(|t| t.currency == currency) {
            Some(i) => &mut totals[i],
            None => {
                totals.push(RevenueTotal {
                    currency,
                    total: 0,
                    kinds: Vec::new(),
                });
                totals.last_mut().expect("pushed above")
            }
        };
        t.total = t.total.checked_add(k.amount).ok_or_else(overflow)?;
        match t.kinds.iter_mut().find(|x| x.kind == k.kind) {
            Some(x) => x.amount = x.amount.checked_add(k.amount).ok_or_else(overflow)?,
            None => t.kinds.push(k),
        }
    }
    totals.sort_by(|a, b| a.currency.cmp(&b.currency));
    for t in &mut totals {
        t.kinds.retain(|k| k.amount != 0);
        t.kinds.sort_by(|a, b| a.kind.cmp(&b.kind));
    }
    Ok(Json(Revenue {
        from: q.from,
        to: q.to,
        group_by: by.to_string(),
        closed,
        groups,
        totals,
    }))
}

fn overflow() -> ApiError {
    ApiError::internal("revenue beyond 64-bit minor units")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_is_one_of_three() {
        assert_eq!(group_by(&None).unwrap(), "month");
        assert_eq!(group_by(&Some("customer".into())).unwrap(), "customer");
        let e = group_by(&Some("Month".into())).unwrap_err();
        assert!(e.message.starts_with("group_by:"), "{}", e.message);
    }
}
