//! `GET /v1/audit` (admins): the trail, newest first, filtered by entity, user and time.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{Caller, ADMIN};
use crate::api::error::ApiError;
use crate::api::extract::{ApiQuery, NO_NUL_PATTERN};
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;

/// One audited request.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditEntry {
    /// Increasing in the order requests were recorded (per daemon's commit).
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The bearer token's user, if the token was validly signed.
    pub user_id: Option<Uuid>,
    pub role: Option<String>,
    pub ip: Option<String>,
    pub method: String,
    /// The route template, e.g. `/v1/vehicles/{id}/status`.
    pub route: String,
    pub path: String,
    /// The static segments before the route's first parameter, e.g. `vehicles`,
    /// `dispatch/jobs`.
    pub entity_type: String,
    /// The route's parameter, or the `id` a create answered with.
    pub entity_id: Option<String>,
    /// The HTTP status answered.
    pub status: i16,
    /// `succeeded`, `refused` (4xx) or `failed` (5xx).
    pub outcome: String,
    pub request_id: Option<String>,
    /// The request's JSON fields, secrets redacted.
    pub changes: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only this entity type (`vehicles`, `rentals`, `dispatch/jobs`...).
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub entity: Option<String>,
    /// Only this entity id (with or without `entity`).
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub entity_id: Option<String>,
    /// Only requests of this user.
    pub user: Option<Uuid>,
    /// Only at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only before this time.
    pub to: Option<DateTime<Utc>>,
}

const LIST: &str = "SELECT id, at, user_id, role, ip, method, route, path, entity_type, entity_id,
                           status, outcome, request_id, changes
                      FROM audit_log
                     WHERE ($1::bigint IS NULL OR id < $1)
                       AND ($2::text IS NULL OR entity_type = $2)
                       AND ($3::text IS NULL OR entity_id = $3)
                       AND ($4::uuid IS NULL OR user_id = $4)
                       AND ($5::timestamptz IS NULL OR at >= $5)
                       AND ($6::timestamptz IS NULL OR at < $6)
                     ORDER BY id DESC LIMIT $7";

fn nul_free(field: &str, v: &Option<String>) -> Result<(), ApiError> {
    match v {
        Some(s) if s.contains('\0') || s.len() > 200 => Err(ApiError::invalid(
            field,
            "at most 200 characters, without NUL",
        )),
        _ => Ok(()),
    }
}

async fn list(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Paged<AuditEntry>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let before: Option<i64> = page.after_key()?;
    nul_free("entity", &q.entity)?;
    nul_free("entity_id", &q.entity_id)?;
    let client = state.pool.get().await?;
    let rows = client
        .query(
            LIST,
            &[
                &before,
                &q.entity,
                &q.entity_id,
                &q.user,
                &q.from,
                &q.to,
                &page.fetch(),
            ],
        )
        .await?;
    let items: Vec<AuditEntry> = rows
        .iter()
        .map(|r| AuditEntry {
            id: r.get("id"),
            at: r.get("at"),
            user_id: r.get("user_id"),
            role: r.get("role"),
            ip: r.get::<_, Option<IpAddr>>("ip").map(|ip| ip.to_string()),
            method: r.get("method"),
            route: r.get("route"),
            path: r.get("path"),
            entity_type: r.get("entity_type"),
            entity_id: r.get("entity_id"),
            status: r.get("status"),
            outcome: r.get("outcome"),
            request_id: r.get("request_id"),
            changes: r.get("changes"),
        })
        .collect();
    Ok(Json(page.finish(items, |e| e.id.to_string())))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::list::<AuditEntry, AuditQuery>(
            "/v1/audit",
            "The audit trail of state-changing requests, newest first (admins)",
            ADMIN,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                (
                    "entity",
                    "only this entity type (vehicles, rentals, dispatch/jobs...)",
                ),
                ("entity_id", "only this entity id"),
                ("user", "only this user's requests"),
                ("from", "only at or after this time (RFC 3339)"),
                ("to", "only before this time (RFC 3339)"),
            ],
        ),
        list,
    )
}
