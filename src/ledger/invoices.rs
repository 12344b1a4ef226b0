//! Invoices in the ledger: an invoice's tax is owed to the tax authority and by the
//! customer, so issuing posts Dr `receivable:customer:{customer}` / Cr `payable:tax`
//! (`invoice.issued:{invoice}`), about the invoice's rental: the rental's receivable, and so
//! its balance, include the tax. Voiding posts the reversal (`invoice.voided:{invoice}`).
//! The net of the invoice is not posted again: its charges were posted when they were made.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::accounts::{receivable, PAYABLE_TAX};
use super::posting::{post, reverse, LedgerError, Posted, Posting};

/// An issued invoice's tax.
#[derive(Debug, Clone)]
pub struct Tax<'a> {
    pub invoice: Uuid,
    pub rental: Uuid,
    pub customer: Uuid,
    pub currency: &'a str,
    /// Minor units; negative on a credit invoice. Zero posts nothing.
    pub amount: i64,
}

/// `invoice.issued:{invoice}`: Dr the customer's receivable / Cr `payable:tax`.
pub async fn issued(c: &impl GenericClient, t: &Tax<'_>) -> Result<Posted, LedgerError> {
    post(
        c,
        &Posting {
            key: format!("invoice.issued:{}", t.invoice),
            currency: t.currency.to_string(),
            memo: "invoice tax".into(),
            rental_id: Some(t.rental),
            lines: vec![
                (receivable(t.customer), t.amount),
                (PAYABLE_TAX.to_string(), -t.amount),
            ],
        },
    )
    .await
}

/// `invoice.voided:{invoice}`: the reversal of the invoice's tax entry `entry`.
pub async fn voided(
    c: &impl GenericClient,
    invoice: Uuid,
    entry: i64,
) -> Result<Posted, LedgerError> {
    reverse(
        c,
        entry,
        &format!("invoice.voided:{invoice}"),
        "invoice voided",
    )
    .await
}
