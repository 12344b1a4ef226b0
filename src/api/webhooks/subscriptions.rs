//! Webhook subscriptions: a URL, the event types it takes (patterns such as `rental.*`), the
//! secret deliveries are signed with, and whether it is active. A new subscription receives
//! the events numbered after it was made; one deactivated receives nothing until it is
//! active again (replay fetches what it missed).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{Caller, ADMIN};
use crate::api::error::ApiError;
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged, PARAMS};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::AppState;
use crate::events::pattern;
use crate::webhooks::{guard, sign};

/// A subscription.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Webhook {
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// Event types or patterns (`rental.completed`, `rental.*`, `*.completed`, `*`).
    pub events: Vec<String>,
    pub active: bool,
    pub description: String,
    /// The signing secret: only in the answer that created or changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Its last four characters, to tell secrets apart (empty for secrets shorter than 32).
    pub secret_hint: String,
    /// Deliveries not yet accepted by the receiver.
    pub pending: i64,
    /// Deliveries given up on (`GET .../deliveries?status=failed`).
    pub failed: i64,
    /// When the oldest pending delivery was queued: how far behind the receiver is.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/webhooks` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http://` or `https://`, at most 2048 bytes, no credentials; a host on a private,
    /// loopback or link-local address only with `webhooks.allow_private`.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// 1 to 64 event types or patterns; each must match a type fleetd emits.
    #[schemars(schema_with = "patterns_schema")]
    pub events: Vec<String>,
    /// 16 to 256 printable characters without spaces; a random one when absent.
    #[schemars(length(min = 16, max = 256), regex(pattern = SECRET_PATTERN))]
    pub secret: Option<String>,
    /// Default true.
    pub active: Option<bool>,
    /// Free text for people; no control characters but line breaks.
    #[schemars(length(max = 500), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: Option<String>,
}

/// `PATCH /v1/webhooks/{id}` body: the fields to change (`secret` and `rotate_secret` not
/// together).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("not" = {
    "required": ["secret", "rotate_secret"],
    "properties": { "secret": { "type": "string" }, "rotate_secret": { "type": "boolean" } }
}))]
pub struct UpdateWebhook {
    #[schemars(length(min = 1, max = 2048))]
    pub url: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "optional_patterns_schema")]
    pub events: Option<Vec<String>>,
    /// A new secret; deliveries from now on are signed with it.
    #[schemars(length(min = 16, max = 256), regex(pattern = SECRET_PATTERN))]
    pub secret: Option<String>,
    /// `true`: a new random secret (returned in the answer).
    pub rotate_secret: Option<bool>,
    /// `false` stops deliveries (pending ones wait; events meanwhile are not queued).
    pub active: Option<bool>,
    #[schemars(length(max = 500), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// What [`secret`] accepts.
const SECRET_PATTERN: &str = r"^[!-~]{16,256}$";
/// What [`description`] accepts: no control character but a line feed.
const DESCRIPTION_PATTERN: &str = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$";

/// The schema of `events`: 1 to 64 strings, each one of the patterns [`pattern::parse`]
/// accepts, spelled out from the catalogue (so the document lists what is valid).
fn patterns_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": pattern::MAX_PATTERNS,
        "items": { "type": "string", "maxLength": pattern::MAX_LEN, "pattern": pattern::regex() },
    })
}

fn optional_patterns_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = patterns_schema(g);
    schema.insert("type".into(), serde_json::json!(["array", "null"]));
    schema
}

const COLUMNS: &str = "w.id, w.url, w.events, w.active, w.description, w.secret,
     w.created_at, w.updated_at,
     (SELECT count(*) FROM webhook_deliveries d
       WHERE d.webhook_id = w.id AND d.status = 'pending') AS pending,
     (SELECT count(*) FROM webhook_deliveries d
       WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed,
     (SELECT min(queued_at) FROM webhook_deliveries d
       WHERE d.webhook_id = w.id AND d.status = 'pending') AS oldest_pending_at";
const INSERT: &str = "INSERT INTO webhooks (id, url, events, secret, active, description,
                                            scanned_to, created_at, updated_at)
     SELECT $1, $2, $3, $4, $5, $6, last_id, $7, $7 FROM event_counter";
const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM webhooks w WHERE w.id = $1");
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM webhooks w WHERE ($1::uuid IS NULL OR w.id > $1) ORDER BY w.id LIMIT $2"
);
const UPDATE: &str = "UPDATE webhooks SET url = coalesce($2, url), events = coalesce($3, events),
            secret = coalesce($4, secret), active = coalesce($5, active),
            description = coalesce($6, description), updated_at = $7,
            -- Reactivated: from the events after now, as a new subscription.
            scanned_to = CASE WHEN NOT active AND $5
                              THEN greatest(scanned_to, (SELECT last_id FROM event_counter))
                              ELSE scanned_to END
      WHERE id = $1 RETURNING id";
const DELETE: &str = "DELETE FROM webhooks WHERE id = $1";

fn from_row(row: &tokio_postgres::Row, show_secret: bool) -> Webhook {
    let secret: String = row.get("secret");
    // Four characters tell secrets apart; of a short secret they would give too much away.
    let chars = secret.chars().count();
    let hint: String = if chars >= 32 {
        secret.chars().skip(chars - 4).collect()
    } else {
        String::new()
    };
    Webhook {
        id: row.get("id"),
        url: row.get("url"),
        events: row.get("events"),
        active: row.get("active"),
        description: row.get("description"),
        secret: show_secret.then_some(secret),
        secret_hint: hint,
        pending: row.get("pending"),
        failed: row.get("failed"),
        oldest_pending_at: row.get("oldest_pending_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The id in a path (404 when it is not a UUID).
pub fn id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("webhook"))
}

async fn url(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let url = guard::parse_url(raw.trim()).map_err(|e| ApiError::invalid("url", e))?;
    guard::check(&url, state.api.webhooks_allow_private)
        .await
        .map_err(|e| ApiError::invalid("url", e))?;
    // Normalised (percent-encoded) it may have grown.
    let url = url.to_string();
    if url.len() > guard::MAX_URL {
        return Err(ApiError::invalid(
            "url",
            format!("longer than {} bytes once percent-encoded", guard::MAX_URL),
        ));
    }
    Ok(url)
}

fn events(raw: &[String]) -> Result<Vec<String>, ApiError> {
    pattern::parse(raw).map_err(|e| ApiError::invalid("events", e))
}

fn secret(raw: &str) -> Result<String, ApiError> {
    let ok = (16..=256).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ApiError::invalid(
            "secret",
            "16 to 256 printable ASCII characters without spaces",
        ));
    }
    Ok(raw.to_string())
}

fn description(raw: &Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(d) if d.chars().count() > 500 => {
            Err(ApiError::invalid("description", "at most 500 characters"))
        }
        Some(d) if d.chars().any(|c| c.is_control() && c != '\n') => Err(ApiError::invalid(
            "description",
            "must not contain control characters",
        )),
        Some(d) => Ok(Some(d.trim().to_string())),
        None => Ok(None),
    }
}

async fn create(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    let events = events(&req.events)?;
    let secret = match &req.secret {
        Some(s) => secret(s)?,
        None => sign::new_secret(),
    };
    let description = description(&req.description)?.unwrap_or_default();
    let url = url(&state, &req.url).await?;
    let id = Uuid::new_v4();
    let tx = db.tx().await?;
    let now = state.clock.now();
    tx.execute(
        INSERT,
        &[
            &id,
            &url,
            &events,
            &secret,
            &req.active.unwrap_or(true),
            &description,
            &now,
        ],
    )
    .await?;
    let row = tx.query_one(GET, &[&id]).await?;
    Ok((StatusCode::CREATED, Json(from_row(&row, true))))
}

async fn list(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Webhook>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let tx = db.tx().await?;
    let rows = tx
        .query(LIST, &[&page.after_uuid()?, &page.fetch()])
        .await?;
    let items = rows.iter().map(|r| from_row(r, false)).collect();
    Ok(Json(page.finish(items, |w| w.id.to_string())))
}

async fn get(_: Caller, db: Db, Path(raw): Path<String>) -> Result<Json<Webhook>, ApiError> {
    let id = id(&raw)?;
    let row = db
        .tx()
        .await?
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(from_row(&row, false)))
}

async fn update(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateWebhook>,
) -> Result<Json<Webhook>, ApiError> {
    let id = id(&raw)?;
    let events = req.events.as_deref().map(events).transpose()?;
    if req.secret.is_some() && req.rotate_secret.is_some() {
        return Err(ApiError::invalid(
            "rotate_secret",
            "give either secret or rotate_secret, not both",
        ));
    }
    let mut new_secret = req.secret.as_deref().map(secret).transpose()?;
    if req.rotate_secret == Some(true) {
        new_secret = Some(sign::new_secret());
    }
    let description = description(&req.description)?;
    let url = match &req.url {
        Some(u) => Some(url(&state, u).await?),
        None => None,
    };
    let tx = db.tx().await?;
    let now = state.clock.now();
    tx.query_opt(
        UPDATE,
        &[
            &id,
            &url,
            &events,
            &new_secret,
            &req.active,
            &description,
            &now,
        ],
    )
    .await?
    .ok_or_else(|| ApiError::not_found("webhook"))?;
    let row = tx.query_one(GET, &[&id]).await?;
    Ok(Json(from_row(&row, new_secret.is_some())))
}

async fn delete(_: Caller, db: Db, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let id = id(&raw)?;
    match db.tx().await?.execute(DELETE, &[&id]).await? {
        0 => Err(ApiError::not_found("webhook")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::create::<CreateWebhook, Webhook>(
            "/v1/webhooks",
            "Subscribe a URL to events (the answer holds the signing secret)",
            ADMIN,
        ),
        create,
    )
    .add(
        RouteDoc::list::<Webhook, ListQuery>("/v1/webhooks", "List webhooks", ADMIN, PARAMS),
        list,
    )
    .add(
        RouteDoc::read::<Webhook>("/v1/webhooks/{id}", "A webhook", ADMIN),
        get,
    )
    .add(
        RouteDoc::change::<UpdateWebhook, Webhook>(
            "PATCH",
            "/v1/webhooks/{id}",
            "Change a webhook's URL, events, secret, description, or (de)activate it",
            ADMIN,
        ),
        update,
    )
    .add(
        RouteDoc::delete(
            "/v1/webhooks/{id}",
            "Delete a webhook and its deliveries",
            ADMIN,
        ),
        delete,
    )
}
