//! `/v1/alerts` (admins and dispatchers): alerts newest first (by status, kind, vehicle),
//! one alert, and the hands' transitions: acknowledge (an open alert; it keeps counting
//! sightings) and resolve (an open or acknowledged one; a later sighting opens a new alert).
//! Both answer 409 `illegal_transition` naming the alert's state when it does not allow them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use crate::alerts::model::COLUMNS;
use crate::alerts::{store, Alert, AlertError, AlertStatus, RuleKind};
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{vehicle_id, ApiQuery, VEHICLE_ID_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::AppState;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertListQuery {
    /// Only alerts in this state.
    pub status: Option<AlertStatus>,
    /// Only alerts of this kind.
    pub kind: Option<RuleKind>,
    /// Only alerts about this vehicle.
    #[schemars(regex(pattern = VEHICLE_ID_PATTERN))]
    pub vehicle_id: Option<String>,
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM alerts WHERE id = $1");
/// Newest first: by `opened_at`, then id, both descending; the cursor is the last item's.
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM alerts
     WHERE ($1::timestamptz IS NULL OR (opened_at, id) < ($1, $2::uuid))
       AND ($3::text IS NULL OR status = $3)
       AND ($4::text IS NULL OR kind = $4)
       AND ($5::text IS NULL OR (subject_type = 'vehicle' AND subject_id = $5))
     ORDER BY opened_at DESC, id DESC LIMIT $6"
);

fn id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("alert"))
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::NotFound => ApiError::not_found("alert"),
            AlertError::Already(state) => ApiError::new(
                ErrorCode::IllegalTransition,
                format!("alert is already {state}"),
            )
            .with_detail("status", state),
            AlertError::Db(e) => e.into(),
        }
    }
}

/// The cursor's key: `opened_at` in microseconds and the id.
fn key(a: &Alert) -> String {
    format!("{}_{}", a.opened_at.timestamp_micros(), a.id)
}

fn after(page: &Page) -> Result<(Option<DateTime<Utc>>, Option<Uuid>), ApiError> {
    let Some(raw) = page.after.as_deref() else {
        return Ok((None, None));
    };
    let bad = || ApiError::invalid("cursor", "not a cursor");
    let (us, id) = raw.split_once('_').ok_or_else(bad)?;
    let at = us
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok((Some(at), Some(id.parse().map_err(|_| bad())?)))
}

async fn list(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<AlertListQuery>,
) -> Result<Json<Paged<Alert>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let (at, last) = after(&page)?;
    if let Some(v) = &q.vehicle_id {
        vehicle_id("vehicle_id", v)?;
    }
    let rows = db
        .tx()
        .await?
        .query(
            LIST,
            &[
                &at,
                &last,
                &q.status.map(AlertStatus::as_str),
                &q.kind.map(RuleKind::as_str),
                &q.vehicle_id,
                &page.fetch(),
            ],
        )
        .await?;
    let items = rows.iter().map(Alert::from_row).collect();
    Ok(Json(page.finish(items, key)))
}

async fn get(_: Caller, db: Db, Path(raw): Path<String>) -> Result<Json<Alert>, ApiError> {
    let id = id(&raw)?;
    let row = db
        .tx()
        .await?
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("alert"))?;
    Ok(Json(Alert::from_row(&row)))
}

async fn acknowledge(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    db: Db,
    Path(raw): Path<String>,
) -> Result<Json<Alert>, ApiError> {
    let id = id(&raw)?;
    let tx = db.tx().await?;
    Ok(Json(
        store::acknowledge(&*tx, id, caller.user_id, state.clock.now()).await?,
    ))
}

async fn resolve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    db: Db,
    Path(raw): Path<String>,
) -> Result<Json<Alert>, ApiError> {
    let id = id(&raw)?;
    let tx = db.tx().await?;
    Ok(Json(
        store::resolve(&*tx, id, caller.user_id, state.clock.now()).await?,
    ))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::list::<Alert, AlertListQuery>(
            "/v1/alerts",
            "List alerts, newest first",
            STAFF,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                (
                    "status",
                    "only alerts in this state: open, acknowledged or resolved",
                ),
                ("kind", "only alerts of this rule kind"),
                ("vehicle_id", "only alerts about this vehicle"),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<Alert>("/v1/alerts/{id}", "An alert", STAFF),
        get,
    )
    .add(
        RouteDoc::step::<Alert>(
            "/v1/alerts/{id}/acknowledge",
            "Acknowledge an open alert (409 illegal_transition when acknowledged or resolved \
             already); it keeps counting sightings and resolves as before",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        acknowledge,
    )
    .add(
        RouteDoc::step::<Alert>(
            "/v1/alerts/{id}/resolve",
            "Resolve an alert by hand (409 illegal_transition when resolved already); a \
             later sighting of its condition opens a new alert",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        resolve,
    )
}
