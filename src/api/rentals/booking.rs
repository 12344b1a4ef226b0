//! Rentals: reserve, read and list (quotes: [`super::quote`]). The lifecycle after reserving
//! (activate, complete, cancel, payments) is in [`super::flow`].
//!
//! A reservation is one transaction: the rental row, its `vehicle_commitments` row (the
//! exclusion constraint refuses an overlap with any rental, maintenance window or
//! assignment of the vehicle) and its charges, fixed at the quoted prices.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ends::Ends;
use super::ledger::{add_charges, charges_of, payments_of, taxes_of, Payment};
use super::plans;
use super::pricing::{self, LineItem};
use crate::api::auth::{Caller, Role};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{
    int_range, vehicle_id, window, ApiJson, ApiQuery, NO_NUL_PATTERN, VEHICLE_ID_PATTERN,
};
use crate::api::fleet::customers::{check_active, own_customer};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::rules::commitments::{self, Kind};
use crate::events::{self, Kind as Event};

/// Longest rental window.
pub const MAX_DAYS: i64 = 366;
pub const RENTERS: &[Role] = &[Role::Admin, Role::Dispatcher, Role::Customer];

/// A rental with its charges, payments and balance (charges + invoiced tax − captured
/// payments + refunds, which the ledger's receivable for the rental always equals).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Rental {
    pub id: Uuid,
    pub vehicle_id: String,
    pub customer_id: Uuid,
    pub plan_id: Uuid,
    /// Where it starts and ends (`destination_location_id` ≠ origin: one-way); both null
    /// for a rental that names no locations.
    pub origin_location_id: Option<Uuid>,
    pub destination_location_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub estimated_km: i64,
    /// `reserved`, `active`, `completed`, `cancelled` or `no_show`.
    pub status: RentalStatus,
    pub odometer_out: Option<i64>,
    pub odometer_in: Option<i64>,
    pub activated_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    pub currency: String,
    pub charges: Vec<LineItem>,
    /// Every payment, pending and failed ones included, each with its refunds.
    pub payments: Vec<Payment>,
    pub total_charged: i64,
    /// The tax of its invoices that are not void (docs/invoices.md).
    pub total_tax: i64,
    /// Captured payments less their refunds.
    pub total_paid: i64,
    /// The refunds of its payments.
    pub total_refunded: i64,
    /// `total_charged + total_tax − total_paid`: what the customer owes (negative: what the
    /// fleet owes).
    pub balance: i64,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/rentals` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reserve {
    #[schemars(length(min = 1, max = 64), regex(pattern = VEHICLE_ID_PATTERN))]
    pub vehicle_id: String,
    /// Required for staff; a customer reserves for itself and may omit it.
    pub customer_id: Option<Uuid>,
    pub plan_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// 0..=10,000,000.
    #[schemars(range(min = 0, max = 10_000_000))]
    pub estimated_km: i64,
    /// Where the rental starts (an existing location).
    pub origin_location_id: Option<Uuid>,
    /// Where it ends (default: the origin; needs `origin_location_id`). The plan's
    /// `one_way_fee` is charged when it differs from the origin.
    pub destination_location_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub vehicle_id: Option<String>,
    pub customer_id: Option<Uuid>,
    pub status: Option<RentalStatus>,
}

crate::text_enum! {
    /// A rental's state: `reserved → active → completed`, or `cancelled` before it is active,
    /// or `no_show` when it was not activated within `rentals.no_show_hours` of its start.
    pub enum RentalStatus {
        Reserved => "reserved",
        Active => "active",
        Completed => "completed",
        Cancelled => "cancelled",
        NoShow => "no_show",
    }
}

const COLUMNS: &str = "r.id, r.vehicle_id, r.customer_id, r.plan_id, r.origin_location_id, \
     r.destination_location_id, r.starts_at, r.ends_at, r.estimated_km, r.status, \
     r.odometer_out, r.odometer_in, r.activated_at, r.returned_at, r.currency, r.created_at";
/// Staff see all; a customer sees only rentals of its own customer profile.
const VISIBLE: &str =
    "($1::uuid IS NULL OR r.customer_id IN (SELECT id FROM customers WHERE user_id = $1))";
const GET_VISIBLE: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM rentals r WHERE ",
    VISIBLE,
    " AND r.id = $2"
);
const INSERT: &str = "INSERT INTO rentals (id, vehicle_id, customer_id, plan_id, starts_at,
                                           ends_at, estimated_km, currency, origin_location_id,
                                           destination_location_id)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM rentals r
     WHERE ",
    VISIBLE,
    " AND ($2::uuid IS NULL OR r.id > $2)
       AND ($3::text IS NULL OR r.vehicle_id = $3)
       AND ($4::uuid IS NULL OR r.customer_id = $4)
       AND ($5::text IS NULL OR r.status = $5)
     ORDER BY r.id LIMIT $6"
);

pub(super) fn check_request(
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    estimated_km: i64,
) -> Result<(), ApiError> {
    window(starts_at, ends_at, MAX_DAYS)?;
    int_range("estimated_km", estimated_km, 0, 10_000_000)
}

/// Rentals from their rows, with charges, payments, refunds and invoiced tax: four queries
/// for any number of rows (a list page never costs a query per item).
async fn assemble(
    client: &tokio_postgres::Client,
    rows: &[tokio_postgres::Row],
) -> Result<Vec<Rental>, ApiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
    let mut charges = charges_of(client, &ids).await?;
    let mut payments = payments_of(client, &ids).await?;
    let taxes = taxes_of(client, &ids).await?;
    rows.iter()
        .zip(ids)
        .map(|(row, id)| {
            let charges = charges.remove(&id).unwrap_or_default();
            let payments = payments.remove(&id).unwrap_or_default();
            let total_charged = pricing::total(&charges)?;
            let total_paid: i64 = payments.iter().map(Payment::net).sum();
            let total_refunded: i64 = payments.iter().map(|p| p.refunded).sum();
            let total_tax = taxes.get(&id).copied().unwrap_or(0);
            Ok(Rental {
                id,
                vehicle_id: row.get("vehicle_id"),
                customer_id: row.get("customer_id"),
                plan_id: row.get("plan_id"),
                origin_location_id: row.get("origin_location_id"),
                destination_location_id: row.get("destination_location_id"),
                starts_at: row.get("starts_at"),
                ends_at: row.get("ends_at"),
                estimated_km: row.get("estimated_km"),
                status: row.get("status"),
                odometer_out: row.get("odometer_out"),
                odometer_in: row.get("odometer_in"),
                activated_at: row.get("activated_at"),
                returned_at: row.get("returned_at"),
                currency: row.get("currency"),
                charges,
                payments,
                total_charged,
                total_tax,
                total_paid,
                total_refunded,
                balance: total_charged + total_tax - total_paid,
                created_at: row.get("created_at"),
            })
        })
        .collect()
}

/// The rental `id` if the caller may see it; 404 otherwise (also for another customer's).
pub async fn load(
    client: &tokio_postgres::Client,
    caller: &Caller,
    id: Uuid,
) -> Result<Rental, ApiError> {
    let own = (!caller.is_staff()).then_some(caller.user_id);
    let row = client
        .query_opt(GET_VISIBLE, &[&own, &id])
        .await?
        .ok_or_else(|| ApiError::not_found("rental"))?;
    let mut one = assemble(client, &[row]).await?;
    Ok(one.pop().expect("one row, one rental"))
}

pub fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("rental"))
}

async fn reserve(
    caller: Caller,
    Now(now): Now,
    db: Db,
    ApiJson(req): ApiJson<Reserve>,
) -> Result<(StatusCode, Json<Rental>), ApiError> {
    vehicle_id("vehicle_id", &req.vehicle_id)?;
    check_request(req.starts_at, req.ends_at, req.estimated_km)?;
    let ends = Ends::from_request(req.origin_location_id, req.destination_location_id)?;
    let tx = db.tx().await?;
    let customer = if caller.is_staff() {
        req.customer_id
            .ok_or_else(|| ApiError::invalid("customer_id", "required"))?
    } else {
        let own = own_customer(&tx, &caller).await?;
        if req.customer_id.is_some_and(|c| c != own) {
            return Err(ApiError::forbidden("customers reserve only for themselves"));
        }
        own
    };
    check_active(&tx, &caller, customer).await?;
    let plan = plans::fetch_active(&*tx, req.plan_id, "plan_id").await?;
    ends.check(&*tx).await?;
    let q = pricing::quote(
        &plan.terms,
        &plan.currency,
        req.starts_at,
        req.ends_at,
        req.estimated_km,
        ends.one_way(),
    )?;
    let id = Uuid::new_v4();
    commitments::lock_vehicle(&tx, &req.vehicle_id).await?;
    commitments::check_back(&tx, &req.vehicle_id, now).await?;
    tx.execute(
        INSERT,
        &[
            &id,
            &req.vehicle_id,
            &customer,
            &plan.id,
            &req.starts_at,
            &req.ends_at,
            &req.estimated_km,
            &plan.currency,
            &ends.origin,
            &ends.destination,
        ],
    )
    .await
    .map_err(|e| match ApiError::from(e) {
        e if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            ApiError::invalid("customer_id", "no such customer")
        }
        e => e,
    })?;
    commitments::claim_vehicle(
        &tx,
        &req.vehicle_id,
        Kind::Rental,
        id,
        req.starts_at,
        req.ends_at,
    )
    .await?;
    add_charges(&tx, Event::RentalReserved, id, &plan.currency, &q.items).await?;
    let rental = load(&tx, &caller, id).await?;
    emit(&tx, Event::RentalReserved, &rental).await?;
    Ok((StatusCode::CREATED, Json(rental)))
}

/// `rental.*`: `{rental}` as the API shows it, after the change.
pub async fn emit(
    client: &tokio_postgres::Client,
    kind: Event,
    rental: &Rental,
) -> Result<(), ApiError> {
    let body = serde_json::json!({ "rental": rental });
    events::emit(client, kind, &rental.id.to_string(), body).await?;
    Ok(())
}

/// [`emit`] for a rental the caller has not loaded (the time rules' no-shows).
pub async fn emit_loaded(
    client: &tokio_postgres::Client,
    kind: Event,
    id: Uuid,
) -> Result<(), ApiError> {
    let row = client.query_one(GET_VISIBLE, &[&None::<Uuid>, &id]).await?;
    let rental = assemble(client, &[row])
        .await?
        .pop()
        .expect("one row, one rental");
    emit(client, kind, &rental).await
}

async fn get(db: Db, caller: Caller, Path(id): Path<String>) -> Result<Json<Rental>, ApiError> {
    let client = db.tx().await?;
    load(&client, &caller, parse_id(&id)?).await.map(Json)
}

async fn list(
    db: Db,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Rental>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let own = (!caller.is_staff()).then_some(caller.user_id);
    let client = db.tx().await?;
    let rows = client
        .query(
            LIST,
            &[
                &own,
                &page.after_uuid()?,
                &q.vehicle_id,
                &q.customer_id,
                &q.status.map(RentalStatus::as_str),
                &page.fetch(),
            ],
        )
        .await?;
    let items = assemble(&client, &rows).await?;
    Ok(Json(page.finish(items, |r| r.id.to_string())))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::create::<Reserve, Rental>(
            "/v1/rentals",
            "Reserve a vehicle (charges fixed at the quote; 409 on overlap, and \
             vehicle_overdue while the vehicle is out past its bookings)",
            RENTERS,
        )
        .conflicts(&[
            ErrorCode::Overlap,
            ErrorCode::VehicleDecommissioned,
            ErrorCode::VehicleOverdue,
        ]),
        reserve,
    )
    .add(
        RouteDoc::list::<Rental, ListQuery>(
            "/v1/rentals",
            "List rentals (customers: their own)",
            RENTERS,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("vehicle_id", "only this vehicle's"),
                ("customer_id", "only this customer's"),
                (
                    "status",
                    "reserved, active, completed, cancelled or no_show",
                ),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<Rental>(
            "/v1/rentals/{id}",
            "A rental with charges and balance",
            RENTERS,
        ),
        get,
    )
}
