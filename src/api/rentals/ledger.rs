//! A rental's ledger: its charges and payments, from which the balance is derived. A page
//! of rentals' ledgers is read at once (one query each for charges and payments, `= ANY`),
//! so a list never costs queries per item.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::pricing::LineItem;
use crate::api::error::ApiError;
use crate::api::pagination::grouped;

/// A payment towards a rental.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Payment {
    pub id: Uuid,
    pub amount: i64,
    pub currency: String,
    /// `cash`, `card` or `transfer`.
    pub method: String,
    pub created_at: DateTime<Utc>,
}

/// Charges of a page of rentals (`$1`: their ids) in one query, each rental's oldest first.
const CHARGES_OF: &str = "SELECT rental_id, kind, quantity, unit_amount, amount
                          FROM rental_charges WHERE rental_id = ANY($1) ORDER BY rental_id, id";
const ADD_CHARGE: &str =
    "INSERT INTO rental_charges (rental_id, kind, quantity, unit_amount, amount, currency)
     VALUES ($1, $2, $3, $4, $5, $6)";
/// Payments of a page of rentals (`$1`: their ids) in one query, each rental's oldest first.
const PAYMENTS_OF: &str = "SELECT rental_id, id, amount, currency, method, created_at
                           FROM rental_payments WHERE rental_id = ANY($1)
                           ORDER BY rental_id, created_at, id";

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

/// Payments of each of `ids` (one query), oldest first.
pub(super) async fn payments_of(
    client: &tokio_postgres::Client,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Payment>>, ApiError> {
    grouped(client, PAYMENTS_OF, ids, |r| Payment {
        id: r.get(1),
        amount: r.get(2),
        currency: r.get(3),
        method: r.get(4),
        created_at: r.get(5),
    })
    .await
}

/// Records `items` as `id`'s charges, in order.
pub async fn add_charges(
    tx: &tokio_postgres::Client,
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
    Ok(())
}
