//! A subscription's deliveries: `GET /v1/webhooks/{id}/deliveries` (newest event first,
//! `?status=pending|delivered|failed`; `failed` are the dead letters) and
//! `POST /v1/webhooks/{id}/replay`, which queues again every retained event from an event id
//! or a time, whatever became of it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::subscriptions::id;
use crate::api::auth::{Caller, ADMIN};
use crate::api::error::ApiError;
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::AppState;

/// One event's delivery to one subscription.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Delivery {
    pub event_id: i64,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// `pending` (not yet accepted), `delivered` (a 2xx answer) or `failed` (dead letter:
    /// retried for `webhooks.max_retry_hours` without success; replay sends it again).
    pub status: String,
    pub attempts: i32,
    /// When it was queued (or replayed): the retry period runs from here.
    pub queued_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status at the last attempt; absent when it did not answer.
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    /// When it was delivered or given up on.
    pub done_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Delivered,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only deliveries in this state (`failed`: the dead letters).
    pub status: Option<Status>,
}

/// `POST /v1/webhooks/{id}/replay` body: where to start, by event id or by time (exactly
/// one of the two).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "anyOf" = [
        { "required": ["from_event_id"], "properties": { "from_event_id": { "type": "integer" } } },
        { "required": ["from"], "properties": { "from": { "type": "string" } } }
    ],
    "not" = {
        "required": ["from_event_id", "from"],
        "properties": { "from_event_id": { "type": "integer" }, "from": { "type": "string" } }
    }
))]
pub struct Replay {
    /// The first event to send again.
    #[schemars(range(min = 1))]
    pub from_event_id: Option<i64>,
    /// Send again every event that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
}

/// What a replay queued. One call covers at most [`REPLAY_SPAN`] event ids; call again
/// from `next_from_event_id` until it is absent.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Replayed {
    /// Events queued again (those matching the subscription, still retained, and not
    /// already pending).
    pub queued: i32,
    /// The first event id considered; absent when no event occurred at or after `from`.
    pub from_event_id: Option<i64>,
    /// Where to continue: the span this call covered ended before what the subscription
    /// has seen. Absent when the replay is complete.
    pub next_from_event_id: Option<i64>,
    /// The oldest event still retained (`events.retention_days`); earlier ones are gone.
    pub oldest_retained_event_id: Option<i64>,
}

/// Event ids one replay call covers at most (its transaction stays short).
pub const REPLAY_SPAN: i64 = 10_000;

const EXISTS: &str = "SELECT scanned_to FROM webhooks WHERE id = $1";
const LIST: &str = "SELECT event_id, event_type, aggregate_type, aggregate_id, status, attempts,
                           queued_at, last_attempt_at, response_status, last_error, done_at
                      FROM webhook_deliveries
                     WHERE webhook_id = $1 AND ($2::bigint IS NULL OR event_id < $2)
                       AND ($3::text IS NULL OR status = $3)
                     ORDER BY event_id DESC LIMIT $4";
const FIRST_AT: &str = "SELECT min(id) FROM events WHERE occurred_at >= $1";
const OLDEST: &str = "SELECT min(id) FROM events";

async fn list(
    _: Caller,
    db: Db,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Paged<Delivery>>, ApiError> {
    let hook = id(&raw)?;
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let before: Option<i64> = page.after_key()?;
    let tx = db.tx().await?;
    tx.query_opt(EXISTS, &[&hook])
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    let status = q.status.map(Status::as_str);
    let rows = tx
        .query(LIST, &[&hook, &before, &status, &page.fetch()])
        .await?;
    let items = rows
        .iter()
        .map(|r| Delivery {
            event_id: r.get("event_id"),
            event_type: r.get("event_type"),
            aggregate_type: r.get("aggregate_type"),
            aggregate_id: r.get("aggregate_id"),
            status: r.get("status"),
            attempts: r.get("attempts"),
            queued_at: r.get("queued_at"),
            last_attempt_at: r.get("last_attempt_at"),
            response_status: r.get("response_status"),
            last_error: r.get("last_error"),
            done_at: r.get("done_at"),
        })
        .collect();
    Ok(Json(
        page.finish(items, |d: &Delivery| d.event_id.to_string()),
    ))
}

async fn replay(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<Replay>,
) -> Result<Json<Replayed>, ApiError> {
    let hook = id(&raw)?;
    if matches!(req.from_event_id, Some(n) if n < 1) {
        return Err(ApiError::invalid("from_event_id", "must be at least 1"));
    }
    let tx = db.tx().await?;
    let scanned: i64 = tx
        .query_opt(EXISTS, &[&hook])
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?
        .get(0);
    let from = match (req.from_event_id, req.from) {
        (Some(id), None) => Some(id),
        (None, Some(at)) => tx.query_one(FIRST_AT, &[&at]).await?.get(0),
        _ => {
            return Err(ApiError::invalid(
                "from_event_id",
                "give exactly one of from_event_id and from",
            ))
        }
    };
    let oldest: Option<i64> = tx.query_one(OLDEST, &[]).await?.get(0);
    let Some(from) = from else {
        return Ok(Json(Replayed {
            queued: 0,
            from_event_id: None,
            next_from_event_id: None,
            oldest_retained_event_id: oldest,
        }));
    };
    let to = from.saturating_add(REPLAY_SPAN - 1);
    let queued: i32 = tx
        .query_one(
            "SELECT webhooks_replay($1, $2, $3, $4)",
            &[&hook, &from, &to, &state.clock.now()],
        )
        .await?
        .get(0);
    Ok(Json(Replayed {
        queued,
        from_event_id: Some(from),
        next_from_event_id: (to < scanned).then(|| to + 1),
        oldest_retained_event_id: oldest,
    }))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            errors: &[404, 422],
            ..RouteDoc::list::<Delivery, DeliveriesQuery>(
                "/v1/webhooks/{id}/deliveries",
                "A webhook's deliveries, newest event first (status=failed: the dead letters)",
                ADMIN,
                &[
                    ("limit", "items per page, 1..=200 (default 50)"),
                    ("cursor", "next_cursor from the previous page"),
                    ("status", "pending, delivered or failed (dead letters)"),
                ],
            )
        },
        list,
    )
    .add(
        RouteDoc::change::<Replay, Replayed>(
            "POST",
            "/v1/webhooks/{id}/replay",
            "Queue again every retained event of this webhook from an event id or a time \
             (dead letters included), 10,000 event ids per call",
            ADMIN,
        ),
        replay,
    )
}
