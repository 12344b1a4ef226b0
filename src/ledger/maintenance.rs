//! Maintenance in the ledger: a completed job posts its labour and parts as expenses of the
//! vehicle, owed to the workshop: Dr `expense:maintenance:labour:{vehicle}` and
//! `expense:maintenance:parts:{vehicle}` / Cr `payable:maintenance`.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::accounts::{labour, parts, PAYABLE_MAINTENANCE};
use super::posting::{post, LedgerError, Posted, Posting};

/// A completed job's costs, minor units of `currency`.
#[derive(Debug, Clone)]
pub struct Costs<'a> {
    pub job: Uuid,
    pub vehicle: &'a str,
    pub currency: &'a str,
    pub labour: i64,
    /// Σ quantity × unit cost.
    pub parts: i64,
}

/// `maintenance.completed:{job}`.
pub async fn job_completed(c: &impl GenericClient, k: &Costs<'_>) -> Result<Posted, LedgerError> {
    let total = k.labour.checked_add(k.parts).ok_or(LedgerError::Overflow)?;
    post(
        c,
        &Posting {
            key: format!("maintenance.completed:{}", k.job),
            currency: k.currency.to_string(),
            memo: "maintenance completed".into(),
            rental_id: None,
            lines: vec![
                (labour(k.vehicle), k.labour),
                (parts(k.vehicle), k.parts),
                (PAYABLE_MAINTENANCE.to_string(), -total),
            ],
        },
    )
    .await
}
