//! A dispatch job's transitions over HTTP: accept and decline an offer, pick up, complete and
//! cancel, each applied by [`crate::dispatch::jobs::apply`] in the request's transaction at
//! the application clock's time.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use uuid::Uuid;

use super::jobs::{own_driver, visible, JobView, CREATORS};
use crate::api::auth::{Caller, Role};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::middleware::txn::Db;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;
use crate::dispatch::jobs::{self, Action};

const DRIVER: &[Role] = &[Role::Driver];
const DRIVER_OR_STAFF: &[Role] = &[Role::Admin, Role::Dispatcher, Role::Driver];

/// Applies a caller's action to a job they may act on.
async fn act(
    state: &AppState,
    caller: &Caller,
    db: Db,
    id: &str,
    action: Action,
) -> Result<Json<JobView>, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("job"))?;
    let tx = db.tx().await?;
    let driver = own_driver(&tx, caller).await?;
    let now = state.clock.now();
    let job = jobs::lock(&*tx, id)
        .await?
        .filter(|j| visible(caller, driver, j))
        .ok_or_else(|| ApiError::not_found("job"))?;
    let holder = driver.is_some() && job.driver_id == driver;
    let allowed = match action {
        Action::Accept | Action::Decline | Action::PickUp => holder,
        Action::Complete => holder || caller.is_staff(),
        Action::Cancel => caller.role != Role::Driver,
        _ => false,
    };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "role {} may not have this job {}",
            caller.role.as_str(),
            action.reason().as_str()
        )));
    }
    if action == Action::Accept && job.due_at.is_some_and(|d| d <= now) {
        return Err(ApiError::new(
            ErrorCode::OfferExpired,
            "the offer has expired",
        ));
    }
    let updated = jobs::apply(&*tx, &job, action, now, None).await?;
    let history = jobs::events(&*tx, id).await?;
    // A decline puts the job back to `pending`: its notification wakes the matcher.
    Ok(Json(JobView::new(updated, Some(history))))
}

async fn accept(
    State(s): State<Arc<AppState>>,
    c: Caller,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    act(&s, &c, db, &id, Action::Accept).await
}

async fn decline(
    State(s): State<Arc<AppState>>,
    c: Caller,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    act(&s, &c, db, &id, Action::Decline).await
}

async fn pickup(
    State(s): State<Arc<AppState>>,
    c: Caller,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    act(&s, &c, db, &id, Action::PickUp).await
}

async fn complete(
    State(s): State<Arc<AppState>>,
    c: Caller,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    act(&s, &c, db, &id, Action::Complete).await
}

async fn cancel(
    State(s): State<Arc<AppState>>,
    c: Caller,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    act(&s, &c, db, &id, Action::Cancel).await
}

pub fn routes(r: Routes) -> Routes {
    let step = |path, summary, roles| RouteDoc {
        response: Some(|g: &mut schemars::SchemaGenerator| g.subschema_for::<JobView>()),
        errors: &[404],
        ..RouteDoc::new("POST", path, summary, roles)
    };
    r.add(
        step(
            "/v1/dispatch/jobs/{id}/accept",
            "Accept an offer (the offered driver)",
            DRIVER,
        )
        .conflicts(&[ErrorCode::IllegalTransition, ErrorCode::OfferExpired]),
        accept,
    )
    .add(
        step(
            "/v1/dispatch/jobs/{id}/decline",
            "Decline an offer (the offered driver)",
            DRIVER,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        decline,
    )
    .add(
        step(
            "/v1/dispatch/jobs/{id}/pickup",
            "Mark picked up (the assigned driver)",
            DRIVER,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        pickup,
    )
    .add(
        step(
            "/v1/dispatch/jobs/{id}/complete",
            "Complete (the driver, or staff)",
            DRIVER_OR_STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        complete,
    )
    .add(
        step(
            "/v1/dispatch/jobs/{id}/cancel",
            "Cancel (staff, or the customer who created it)",
            CREATORS,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        cancel,
    )
}
