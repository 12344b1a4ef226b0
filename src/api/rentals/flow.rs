//! A rental's life after reserving: activate (vehicle → rented, odometer out), complete
//! (odometer in, extra km and late fee charged, vehicle → active, the invoice of whatever is
//! not invoiced yet issued: [`crate::api::invoices::issue`]) and cancel (the plan's rule); payments are in [`super::payments`]. Every step is a compare-and-set on the rental's status inside one
//! transaction, so of two concurrent conflicting steps exactly one applies; the other is 409.

use axum::extract::Path;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::booking::{self, load, parse_id, Rental, RENTERS};
use super::ledger::{add_charges, charges};
use super::plans;
use super::pricing;
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{int_range, ApiJson};
use crate::api::invoices::issue::issue;
use crate::api::middleware::txn::{Db, Tx};
use crate::api::now::Now;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::rules::cas::compare_and_set;
use crate::api::rules::commitments::{self, Kind};
use crate::api::vehicles::model::VehicleStatus;
use crate::api::vehicles::status::{record_odometer, transition};
use crate::events::Kind as Event;

/// `$2` → `$3`, returning what the next steps need.
const STEP: &str =
    "UPDATE rentals SET status = $3, updated_at = now() WHERE id = $1 AND status = $2
                    RETURNING vehicle_id, plan_id, starts_at, ends_at, estimated_km, odometer_out,
                              activated_at, currency";
const STATUS: &str = "SELECT status FROM rentals WHERE id = $1";
const HAND_OVER: &str = "UPDATE rentals SET odometer_out = $2, activated_at = $3 WHERE id = $1";
const TAKE_BACK: &str = "UPDATE rentals SET odometer_in = $2, returned_at = $3 WHERE id = $1";

/// `POST /v1/rentals/{id}/activate` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    /// The odometer when the vehicle leaves.
    #[schemars(range(min = 0, max = 100_000_000))]
    pub odometer_km: i64,
}

/// `POST /v1/rentals/{id}/complete` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    /// The odometer on return; at least the odometer out.
    #[schemars(range(min = 0, max = 100_000_000))]
    pub odometer_km: i64,
    /// When the vehicle came back (default: now); not in the future.
    pub returned_at: Option<DateTime<Utc>>,
}

/// The rental's columns needed to move it on.
struct Current {
    vehicle_id: String,
    plan_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    estimated_km: i64,
    odometer_out: Option<i64>,
    activated_at: Option<DateTime<Utc>>,
    currency: String,
}

/// Moves rental `id` from `from` to `to` (compare-and-set); 404 or 409 otherwise.
async fn step(
    tx: &tokio_postgres::Client,
    id: Uuid,
    from: &str,
    to: &str,
) -> Result<Current, ApiError> {
    let r = compare_and_set(tx, STEP, &[&id, &from, &to], STATUS, "rental", to).await?;
    Ok(Current {
        vehicle_id: r.get(0),
        plan_id: r.get(1),
        starts_at: r.get(2),
        ends_at: r.get(3),
        estimated_km: r.get(4),
        odometer_out: r.get(5),
        activated_at: r.get(6),
        currency: r.get(7),
    })
}

async fn activate(
    caller: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Activate>,
) -> Result<Json<Rental>, ApiError> {
    let id = parse_id(&id)?;
    int_range("odometer_km", req.odometer_km, 0, 100_000_000)?;
    let tx = db.tx().await?;
    let cur = step(&tx, id, "reserved", "active").await?;
    commitments::start_now(&tx, &cur.vehicle_id, Kind::Rental, id, now).await?;
    transition(
        &tx,
        &cur.vehicle_id,
        &[VehicleStatus::Active],
        VehicleStatus::Rented,
    )
    .await?;
    record_odometer(&tx, &cur.vehicle_id, req.odometer_km, "rental_out", now).await?;
    tx.execute(HAND_OVER, &[&id, &req.odometer_km, &now])
        .await?;
    changed(&tx, &caller, id, Event::RentalActivated).await
}

/// The rental after a change, with its event emitted.
async fn changed(
    tx: &Tx,
    caller: &Caller,
    id: Uuid,
    kind: Event,
) -> Result<Json<Rental>, ApiError> {
    let rental = load(tx, caller, id).await?;
    booking::emit(tx, kind, &rental).await?;
    Ok(Json(rental))
}

async fn complete(
    caller: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Complete>,
) -> Result<Json<Rental>, ApiError> {
    let id = parse_id(&id)?;
    int_range("odometer_km", req.odometer_km, 0, 100_000_000)?;
    let returned_at = req.returned_at.unwrap_or(now);
    if returned_at > now + chrono::Duration::minutes(5) {
        return Err(ApiError::invalid(
            "returned_at",
            "must not be in the future",
        ));
    }
    let tx = db.tx().await?;
    let cur = step(&tx, id, "active", "completed").await?;
    let out = cur.odometer_out.unwrap_or(0);
    if req.odometer_km < out {
        return Err(ApiError::invalid(
            "odometer_km",
            format!("below the odometer out ({out} km)"),
        ));
    }
    if cur.activated_at.is_some_and(|a| returned_at < a) {
        return Err(ApiError::invalid(
            "returned_at",
            "before the rental was activated",
        ));
    }
    let plan = plans::fetch(&*tx, cur.plan_id, "plan_id").await?;
    let added = pricing::completion(
        &plan.terms,
        cur.starts_at,
        cur.ends_at,
        cur.estimated_km,
        req.odometer_km - out,
        returned_at,
    )?;
    add_charges(&tx, Event::RentalCompleted, id, &cur.currency, &added).await?;
    record_odometer(&tx, &cur.vehicle_id, req.odometer_km, "rental_in", now).await?;
    tx.execute(TAKE_BACK, &[&id, &req.odometer_km, &returned_at])
        .await?;
    commitments::release(&tx, Kind::Rental, id).await?;
    transition(
        &tx,
        &cur.vehicle_id,
        &[VehicleStatus::Rented],
        VehicleStatus::Active,
    )
    .await?;
    issue(&tx, id, now).await?;
    changed(&tx, &caller, id, Event::RentalCompleted).await
}

/// Staff, or the customer who owns the rental, may cancel while it is reserved.
async fn cancel(
    caller: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<Rental>, ApiError> {
    let id = parse_id(&id)?;
    let tx = db.tx().await?;
    load(&tx, &caller, id).await?; // 404 for another customer's rental
    let cur = step(&tx, id, "reserved", "cancelled").await?;
    let plan = plans::fetch(&*tx, cur.plan_id, "plan_id").await?;
    let charged = pricing::total(&charges(&*tx, id).await?)?;
    let added = pricing::cancellation(&plan.terms, charged, cur.starts_at, now)?;
    add_charges(&tx, Event::RentalCancelled, id, &cur.currency, &added).await?;
    commitments::release(&tx, Kind::Rental, id).await?;
    changed(&tx, &caller, id, Event::RentalCancelled).await
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::change::<Activate, Rental>(
            "POST",
            "/v1/rentals/{id}/activate",
            "Hand the vehicle over (vehicle → rented, odometer out). Early, the booking is \
             extended to begin now (409 overlap naming the commitment in the way); after the \
             window has ended, 409 window_ended",
            STAFF,
        )
        .conflicts(&[
            ErrorCode::IllegalTransition,
            ErrorCode::Overlap,
            ErrorCode::WindowEnded,
        ]),
        activate,
    )
    .add(
        RouteDoc::change::<Complete, Rental>(
            "POST",
            "/v1/rentals/{id}/complete",
            "Take the vehicle back (odometer in; extra km and late fee charged; the invoice of \
             the charges not yet invoiced issued)",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        complete,
    )
    .add(
        RouteDoc::step::<Rental>(
            "/v1/rentals/{id}/cancel",
            "Cancel a reservation (the plan's cancellation rule applies)",
            RENTERS,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        cancel,
    )
}
