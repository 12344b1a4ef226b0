//! `GET /v1/ledger/accounts`: the chart of accounts in code order, each with its balance per
//! currency (debits positive) and its totals of debits and credits.

use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::filter;
use crate::api::auth::{Caller, STAFF};
use crate::api::error::ApiError;
use crate::api::extract::{ApiQuery, NO_NUL_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};

/// An account and its balances.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Account {
    /// E.g. `receivable:customer:{customer_id}`, `revenue:base`, `bank`.
    pub code: String,
    /// `asset`, `liability`, `revenue` or `expense`.
    #[schemars(extend("enum" = ["asset", "liability", "revenue", "expense"]))]
    #[serde(rename = "type")]
    pub kind: String,
    /// One per currency the account has lines in.
    pub balances: Vec<Balance>,
}

/// An account's totals in one currency.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Balance {
    pub currency: String,
    /// Debits − credits, minor units.
    pub balance: i64,
    /// The sum of its debit lines.
    pub debits: i64,
    /// The sum of its credit lines, as a positive number.
    pub credits: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only accounts whose code starts with this (`receivable:`, `revenue:`).
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub prefix: Option<String>,
}

/// A page of accounts (`$1` after this code, `$2` prefix, `$3` rows) and their totals.
const LIST: &str = "SELECT a.code, a.type, l.currency::text,
                           sum(l.amount)::bigint,
                           coalesce(sum(l.amount) FILTER (WHERE l.amount > 0), 0)::bigint,
                           coalesce(-sum(l.amount) FILTER (WHERE l.amount < 0), 0)::bigint
                      FROM (SELECT code, type FROM ledger_accounts
                             WHERE code > $1 AND ($2::text IS NULL OR starts_with(code, $2))
                             ORDER BY code LIMIT $3) a
                      LEFT JOIN journal_lines l ON l.account = a.code
                     GROUP BY a.code, a.type, l.currency
                     ORDER BY a.code, l.currency";

async fn list(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<AccountsQuery>,
) -> Result<Json<Paged<Account>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    filter("prefix", &q.prefix)?;
    let client = db.tx().await?;
    let rows = client
        .query(LIST, &[&page.after_or_min(), &q.prefix, &page.fetch()])
        .await?;
    let mut items: Vec<Account> = Vec::new();
    for r in rows {
        let code: String = r.get(0);
        if items.last().is_none_or(|a| a.code != code) {
            items.push(Account {
                code,
                kind: r.get(1),
                balances: Vec::new(),
            });
        }
        if let Some(currency) = r.get::<_, Option<String>>(2) {
            let account = items.last_mut().expect("pushed above");
            account.balances.push(Balance {
                currency,
                balance: r.get(3),
                debits: r.get(4),
                credits: r.get(5),
            });
        }
    }
    Ok(Json(page.finish(items, |a| a.code.clone())))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::list::<Account, AccountsQuery>(
            "/v1/ledger/accounts",
            "The chart of accounts with balances per currency (staff)",
            STAFF,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("prefix", "only accounts whose code starts with this"),
            ],
        ),
        list,
    )
}
