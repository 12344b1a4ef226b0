//! Issuing: `POST /v1/rentals/{id}/invoice` (staff), and at once when a rental completes
//! ([`issue`] in the completion's transaction). An invoice covers the rental's charges that
//! are on no invoice yet, or only on void ones; with none left, the route answers 409
//! `nothing_to_invoice` (and completion issues nothing).
//!
//! One transaction: the rental's row lock (which every change of its charges and every
//! capture takes, so the charges cannot change meanwhile and two issues of one rental apply
//! one after the other), the year's counter incremented (its row lock orders concurrent
//! issues, and a rollback takes the number back), the invoice and its lines, the tax posted
//! to the ledger, `invoice.issued`. An invoice issued while the rental's balance is already
//! zero or less (paid in advance) is `paid` at once.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Datelike, Utc};
use const_format::concatcp;
use uuid::Uuid;

use super::model::{assemble, number, tax_of, Invoice, COLUMNS};
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::routes::{RouteDoc, Routes};
use crate::events::{self, Kind as Event};
use crate::ledger::invoices::{issued, Tax};
use crate::ledger::rentals::BALANCE;
use crate::ledger::Posted;

/// The rental, locked as a change of its charges locks it, with its plan's tax rate.
const RENTAL: &str = "SELECT r.customer_id, r.currency::text, p.tax_bp
                        FROM rentals r JOIN pricing_plans p ON p.id = r.plan_id
                       WHERE r.id = $1 FOR NO KEY UPDATE OF r";
/// The rental's charges on no invoice that is not void, oldest first.
const OPEN_CHARGES: &str = "SELECT c.id, c.kind, c.quantity, c.unit_amount, c.amount
                              FROM rental_charges c
                             WHERE c.rental_id = $1
                               AND NOT EXISTS (SELECT 1 FROM invoiced_charges i
                                                WHERE i.charge_id = c.id)
                             ORDER BY c.id";
/// The year's next number; the row stays locked until the transaction ends.
const NEXT: &str = "INSERT INTO invoice_counters (year, last) VALUES ($1, 1)
                    ON CONFLICT (year) DO UPDATE SET last = invoice_counters.last + 1
                    RETURNING last";
const INSERT: &str = "INSERT INTO invoices (id, year, seq, number, rental_id, customer_id,
                                            currency, net, tax_bp, tax, total, entry_id,
                                            issued_at)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
const LINES: &str = "INSERT INTO invoice_lines (invoice_id, charge_id, kind, quantity,
                                                unit_amount, amount)
                     SELECT $1, c.id, c.kind, c.quantity, c.unit_amount, c.amount
                       FROM rental_charges c WHERE c.id = ANY($2)";
const CLAIM: &str = "INSERT INTO invoiced_charges (charge_id, invoice_id)
                     SELECT unnest($2::bigint[]), $1";
/// Marks the rental's issued invoices paid (`$2`: when), for a balance at or below zero.
pub const MARK_PAID: &str = "UPDATE invoices SET status = 'paid', paid_at = $2
                              WHERE rental_id = $1 AND status = 'issued'";
const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM invoices i WHERE i.id = $1");

fn overflow() -> ApiError {
    ApiError::invalid("amount", "the invoice does not fit in 64-bit minor units")
}

/// Issues the invoice of `rental`'s charges not yet invoiced, in the caller's transaction;
/// `None` when there are none. `None` too for a rental that does not exist.
pub async fn issue(
    tx: &tokio_postgres::Client,
    rental: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Invoice>, ApiError> {
    let Some(r) = tx.query_opt(RENTAL, &[&rental]).await? else {
        return Ok(None);
    };
    let (customer, currency, tax_bp): (Uuid, String, i32) = (r.get(0), r.get(1), r.get(2));
    let charges = tx.query(OPEN_CHARGES, &[&rental]).await?;
    if charges.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = charges.iter().map(|c| c.get(0)).collect();
    let net = charges
        .iter()
        .try_fold(0i64, |acc, c| acc.checked_add(c.get::<_, i64>(4)))
        .ok_or_else(overflow)?;
    let tax = tax_of(net, tax_bp).ok_or_else(overflow)?;
    let total = net.checked_add(tax).ok_or_else(overflow)?;
    let id = Uuid::new_v4();
    let year = now.year();
    let seq: i64 = tx.query_one(NEXT, &[&year]).await?.get(0);
    let posted = issued(
        tx,
        &Tax {
            invoice: id,
            rental,
            customer,
            currency: &currency,
            amount: tax,
        },
    )
    .await?;
    let entry = match posted {
        Posted::Entry(e) => Some(e),
        Posted::Already | Posted::Nothing => None,
    };
    tx.execute(
        INSERT,
        &[
            &id,
            &year,
            &seq,
            &number(year, seq),
            &rental,
            &customer,
            &currency,
            &net,
            &tax_bp,
            &tax,
            &total,
            &entry,
            &now,
        ],
    )
    .await?;
    tx.execute(LINES, &[&id, &ids]).await?;
    tx.execute(CLAIM, &[&id, &ids]).await?;
    let balance: i64 = tx.query_one(BALANCE, &[&rental]).await?.get(0);
    if balance <= 0 {
        tx.execute(MARK_PAID, &[&rental, &now]).await?;
    }
    let invoice = load(tx, id).await?;
    let body = serde_json::json!({ "invoice": &invoice });
    events::emit(tx, Event::InvoiceIssued, &id.to_string(), body).await?;
    Ok(Some(invoice))
}

/// Invoice `id` with its lines (no visibility check: the caller's transaction made it).
pub async fn load(tx: &tokio_postgres::Client, id: Uuid) -> Result<Invoice, ApiError> {
    let row = tx.query_one(GET, &[&id]).await?;
    Ok(assemble(tx, &[row])
        .await?
        .pop()
        .expect("one row, one invoice"))
}

async fn create(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Invoice>), ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("rental"))?;
    let tx = db.tx().await?;
    if tx
        .query_opt("SELECT 1 FROM rentals WHERE id = $1", &[&id])
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("rental"));
    }
    match issue(&tx, id, now).await? {
        Some(invoice) => Ok((StatusCode::CREATED, Json(invoice))),
        None => Err(ApiError::new(
            ErrorCode::NothingToInvoice,
            "every charge of the rental is on an invoice already",
        )),
    }
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            success: 201,
            errors: &[404],
            response: Some(crate::api::routes::schema::<Invoice>),
            ..RouteDoc::new(
                "POST",
                "/v1/rentals/{id}/invoice",
                "Issue an invoice for the rental's charges not yet on one (numbered without \
                 gaps per year, tax at the plan's rate posted to the ledger); 409 \
                 nothing_to_invoice when every charge is invoiced already",
                STAFF,
            )
        }
        .conflicts(&[ErrorCode::NothingToInvoice]),
        create,
    )
}
