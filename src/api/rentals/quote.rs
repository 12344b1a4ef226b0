//! `POST /v1/rentals/quote`: the itemised price of a window under a plan, with the one-way fee
//! when the rental would end at another location than it starts. Nothing is stored; reserving
//! the same request charges exactly these items.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::booking::check_request;
use super::ends::Ends;
use super::plans;
use super::pricing::{self, Quote};
use crate::api::auth::{Caller, ANY};
use crate::api::error::ApiError;
use crate::api::extract::ApiJson;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;

/// `POST /v1/rentals/quote` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub plan_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// 0..=10,000,000.
    #[schemars(range(min = 0, max = 10_000_000))]
    pub estimated_km: i64,
    /// Where the rental would start (an existing location).
    pub origin_location_id: Option<Uuid>,
    /// Where it would end (default: the origin; needs `origin_location_id`).
    pub destination_location_id: Option<Uuid>,
}

async fn quote(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiJson(req): ApiJson<QuoteRequest>,
) -> Result<Json<Quote>, ApiError> {
    check_request(req.starts_at, req.ends_at, req.estimated_km)?;
    let ends = Ends::from_request(req.origin_location_id, req.destination_location_id)?;
    let client = state.pool.get().await?;
    let plan = plans::fetch_active(&**client, req.plan_id, "plan_id").await?;
    ends.check(&**client).await?;
    pricing::quote(
        &plan.terms,
        &plan.currency,
        req.starts_at,
        req.ends_at,
        req.estimated_km,
        ends.one_way(),
    )
    .map(Json)
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            success: 200,
            errors: &[400, 413, 422],
            ..RouteDoc::create::<QuoteRequest, Quote>(
                "/v1/rentals/quote",
                "Itemised price for a window (with the plan's one_way_fee when the destination \
                 differs from the origin)",
                ANY,
            )
        },
        quote,
    )
}
