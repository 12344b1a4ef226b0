//! `GET /v1/ledger/entries`: journal entries, oldest first, each with its lines; by posting
//! time and by account. A page's lines are read in one query.

use std::collections::HashMap;

use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::filter;
use crate::api::auth::{Caller, STAFF};
use crate::api::error::ApiError;
use crate::api::extract::{ApiQuery, NO_NUL_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};

/// One journal entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Entry {
    /// Increasing in posting order.
    pub id: i64,
    /// The business event that posted it, e.g. `rental.completed:{rental_id}`; unique.
    pub event_key: String,
    pub posted_at: DateTime<Utc>,
    /// ISO 4217; every line is in it.
    pub currency: String,
    pub memo: String,
    /// The rental the entry is about, if any.
    pub rental_id: Option<Uuid>,
    /// The entry this one reverses, if it is a correction.
    pub reverses: Option<i64>,
    /// At least two, summing to zero.
    pub lines: Vec<Line>,
}

/// One line of an entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Line {
    /// The account's code, e.g. `receivable:customer:{customer_id}`.
    pub account: String,
    /// Minor units: a debit is positive, a credit negative; never zero.
    pub amount: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only entries posted at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only entries posted before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only entries with a line on this account.
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub account: Option<String>,
}

const LIST: &str = "SELECT e.id, e.event_key, e.posted_at, e.currency::text, e.memo, e.rental_id,
                           e.reverses
                      FROM journal_entries e
                     WHERE ($1::bigint IS NULL OR e.id > $1)
                       AND ($2::timestamptz IS NULL OR e.posted_at >= $2)
                       AND ($3::timestamptz IS NULL OR e.posted_at < $3)
                       AND ($4::text IS NULL OR EXISTS (
                               SELECT 1 FROM journal_lines l
                                WHERE l.entry_id = e.id AND l.account = $4))
                     ORDER BY e.id LIMIT $5";
const LINES: &str = "SELECT entry_id, account, amount FROM journal_lines
                      WHERE entry_id = ANY($1) ORDER BY entry_id, id";

async fn list(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<EntriesQuery>,
) -> Result<Json<Paged<Entry>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let after: Option<i64> = page.after_key()?;
    filter("account", &q.account)?;
    let client = db.tx().await?;
    let rows = client
        .query(LIST, &[&after, &q.from, &q.to, &q.account, &page.fetch()])
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let mut lines: HashMap<i64, Vec<Line>> = HashMap::new();
    for l in client.query(LINES, &[&ids]).await? {
        lines.entry(l.get(0)).or_default().push(Line {
            account: l.get(1),
            amount: l.get(2),
        });
    }
    let items = rows
        .iter()
        .map(|r| {
            let id: i64 = r.get(0);
            Entry {
                id,
                event_key: r.get(1),
                posted_at: r.get(2),
                currency: r.get(3),
                memo: r.get(4),
                rental_id: r.get(5),
                reverses: r.get(6),
                lines: lines.remove(&id).unwrap_or_default(),
            }
        })
        .collect();
    Ok(Json(page.finish(items, |e| e.id.to_string())))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::list::<Entry, EntriesQuery>(
            "/v1/ledger/entries",
            "Journal entries with their lines, oldest first (staff)",
            STAFF,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                (
                    "from",
                    "only entries posted at or after this time (RFC 3339)",
                ),
                ("to", "only entries posted before this time (RFC 3339)"),
                ("account", "only entries with a line on this account"),
            ],
        ),
        list,
    )
}
