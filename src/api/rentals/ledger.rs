//! A rental's account: its charges, payments and refunds, from which the balance is derived
//! (and which the double-entry ledger, [`crate::ledger`], mirrors). A page of rentals' accounts
//! is read at once (one query each for charges, payments and refunds, `= ANY`), so a list
//! never costs queries per item.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::pricing::LineItem;
use crate::api::error::ApiError;
use crate::api::pagination::grouped;
use crate::events::Kind as Event;
use crate::ledger;

crate::text_enum! {
    /// A payment's state: `pending → captured | failed`; `captured → refunded` once its
    /// refunds reach its amount.
    pub enum PaymentStatus {
        Pending => "pending",
        Captured => "captured",
        Failed => "failed",
        Refunded => "refunded",
    }
}

/// A payment towards a rental.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Payment {
    pub id: Uuid,
    /// Positive, minor units.
    pub amount: i64,
    pub currency: String,
    /// `cash`, `card` or `transfer`.
    pub method: String,
    pub status: PaymentStatus,
    /// When it was captured; null while pending or after it failed.
    pub captured_at: Option<DateTime<Utc>>,
    /// The sum of its refunds, at most `amount`.
    pub refunded: i64,
    /// Its refunds, oldest first.
    pub refunds: Vec<Refund>,
    pub created_at: DateTime<Utc>,
}

impl Payment {
    /// What the payment still counts towards the balance: its amount less its refunds once
    /// captured, nothing while pending or failed.
    pub fn net(&self) -> i64 {
        match self.status {
            PaymentStatus::Captured | PaymentStatus::Refunded => self.amount - self.refunded,
            PaymentStatus::Pending | PaymentStatus::Failed => 0,
        }
    }

    /// The payment from a row of `id, amount, currency, method, status, captured_at,
    /// refunded, created_at` starting at column `at`, without its refunds.
    pub fn from_row(r: &tokio_postgres::Row, at: usize) -> Payment {
        Payment {
            id: r.get(at),
            amount: r.get(at + 1),
            currency: r.get(at + 2),
            method: r.get(at + 3),
            status: r.get(at + 4),
            captured_at: r.get(at + 5),
            refunded: r.get(at + 6),
            refunds: Vec::new(),
            created_at: r.get(at + 7),
        }
    }
}

/// Money given back for a captured payment.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Refund {
    pub id: Uuid,
    pub payment_id: Uuid,
    /// Positive, minor units of the payment's currency.
    pub amount: i64,
    pub currency: String,
    /// Why, as the operator wrote it (may be empty).
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl Refund {
    /// The refund from a row of `id, payment_id, amount, currency, reason, created_at`.
    pub fn from_row(r: &tokio_postgres::Row, at: usize) -> Refund {
        Refund {
            id: r.get(at),
            payment_id: r.get(at + 1),
            amount: r.get(at + 2),
            currency: r.get(at + 3),
            reason: r.get(at + 4),
            created_at: r.get(at + 5),
        }
    }
}

/// A payment's columns, for [`Payment::from_row`].
pub const PAYMENT_COLUMNS: &str =
    "id, amount, currency::text, method, status, captured_at, refunded, created_at";
/// A refund's columns, for [`Refund::from_row`].
pub const REFUND_COLUMNS: &str = "id, payment_id, amount, currency::text, reason, created_at";

/// Charges of a page of rentals (`$1`: their ids) in one query, each rental's oldest first.
const CHARGES_OF: &str = "SELECT rental_id, kind, quantity, unit_amount, amount
                          FROM rental_charges WHERE rental_id = ANY($1) ORDER BY rental_id, id";
const ADD_CHARGE: &str =
    "INSERT INTO rental_charges (rental_id, kind, quantity, unit_amount, amount, currency)
     VALUES ($1, $2, $3, $4, $5, $6)";
/// Payments of a page of rentals (`$1`: their ids) in one query, each rental's oldest first.
const PAYMENTS_OF: &str = concatcp!(
    "SELECT rental_id, ",
    PAYMENT_COLUMNS,
    " FROM rental_payments WHERE rental_id = ANY($1) ORDER BY rental_id, created_at, id"
);
/// Refunds of a page of rentals (`$1`: their ids), by payment, each payment's oldest first.
const REFUNDS_OF: &str = concatcp!(
    "SELECT payment_id, ",
    REFUND_COLUMNS,
    " FROM rental_refunds WHERE rental_id = ANY($1) ORDER BY payment_id, created_at, id"
);

/// The tax of a page of rentals' invoices that are not void (`$1`: their ids).
const TAXES_OF: &str = "SELECT rental_id, sum(tax)::bigint FROM invoices
                         WHERE rental_id = ANY($1) AND status <> 'void' GROUP BY rental_id";

/// The tax of each of `ids`' invoices that are not void (one query); absent: none.
pub(super) async fn taxes_of(
    client: &tokio_postgres::Client,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, i64>, ApiError> {
    Ok(client
        .query(TAXES_OF, &[&ids])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Charges of a rental, oldest first.
pub async fn charges<C: tokio_postgres::GenericClient>(
    client: &C,
    id: Uuid,
) -> Result<Vec<LineItem>, ApiError> {
    Ok(charges_of(client, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default())
}

/// Charges of each of `ids` (one query), oldest first.
pub(super) async fn charges_of<C: tokio_postgres::GenericClient>(
    client: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<LineItem>>, ApiError> {
    grouped(client, CHARGES_OF, ids, |r| LineItem {
        kind: r.get(1),
        quantity: r.get(2),
        unit_amount: r.get(3),
        amount: r.get(4),
    })
    .await
}

/// Payments of each of `ids` with their refunds (two queries), oldest first.
pub(super) async fn payments_of(
    client: &tokio_postgres::Client,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Payment>>, ApiError> {
    let mut refunds = grouped(client, REFUNDS_OF, ids, |r| Refund::from_row(r, 1)).await?;
    let mut payments = grouped(client, PAYMENTS_OF, ids, |r| Payment::from_row(r, 1)).await?;
    for p in payments.values_mut().flatten() {
        p.refunds = refunds.remove(&p.id).unwrap_or_default();
    }
    Ok(payments)
}

/// Records `items` as `id`'s charges, in order, and posts them to the ledger as the charges
/// of the business event `event` (one entry, `{event}:{id}`).
pub async fn add_charges(
    tx: &tokio_postgres::Client,
    event: Event,
    id: Uuid,
    currency: &str,
    items: &[LineItem],
) -> Result<(), ApiError> {
    for i in items {
        tx.execute(
            ADD_CHARGE,
            &[
                &id,
                &i.kind,
                &i.quantity,
                &i.unit_amount,
                &i.amount,
                &currency,
            ],
        )
        .await?;
    }
    let posted: Vec<(&str, i64)> = items.iter().map(|i| (i.kind.as_str(), i.amount)).collect();
    ledger::rentals::charges(tx, event.as_str(), id, currency, &posted).await?;
    Ok(())
}
