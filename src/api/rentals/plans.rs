//! Pricing plans: created by admins, read by anyone, renamed or deactivated but never
//! repriced. A plan's terms are fixed once it exists, because a rental keeps using its plan
//! after reserving (completion, cancellation, no-show): changing the terms would change what
//! existing rentals cost. To change prices, create a new plan and deactivate the old one; a
//! deactivated plan quotes and reserves nothing new, and its rentals run on unchanged.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::pricing::Terms;
use crate::api::auth::{Caller, ADMIN, ANY};
use crate::api::error::ApiError;
use crate::api::extract::{
    currency, int_range, money, text, ApiJson, ApiQuery, CURRENCY_PATTERN, MAX_MONEY, TEXT_PATTERN,
};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged, PARAMS};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;

/// A pricing plan.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Plan {
    pub id: Uuid,
    pub name: String,
    pub currency: String,
    #[serde(flatten)]
    pub terms: Terms,
    /// Tax on its rentals' invoices, basis points of the net (2000 = 20 %), exclusive.
    pub tax_bp: i32,
    /// `false`: quotes and reserves nothing new; its rentals run on unchanged.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// `PATCH /v1/pricing-plans/{id}` body: a new name, or (de)activation. The terms never change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlan {
    #[schemars(length(max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: Option<String>,
    pub active: Option<bool>,
}

/// `POST /v1/pricing-plans` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlan {
    #[schemars(length(max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: String,
    /// ISO 4217 code.
    #[schemars(regex(pattern = CURRENCY_PATTERN))]
    pub currency: String,
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub daily_rate: i64,
    #[schemars(range(min = 0, max = 100_000))]
    pub included_km_per_day: i64,
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub extra_km_rate: i64,
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub late_fee_per_hour: i64,
    /// At most a year (8760 hours).
    #[schemars(range(min = 0, max = 8760))]
    pub free_cancellation_hours: i32,
    #[schemars(range(min = 0, max = 100))]
    pub cancellation_fee_pct: i32,
    /// Charged once when a rental ends at another location than it starts (default 0: none).
    #[serde(default)]
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub one_way_fee: i64,
    /// Tax on its rentals' invoices in basis points of the net, 0..=10000 (2000 = 20 %;
    /// default 0: none). Fixed with the other terms.
    #[serde(default)]
    #[schemars(range(min = 0, max = 10_000))]
    pub tax_bp: i32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub const COLUMNS: &str = "id, name, currency, daily_rate, included_km_per_day, extra_km_rate, \
                           late_fee_per_hour, free_cancellation_hours, cancellation_fee_pct, \
                           one_way_fee, tax_bp, active, created_at";
const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM pricing_plans WHERE id = $1");
const UPDATE: &str = concatcp!(
    "UPDATE pricing_plans SET name = coalesce($2, name), active = coalesce($3, active)
     WHERE id = $1 RETURNING ",
    COLUMNS
);
const INSERT: &str = concatcp!(
    "INSERT INTO pricing_plans (id, name, currency, daily_rate, included_km_per_day,
        extra_km_rate, late_fee_per_hour, free_cancellation_hours, cancellation_fee_pct,
        one_way_fee, tax_bp)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ",
    COLUMNS
);
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM pricing_plans WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
);

pub fn from_row(row: &tokio_postgres::Row) -> Plan {
    Plan {
        id: row.get("id"),
        name: row.get("name"),
        currency: row.get("currency"),
        terms: Terms {
            daily_rate: row.get("daily_rate"),
            included_km_per_day: row.get("included_km_per_day"),
            extra_km_rate: row.get("extra_km_rate"),
            late_fee_per_hour: row.get("late_fee_per_hour"),
            free_cancellation_hours: row.get("free_cancellation_hours"),
            cancellation_fee_pct: row.get("cancellation_fee_pct"),
            one_way_fee: row.get("one_way_fee"),
        },
        tax_bp: row.get("tax_bp"),
        active: row.get("active"),
        created_at: row.get("created_at"),
    }
}

/// Plan `id`, or 422 naming `field`.
pub async fn fetch<C: tokio_postgres::GenericClient>(
    client: &C,
    id: Uuid,
    field: &str,
) -> Result<Plan, ApiError> {
    let row = client
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::invalid(field, "no such pricing plan"))?;
    Ok(from_row(&row))
}

/// Plan `id` for a new quote or reservation: 422 naming `field` when it does not exist or
/// is deactivated.
pub async fn fetch_active<C: tokio_postgres::GenericClient>(
    client: &C,
    id: Uuid,
    field: &str,
) -> Result<Plan, ApiError> {
    let plan = fetch(client, id, field).await?;
    if !plan.active {
        return Err(ApiError::invalid(
            field,
            "the pricing plan is deactivated; choose an active one",
        ));
    }
    Ok(plan)
}

async fn create(
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreatePlan>,
) -> Result<(StatusCode, Json<Plan>), ApiError> {
    let name = text("name", &req.name, 200)?;
    currency("currency", &req.currency)?;
    money("daily_rate", req.daily_rate)?;
    money("extra_km_rate", req.extra_km_rate)?;
    money("late_fee_per_hour", req.late_fee_per_hour)?;
    money("one_way_fee", req.one_way_fee)?;
    int_range("included_km_per_day", req.included_km_per_day, 0, 100_000)?;
    int_range("tax_bp", req.tax_bp.into(), 0, 10_000)?;
    int_range(
        "free_cancellation_hours",
        req.free_cancellation_hours.into(),
        0,
        24 * 365,
    )?;
    int_range(
        "cancellation_fee_pct",
        req.cancellation_fee_pct.into(),
        0,
        100,
    )?;
    let row = db
        .tx()
        .await?
        .query_one(
            INSERT,
            &[
                &Uuid::new_v4(),
                &name,
                &req.currency,
                &req.daily_rate,
                &req.included_km_per_day,
                &req.extra_km_rate,
                &req.late_fee_per_hour,
                &req.free_cancellation_hours,
                &req.cancellation_fee_pct,
                &req.one_way_fee,
                &req.tax_bp,
            ],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(from_row(&row))))
}

async fn list(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Plan>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let client = state.pool.get().await?;
    let rows = client
        .query(LIST, &[&page.after_uuid()?, &page.fetch()])
        .await?;
    let items: Vec<Plan> = rows.iter().map(from_row).collect();
    Ok(Json(page.finish(items, |p| p.id.to_string())))
}

async fn get(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Plan>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("pricing plan"))?;
    let client = state.pool.get().await?;
    let row = client
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("pricing plan"))?;
    Ok(Json(from_row(&row)))
}

async fn update(
    _: Caller,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdatePlan>,
) -> Result<Json<Plan>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("pricing plan"))?;
    let name = req
        .name
        .as_deref()
        .map(|n| text("name", n, 200))
        .transpose()?;
    let row = db
        .tx()
        .await?
        .query_opt(UPDATE, &[&id, &name, &req.active])
        .await?
        .ok_or_else(|| ApiError::not_found("pricing plan"))?;
    Ok(Json(from_row(&row)))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            errors: &[400, 413, 422],
            ..RouteDoc::create::<CreatePlan, Plan>(
                "/v1/pricing-plans",
                "Create a pricing plan",
                ADMIN,
            )
        },
        create,
    )
    .add(
        RouteDoc::list::<Plan, ListQuery>("/v1/pricing-plans", "List pricing plans", ANY, PARAMS),
        list,
    )
    .add(
        RouteDoc::read::<Plan>("/v1/pricing-plans/{id}", "A pricing plan", ANY),
        get,
    )
    .add(
        RouteDoc::change::<UpdatePlan, Plan>(
            "PATCH",
            "/v1/pricing-plans/{id}",
            "Rename or (de)activate a pricing plan; its terms never change (a deactivated plan \
             quotes and reserves nothing new, its rentals run on unchanged)",
            ADMIN,
        ),
        update,
    )
}
