//! Refunds: part or all of a captured payment given back. The payment's row is locked for
//! the refund, so concurrent refunds apply one after the other and their sum never exceeds
//! the amount captured (409 `refund_exceeds_captured`; `rental_payments_refunded` checks it
//! again in the database). A payment refunded in full becomes `refunded`. Each refund posts
//! Dr receivable / Cr cash or bank, so the rental's balance (and the ledger's receivable)
//! rises by the amount given back, and emits `refund.issued`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::booking::{load, parse_id};
use super::ledger::{Payment, PaymentStatus, Refund, PAYMENT_COLUMNS, REFUND_COLUMNS};
use super::payments::payment_id;
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{
    currency, money, text, ApiJson, CURRENCY_PATTERN, MAX_MONEY, TEXT_PATTERN,
};
use crate::api::middleware::txn::Db;
use crate::api::routes::{RouteDoc, Routes};
use crate::events::{self, Kind as Event};
use crate::ledger::rentals::{refund_issued, Movement};

/// The rental's payment (`$1` payment, `$2` rental), locked for the refund.
const LOCK_PAYMENT: &str = concatcp!(
    "SELECT ",
    PAYMENT_COLUMNS,
    " FROM rental_payments WHERE id = $1 AND rental_id = $2 FOR UPDATE"
);
const ADD: &str = concatcp!(
    "INSERT INTO rental_refunds (id, payment_id, rental_id, amount, currency, reason)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    REFUND_COLUMNS
);
const APPLY: &str = concatcp!(
    "UPDATE rental_payments
        SET refunded = refunded + $2,
            status = CASE WHEN refunded + $2 = amount THEN 'refunded' ELSE status END
      WHERE id = $1 RETURNING ",
    PAYMENT_COLUMNS
);
const REFUNDS: &str = concatcp!(
    "SELECT ",
    REFUND_COLUMNS,
    " FROM rental_refunds WHERE payment_id = $1 ORDER BY created_at, id"
);

/// `POST /v1/rentals/{id}/payments/{payment_id}/refunds` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Positive, minor units of the payment's currency; at most what is left to refund.
    #[schemars(range(min = 1, max = MAX_MONEY))]
    pub amount: i64,
    /// The payment's currency, if given (another is 422).
    #[schemars(regex(pattern = CURRENCY_PATTERN))]
    pub currency: Option<String>,
    /// Why (at most 500 characters).
    #[schemars(length(max = 500), regex(pattern = TEXT_PATTERN))]
    pub reason: Option<String>,
}

async fn refund(
    caller: Caller,
    db: Db,
    Path((id, payment)): Path<(String, String)>,
    ApiJson(req): ApiJson<RefundRequest>,
) -> Result<(StatusCode, Json<Refund>), ApiError> {
    let id = parse_id(&id)?;
    let payment = payment_id(&payment)?;
    money("amount", req.amount)?;
    if req.amount == 0 {
        return Err(ApiError::invalid("amount", "must be positive"));
    }
    if let Some(c) = &req.currency {
        currency("currency", c)?;
    }
    let reason = match &req.reason {
        Some(r) => text("reason", r, 500)?,
        None => String::new(),
    };
    let tx = db.tx().await?;
    let rental = load(&tx, &caller, id).await?;
    let row = tx
        .query_opt(LOCK_PAYMENT, &[&payment, &id])
        .await?
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let before = Payment::from_row(&row, 0);
    if req.currency.as_ref().is_some_and(|c| *c != before.currency) {
        return Err(ApiError::invalid(
            "currency",
            format!("the payment is in {}", before.currency),
        ));
    }
    if matches!(
        before.status,
        PaymentStatus::Pending | PaymentStatus::Failed
    ) {
        return Err(ApiError::new(
            ErrorCode::IllegalTransition,
            format!(
                "payment is {}; only a captured payment is refunded",
                before.status.as_str()
            ),
        ));
    }
    let left = before.amount - before.refunded;
    if req.amount > left {
        return Err(ApiError::new(
            ErrorCode::RefundExceedsCaptured,
            format!(
                "amount: {} is more than the {left} {} left to refund of {} captured",
                req.amount, before.currency, before.amount
            ),
        ));
    }
    let row = tx
        .query_one(
            ADD,
            &[
                &Uuid::new_v4(),
                &payment,
                &id,
                &req.amount,
                &before.currency,
                &reason,
            ],
        )
        .await?;
    let refund = Refund::from_row(&row, 0);
    let row = tx.query_one(APPLY, &[&payment, &req.amount]).await?;
    let mut after = Payment::from_row(&row, 0);
    after.refunds = tx
        .query(REFUNDS, &[&payment])
        .await?
        .iter()
        .map(|r| Refund::from_row(r, 0))
        .collect();
    let m = Movement {
        id: refund.id,
        rental: id,
        customer: rental.customer_id,
        currency: &refund.currency,
        method: &after.method,
        amount: refund.amount,
    };
    refund_issued(&*tx, &m).await?;
    let body = serde_json::json!({ "rental_id": id, "refund": &refund, "payment": &after });
    events::emit(&*tx, Event::RefundIssued, &refund.id.to_string(), body).await?;
    Ok((StatusCode::CREATED, Json(refund)))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            errors: &[400, 404, 413, 422],
            ..RouteDoc::create::<RefundRequest, Refund>(
                "/v1/rentals/{id}/payments/{payment_id}/refunds",
                "Refund part or all of a captured payment (posted to the ledger); 409 \
                 refund_exceeds_captured beyond what is left, illegal_transition unless the \
                 payment was captured",
                STAFF,
            )
        }
        .conflicts(&[
            ErrorCode::IllegalTransition,
            ErrorCode::RefundExceedsCaptured,
        ]),
        refund,
    )
}
