//! Rentals in the ledger. The rule that keeps a rental's balance equal to its receivable:
//!
//! - charges (any kind, credits included): Dr `receivable:customer` / Cr `revenue:{kind}`;
//! - a captured payment: Dr `cash` or `bank` / Cr `receivable:customer`;
//! - a refund: Dr `receivable:customer` / Cr `cash` or `bank` (the money goes back, and the
//!   customer's credit with it).
//!
//! - an invoice's tax: Dr `receivable:customer` / Cr `payable:tax` ([`super::invoices`]).
//!
//! So the receivable of a rental (the lines of the entries about it) is
//! charges + invoiced tax − captured payments + refunds, which is the rental's `balance`
//! ([`BALANCE`]).

use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::accounts::{money_in, receivable, revenue};
use super::posting::{post, LedgerError, Posted, Posting};

const CUSTOMER: &str = "SELECT customer_id FROM rentals WHERE id = $1";

/// The rental's balance: charges, plus the tax of its invoices that are not void, less
/// captured payments net of their refunds.
pub const BALANCE: &str = "SELECT (coalesce((SELECT sum(amount) FROM rental_charges
                                              WHERE rental_id = $1), 0)
                                 + coalesce((SELECT sum(tax) FROM invoices
                                              WHERE rental_id = $1 AND status <> 'void'), 0)
                                 - coalesce((SELECT sum(amount - refunded) FROM rental_payments
                                              WHERE rental_id = $1
                                                AND status IN ('captured', 'refunded')), 0)
                                )::bigint";

/// Posts `charges` (kind, amount) recorded for `rental` by the business event `event`
/// (`rental.reserved`, `rental.completed`, …), keyed `{event}:{rental}`.
pub async fn charges(
    c: &impl GenericClient,
    event: &str,
    rental: Uuid,
    currency: &str,
    charges: &[(&str, i64)],
) -> Result<Posted, LedgerError> {
    if charges.iter().all(|(_, amount)| *amount == 0) {
        return Ok(Posted::Nothing);
    }
    let customer: Uuid = c.query_one(CUSTOMER, &[&rental]).await?.get(0);
    let owed = receivable(customer);
    let mut lines = Vec::with_capacity(charges.len() * 2);
    for (kind, amount) in charges {
        lines.push((owed.clone(), *amount));
        lines.push((revenue(kind), -*amount));
    }
    post(
        c,
        &Posting {
            key: format!("{event}:{rental}"),
            currency: currency.to_string(),
            memo: format!("{event} charges"),
            rental_id: Some(rental),
            lines,
        },
    )
    .await
}

/// Money that moved between a customer and the fleet for a rental.
#[derive(Debug, Clone)]
pub struct Movement<'a> {
    /// The payment's or refund's id.
    pub id: Uuid,
    pub rental: Uuid,
    pub customer: Uuid,
    pub currency: &'a str,
    /// The payment's method: `cash`, `card` or `transfer`.
    pub method: &'a str,
    /// Positive, minor units.
    pub amount: i64,
}

/// `payment.captured:{payment}`: Dr cash or bank / Cr the customer's receivable.
pub async fn payment_captured(
    c: &impl GenericClient,
    m: &Movement<'_>,
) -> Result<Posted, LedgerError> {
    movement(c, "payment.captured", m, m.amount).await
}

/// `refund.issued:{refund}`: Dr the customer's receivable / Cr cash or bank.
pub async fn refund_issued(
    c: &impl GenericClient,
    m: &Movement<'_>,
) -> Result<Posted, LedgerError> {
    movement(c, "refund.issued", m, -m.amount).await
}

/// `amount` into cash or bank (negative: out of it), against the receivable.
async fn movement(
    c: &impl GenericClient,
    event: &str,
    m: &Movement<'_>,
    amount: i64,
) -> Result<Posted, LedgerError> {
    post(
        c,
        &Posting {
            key: format!("{event}:{}", m.id),
            currency: m.currency.to_string(),
            memo: format!("{event} ({})", m.method),
            rental_id: Some(m.rental),
            lines: vec![
                (money_in(m.method).to_string(), amount),
                (receivable(m.customer), -amount),
            ],
        },
    )
    .await
}
