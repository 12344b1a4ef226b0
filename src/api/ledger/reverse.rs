//! `POST /v1/ledger/entries/{id}/reverse` (staff): a correction. The entry's lines are posted
//! again with their signs flipped, now, so into the open period whatever month the entry was
//! posted in, under the business event `journal_entry.reversed:{id}`. An entry is reversed at
//! most once (409 `already_reversed`). Only the books change: the rental or maintenance job
//! the entry came from is left as it is.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;

use super::entries::{Entry, Line};
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{text, OptionalJson, TEXT_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::routes::{schema, RouteDoc, Routes};
use crate::ledger::{self, Posted};

const EXISTS: &str = "SELECT 1 FROM journal_entries WHERE id = $1";
const REVERSED_BY: &str = "SELECT id FROM journal_entries WHERE reverses = $1";
const ENTRY: &str = "SELECT id, event_key, posted_at, currency::text, memo, rental_id, reverses
                       FROM journal_entries WHERE id = $1";
const LINES: &str = "SELECT account, amount FROM journal_lines WHERE entry_id = $1 ORDER BY id";

/// `POST /v1/ledger/entries/{id}/reverse` body; it may be left out.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseRequest {
    /// Why (at most 500 characters); default `reversal of entry {id}`.
    #[schemars(length(max = 500), regex(pattern = TEXT_PATTERN))]
    pub memo: Option<String>,
}

/// An entry id: a positive integer, else no such entry.
fn entry_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found("journal entry"))
}

async fn already(tx: &tokio_postgres::Client, id: i64) -> Result<Option<ApiError>, ApiError> {
    Ok(tx.query_opt(REVERSED_BY, &[&id]).await?.map(|r| {
        let by: i64 = r.get(0);
        ApiError::new(
            ErrorCode::AlreadyReversed,
            format!("journal entry {id} was reversed by entry {by}"),
        )
        .with_detail("reversed_by", by)
    }))
}

async fn reverse(
    _: Caller,
    db: Db,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<ReverseRequest>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let id = entry_id(&id)?;
    let memo = match &req.memo {
        Some(m) => text("memo", m, 500)?,
        None => format!("reversal of entry {id}"),
    };
    let tx = db.tx().await?;
    if tx.query_opt(EXISTS, &[&id]).await?.is_none() {
        return Err(ApiError::not_found("journal entry"));
    }
    if let Some(e) = already(&tx, id).await? {
        return Err(e);
    }
    let key = format!("journal_entry.reversed:{id}");
    let new = match ledger::reverse(&*tx, id, &key, &memo).await? {
        Posted::Entry(new) => new,
        // A concurrent reversal committed first (the same key): it is the one.
        Posted::Already => {
            return Err(already(&tx, id)
                .await?
                .unwrap_or_else(|| ApiError::internal("reversal key without its entry")))
        }
        Posted::Nothing => return Err(ApiError::internal("an entry without lines")),
    };
    let row = tx.query_one(ENTRY, &[&new]).await?;
    let lines = tx
        .query(LINES, &[&new])
        .await?
        .iter()
        .map(|l| Line {
            account: l.get(0),
            amount: l.get(1),
        })
        .collect();
    let entry = Entry {
        id: new,
        event_key: row.get(1),
        posted_at: row.get(2),
        currency: row.get(3),
        memo: row.get(4),
        rental_id: row.get(5),
        reverses: row.get(6),
        lines,
    };
    Ok((StatusCode::CREATED, Json(entry)))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            request: Some(schema::<ReverseRequest>),
            optional_body: true,
            success: 201,
            errors: &[400, 404, 413, 422],
            ..RouteDoc::step::<Entry>(
                "/v1/ledger/entries/{id}/reverse",
                "Reverse a journal entry (staff): its lines posted again with their signs flipped, now, in the open period, whatever month the entry is in; the body ({memo}) may be left out. Once per entry: 409 already_reversed",
                STAFF,
            )
        }
        .conflicts(&[ErrorCode::AlreadyReversed, ErrorCode::PeriodClosed]),
        reverse,
    )
}
