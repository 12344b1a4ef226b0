//! Payments towards a rental: recorded captured at once (as before payments had states) or
//! `pending`, then captured or failed by staff. Each transition is a compare-and-set on the
//! payment's status (409 when it already moved), and capturing posts the payment to the
//! ledger and emits `payment.captured`, in the same transaction.
//!
//! Overpayment is refused: a capture may not take the rental's balance below zero (409
//! `overpayment`: a conflict with the balance as it now is, not an invalid value). The check runs under the rental's row lock, which every change of its
//! charges also takes, so concurrent captures cannot overpay together.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::booking::{load, parse_id, Rental};
use super::ledger::{Payment, PaymentStatus, PAYMENT_COLUMNS};
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{currency, money, ApiJson, CURRENCY_PATTERN, MAX_MONEY};
use crate::api::invoices::issue::MARK_PAID;
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::rules::cas::compare_and_set;
use crate::events::{self, Kind as Event};
use crate::ledger::rentals::{payment_captured, Movement};

/// The rental's row lock, as a change of its status or charges takes it (`NO KEY UPDATE`:
/// inserts that merely reference the rental are not held up).
const LOCK_RENTAL: &str = "SELECT 1 FROM rentals WHERE id = $1 FOR NO KEY UPDATE";
pub use crate::ledger::rentals::BALANCE;
const ADD: &str = concatcp!(
    "INSERT INTO rental_payments (id, rental_id, amount, currency, method, status, captured_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
    PAYMENT_COLUMNS
);
const CAPTURE: &str = concatcp!(
    "UPDATE rental_payments SET status = 'captured', captured_at = $2
      WHERE id = $1 AND status = 'pending' RETURNING ",
    PAYMENT_COLUMNS
);
const FAIL: &str = concatcp!(
    "UPDATE rental_payments SET status = 'failed' WHERE id = $1 AND status = 'pending'
     RETURNING ",
    PAYMENT_COLUMNS
);
/// The payment's status if it is the rental's (`$1` payment, `$2` rental).
const STATUS_OF: &str = "SELECT status FROM rental_payments WHERE id = $1 AND rental_id = $2";
const STATUS: &str = "SELECT status FROM rental_payments WHERE id = $1";

/// `POST /v1/rentals/{id}/payments` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pay {
    /// Positive, minor units of the rental's currency.
    #[schemars(range(min = 1, max = MAX_MONEY))]
    pub amount: i64,
    #[schemars(regex(pattern = CURRENCY_PATTERN))]
    pub currency: String,
    /// `cash`, `card` or `transfer`.
    #[schemars(extend("enum" = ["cash", "card", "transfer"]))]
    pub method: String,
    /// `captured` (the default: the money is in) or `pending` (to be captured or failed).
    pub status: Option<Recorded>,
}

crate::text_enum! {
    /// The state a payment is recorded in.
    pub enum Recorded {
        Pending => "pending",
        Captured => "captured",
    }
}

pub fn payment_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("payment"))
}

async fn pay(
    caller: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Pay>,
) -> Result<(StatusCode, Json<Payment>), ApiError> {
    let id = parse_id(&id)?;
    money("amount", req.amount)?;
    if req.amount == 0 {
        return Err(ApiError::invalid("amount", "must be positive"));
    }
    currency("currency", &req.currency)?;
    if !matches!(req.method.as_str(), "cash" | "card" | "transfer") {
        return Err(ApiError::invalid("method", "cash, card or transfer"));
    }
    let status = match req.status {
        None | Some(Recorded::Captured) => PaymentStatus::Captured,
        Some(Recorded::Pending) => PaymentStatus::Pending,
    };
    let tx = db.tx().await?;
    let rental = load(&tx, &caller, id).await?;
    if rental.currency != req.currency {
        return Err(ApiError::invalid(
            "currency",
            format!("the rental is in {}", rental.currency),
        ));
    }
    tx.execute(LOCK_RENTAL, &[&id]).await?;
    let captured_at = (status == PaymentStatus::Captured).then_some(now);
    let row = tx
        .query_one(
            ADD,
            &[
                &Uuid::new_v4(),
                &id,
                &req.amount,
                &req.currency,
                &req.method,
                &status.as_str(),
                &captured_at,
            ],
        )
        .await?;
    let payment = Payment::from_row(&row, 0);
    let body = serde_json::json!({ "rental_id": id, "payment": &payment });
    events::emit(&*tx, Event::RentalPaymentRecorded, &id.to_string(), body).await?;
    if status == PaymentStatus::Captured {
        captured(&tx, &rental, &payment).await?;
    }
    Ok((StatusCode::CREATED, Json(payment)))
}

/// What capturing `payment` does besides its status: the overpayment check, the ledger
/// entry, the rental's issued invoices marked paid once its balance is zero or less, and
/// `payment.captured`. The caller holds the rental's row lock.
async fn captured(
    tx: &tokio_postgres::Client,
    rental: &Rental,
    payment: &Payment,
) -> Result<(), ApiError> {
    let balance: i64 = tx.query_one(BALANCE, &[&rental.id]).await?.get(0);
    if balance < 0 {
        return Err(ApiError::new(
            ErrorCode::Overpayment,
            format!(
                "amount: {} is more than the balance of {} {}",
                payment.amount,
                balance + payment.amount,
                rental.currency
            ),
        ));
    }
    let m = Movement {
        id: payment.id,
        rental: rental.id,
        customer: rental.customer_id,
        currency: &payment.currency,
        method: &payment.method,
        amount: payment.amount,
    };
    payment_captured(tx, &m).await?;
    if balance <= 0 {
        tx.execute(MARK_PAID, &[&rental.id, &payment.captured_at])
            .await?;
    }
    let body = serde_json::json!({ "rental_id": rental.id, "payment": payment });
    events::emit(tx, Event::PaymentCaptured, &payment.id.to_string(), body).await?;
    Ok(())
}

/// Captures (`capture`) or fails the rental's pending payment.
async fn settle(
    caller: Caller,
    now: DateTime<Utc>,
    db: Db,
    (id, payment): (String, String),
    capture: bool,
) -> Result<Json<Payment>, ApiError> {
    let id = parse_id(&id)?;
    let payment = payment_id(&payment)?;
    let tx = db.tx().await?;
    let rental = load(&tx, &caller, id).await?;
    tx.execute(LOCK_RENTAL, &[&id]).await?;
    if tx.query_opt(STATUS_OF, &[&payment, &id]).await?.is_none() {
        return Err(ApiError::not_found("payment"));
    }
    let row = if capture {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&payment, &now];
        compare_and_set(&tx, CAPTURE, &params, STATUS, "payment", "captured").await?
    } else {
        compare_and_set(&tx, FAIL, &[&payment], STATUS, "payment", "failed").await?
    };
    let p = Payment::from_row(&row, 0);
    if capture {
        captured(&tx, &rental, &p).await?;
    } else {
        let body = serde_json::json!({ "rental_id": id, "payment": &p });
        events::emit(&*tx, Event::PaymentFailed, &p.id.to_string(), body).await?;
    }
    Ok(Json(p))
}

async fn capture(
    caller: Caller,
    Now(now): Now,
    db: Db,
    Path(ids): Path<(String, String)>,
) -> Result<Json<Payment>, ApiError> {
    settle(caller, now, db, ids, true).await
}

async fn fail(
    caller: Caller,
    Now(now): Now,
    db: Db,
    Path(ids): Path<(String, String)>,
) -> Result<Json<Payment>, ApiError> {
    settle(caller, now, db, ids, false).await
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            success: 201,
            errors: &[400, 404, 413, 422],
            ..RouteDoc::change::<Pay, Payment>(
                "POST",
                "/v1/rentals/{id}/payments",
                "Record a payment: captured at once (posted to the ledger), or pending; \
                 409 overpayment when it would pay more than the balance",
                STAFF,
            )
        }
        .conflicts(&[ErrorCode::Overpayment]),
        pay,
    )
    .add(
        RouteDoc::step::<Payment>(
            "/v1/rentals/{id}/payments/{payment_id}/capture",
            "Capture a pending payment (posted to the ledger); 409 unless it is pending, and \
             overpayment when it would pay more than the balance",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition, ErrorCode::Overpayment]),
        capture,
    )
    .add(
        RouteDoc::step::<Payment>(
            "/v1/rentals/{id}/payments/{payment_id}/fail",
            "Mark a pending payment failed (nothing is posted); 409 unless it is pending",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        fail,
    )
}
