//! `GET /v1/maintenance/due` (staff): every (schedule, vehicle) pair that is due or overdue
//! (or in the state asked for), most urgent first, from [`crate::maintenance::due_list`].

use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::auth::{Caller, STAFF};
use crate::api::error::ApiError;
use crate::api::extract::{ApiQuery, NO_NUL_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::maintenance::{due_list, DueFilter, DueItem, DueKey, DueStatus};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DueQuery {
    /// Only pairs in this state (default: `due` and `overdue`).
    pub status: Option<DueStatus>,
    /// Only this vehicle's.
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub vehicle_id: Option<String>,
    /// Only this schedule's.
    pub schedule_id: Option<Uuid>,
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

async fn due(
    _: Caller,
    Now(now): Now,
    db: Db,
    ApiQuery(q): ApiQuery<DueQuery>,
) -> Result<Json<Paged<DueItem>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let after = page
        .after
        .as_deref()
        .map(|a| DueKey::decode(a).ok_or_else(|| ApiError::invalid("cursor", "not a cursor")))
        .transpose()?;
    let filter = DueFilter {
        vehicle_id: q.vehicle_id,
        schedule_id: q.schedule_id,
        statuses: match q.status {
            Some(s) => vec![s],
            None => vec![DueStatus::Due, DueStatus::Overdue],
        },
        after,
        limit: Some(page.fetch()),
    };
    let tx = db.tx().await?;
    let items = due_list(&*tx, now, &filter).await?;
    Ok(Json(page.finish(items, |i| i.key().encode())))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::list::<DueItem, DueQuery>(
            "/v1/maintenance/due",
            "Preventive maintenance due or overdue: each schedule for each vehicle it applies \
             to, with the due odometer and date, what remains, and the last linked job; \
             overdue first, then due, each by the share of its interval used",
            STAFF,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("status", "ok, due or overdue (default: due and overdue)"),
                ("vehicle_id", "only this vehicle's"),
                ("schedule_id", "only this schedule's"),
            ],
        ),
        due,
    )
}
