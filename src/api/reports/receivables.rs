//! `GET /v1/reports/receivables?as_of=`: what customers owe, by age (docs/financial-reports.md).
//! Per customer and currency, the balance of the customer's receivable over the entries
//! posted before `as_of` (default: now), split by [`crate::ledger::ageing`]: first in first
//! out, aged in whole days since each outstanding debit was posted.

use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::books;
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::middleware::txn::Db;
use crate::ledger::ageing::{age, Buckets};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivablesQuery {
    /// Only entries posted before this time count, and ages are measured to it (default:
    /// now).
    pub as_of: Option<DateTime<Utc>>,
}

/// A balance split by age, minor units: `current + days_1_30 + days_31_60 + days_61_90 +
/// over_90 − credit = balance`.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Ageing {
    pub currency: String,
    /// Debits − credits.
    pub balance: i64,
    /// Owed for less than a day.
    pub current: i64,
    pub days_1_30: i64,
    pub days_31_60: i64,
    pub days_61_90: i64,
    pub over_90: i64,
    /// What the fleet owes the customer (a negative balance), as a positive number.
    pub credit: i64,
}

impl Ageing {
    fn new(currency: String, b: &Buckets) -> Ageing {
        Ageing {
            currency,
            balance: b.balance,
            current: b.current,
            days_1_30: b.days_1_30,
            days_31_60: b.days_31_60,
            days_61_90: b.days_61_90,
            over_90: b.over_90,
            credit: b.credit,
        }
    }
}

/// One customer's receivable in one currency.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CustomerAgeing {
    pub customer_id: String,
    #[serde(flatten)]
    pub ageing: Ageing,
}

/// The report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Receivables {
    pub as_of: DateTime<Utc>,
    /// Every entry before `as_of` lies in a closed month: this answer never changes.
    pub closed: bool,
    /// Customers whose balance is not zero, by customer id, then currency.
    pub customers: Vec<CustomerAgeing>,
    /// All customers, by currency.
    pub totals: Vec<Ageing>,
}

/// `$1` as of: each non-zero receivable with its balance and, when positive, the newest
/// debits that cover it (newest first; a running sum from the newest stops the list).
const RECEIVABLES: &str = "
    WITH l AS (
        SELECT l.account, l.currency::text AS currency, l.amount, e.posted_at, l.id
          FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
         WHERE l.account LIKE 'receivable:customer:%' AND e.posted_at < $1),
    b AS (SELECT account, currency, sum(amount) AS balance FROM l GROUP BY 1, 2
           HAVING sum(amount) <> 0),
    d AS (SELECT l.*, b.balance,
                 sum(l.amount) OVER (PARTITION BY l.account, l.currency
                                     ORDER BY l.posted_at DESC, l.id DESC) AS cum
            FROM l JOIN b USING (account, currency)
           WHERE l.amount > 0 AND b.balance > 0)
    SELECT substr(b.account, 21), b.currency, b.balance::bigint, d.posted_at, d.amount
      FROM b LEFT JOIN d ON d.account = b.account AND d.currency = b.currency
                        AND d.cum - d.amount < d.balance
     ORDER BY 1, 2, d.posted_at DESC, d.id DESC";

/// A receivable that is not settled, as read.
struct Open {
    customer: String,
    currency: String,
    balance: i64,
    /// The debits that cover a positive balance, newest first.
    debits: Vec<(DateTime<Utc>, i64)>,
}

pub async fn receivables(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<ReceivablesQuery>,
) -> Result<Json<Receivables>, ApiError> {
    if let Some(t) = q.as_of {
        books::instant("as_of", t)?;
    }
    let tx = db.tx().await?;
    let as_of = match q.as_of {
        Some(t) => t,
        None => tx.query_one("SELECT now()", &[]).await?.get(0),
    };
    let closed = books::closed(&tx, as_of).await?;
    let rows = tx.query(RECEIVABLES, &[&as_of]).await?;
    let mut open: Vec<Open> = Vec::new();
    for r in rows {
        let (customer, currency): (String, String) = (r.get(0), r.get(1));
        if open
            .last()
            .is_none_or(|o| o.customer != customer || o.currency != currency)
        {
            open.push(Open {
                customer,
                currency,
                balance: r.get(2),
                debits: Vec::new(),
            });
        }
        if let (Some(at), Some(amount)) = (r.get(3), r.get(4)) {
            let o = open.last_mut().expect("pushed above");
            o.debits.push((at, amount));
        }
    }
    let mut customers = Vec::with_capacity(open.len());
    let mut totals: Vec<(String, Buckets)> = Vec::new();
    for Open {
        customer,
        currency,
        balance,
        debits,
    } in open
    {
        let b = age(balance, &debits, as_of);
        match totals.iter_mut().find(|t| t.0 == currency) {
            Some(t) => t.1.add(&b),
            None => totals.push((currency.clone(), b)),
        }
        customers.push(CustomerAgeing {
            customer_id: customer,
            ageing: Ageing::new(currency, &b),
        });
    }
    totals.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Json(Receivables {
        as_of,
        closed,
        customers,
        totals: totals
            .into_iter()
            .map(|(c, b)| Ageing::new(c, &b))
            .collect(),
    }))
}
