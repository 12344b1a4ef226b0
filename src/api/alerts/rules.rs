//! `/v1/alert-rules` (admins and dispatchers): create, list (by kind, enabled), read, change
//! and delete rules. Each write notifies `fleetd_alert_rules` (a trigger, migration 24), so
//! evaluators reload the rule; disabling or deleting a rule resolves its alerts not yet
//! resolved (by the caller, `alert.resolved`), and a deleted rule's alerts stay as history.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::model::{CreateRule, CreateRuleDoc, UpdateRule};
use crate::alerts::rules::{self, CheckError, DEFAULT_CLEAR_S};
use crate::alerts::{store, Params, Rule, RuleKind, Scope};
use crate::api::auth::{Caller, STAFF};
use crate::api::error::ApiError;
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::AppState;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleListQuery {
    /// Only rules of this kind.
    pub kind: Option<RuleKind>,
    /// Only enabled (true) or disabled (false) rules.
    pub enabled: Option<bool>,
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The id in a path (404 when it is not a UUID).
fn id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("alert rule"))
}

fn from_row(row: &tokio_postgres::Row) -> Result<Rule, ApiError> {
    Rule::from_row(row).map_err(ApiError::internal)
}

impl From<CheckError> for ApiError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Invalid(e) => e.into(),
            CheckError::Db(e) => e.into(),
        }
    }
}

/// A rule from checked fields.
#[allow(clippy::too_many_arguments)]
fn rule(
    id: Uuid,
    name: &str,
    kind: RuleKind,
    params: &Value,
    scope: &Scope,
    clear_s: i64,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<Rule, ApiError> {
    let name = rules::name(name)?;
    let params = Params::parse(kind, params)?;
    let scope = scope.checked(kind, &params)?;
    let clear_s = rules::clear_s(clear_s)?;
    Ok(Rule {
        id,
        name,
        kind,
        params,
        scope,
        clear_s,
        enabled,
        created_at,
        updated_at,
    })
}

async fn create(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreateRule>,
) -> Result<(StatusCode, Json<Rule>), ApiError> {
    let now = state.clock.now();
    let rule = rule(
        Uuid::new_v4(),
        &req.name,
        req.kind,
        &req.params,
        &req.scope.into(),
        req.clear_s.unwrap_or(i64::from(DEFAULT_CLEAR_S)),
        req.enabled.unwrap_or(true),
        now,
        now,
    )?;
    let tx = db.tx().await?;
    rules::check_fences(&*tx, &rule).await?;
    rules::write(&*tx, &rule).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

async fn list(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<RuleListQuery>,
) -> Result<Json<Paged<Rule>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let tx = db.tx().await?;
    let rows = rules::list(&*tx, page.after_uuid()?, page.fetch(), q.kind, q.enabled).await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Json(page.finish(items, |r: &Rule| r.id.to_string())))
}

async fn get(_: Caller, db: Db, Path(raw): Path<String>) -> Result<Json<Rule>, ApiError> {
    let id = id(&raw)?;
    let row = rules::get(&*db.tx().await?, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("alert rule"))?;
    Ok(Json(from_row(&row)?))
}

async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    db: Db,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateRule>,
) -> Result<Json<Rule>, ApiError> {
    let id = id(&raw)?;
    let tx = db.tx().await?;
    let old = rules::get(&*tx, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("alert rule"))?;
    let old = from_row(&old)?;
    let now = state.clock.now();
    let rescoped = req.scope.is_some() || req.params.is_some();
    let new = rule(
        id,
        req.name.as_deref().unwrap_or(&old.name),
        old.kind,
        req.params.as_ref().unwrap_or(&old.params.to_value()),
        &req.scope.map(Scope::from).unwrap_or(old.scope.clone()),
        req.clear_s.unwrap_or(i64::from(old.clear_s)),
        req.enabled.unwrap_or(old.enabled),
        old.created_at,
        now,
    )?;
    // A fence deleted since does not block a change that leaves the scope alone.
    if rescoped {
        rules::check_fences(&*tx, &new).await?;
    }
    if old.enabled && !new.enabled {
        store::resolve_rule(&*tx, id, caller.user_id, now).await?;
    }
    rules::write(&*tx, &new).await?;
    Ok(Json(new))
}

async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    db: Db,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id(&raw)?;
    let tx = db.tx().await?;
    if rules::get(&*tx, id, true).await?.is_none() {
        return Err(ApiError::not_found("alert rule"));
    }
    store::resolve_rule(&*tx, id, caller.user_id, state.clock.now()).await?;
    rules::delete(&*tx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::create::<CreateRuleDoc, Rule>(
            "/v1/alert-rules",
            "Create an alert rule: a kind with its parameters, a scope and a clear time",
            STAFF,
        ),
        create,
    )
    .add(
        RouteDoc::list::<Rule, RuleListQuery>(
            "/v1/alert-rules",
            "List alert rules",
            STAFF,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("kind", "only rules of this kind"),
                ("enabled", "only enabled (true) or disabled (false) rules"),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<Rule>("/v1/alert-rules/{id}", "An alert rule", STAFF),
        get,
    )
    .add(
        RouteDoc::change::<UpdateRule, Rule>(
            "PATCH",
            "/v1/alert-rules/{id}",
            "Change an alert rule (not its kind); disabling it resolves its alerts",
            STAFF,
        ),
        update,
    )
    .add(
        RouteDoc::delete(
            "/v1/alert-rules/{id}",
            "Delete an alert rule; its alerts not yet resolved are resolved, all kept",
            STAFF,
        ),
        delete,
    )
}
