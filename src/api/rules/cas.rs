//! Compare-and-set state transitions: `UPDATE … WHERE id = $1 AND status = <from>`, so that
//! of two concurrent conflicting transitions exactly one applies; the other learns why.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

/// Why a compare-and-set transition did not apply.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    /// No such `what` (answered 404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The row is in `status`, from which it cannot become `to` (409 `illegal_transition`).
    #[error("{what} is {status}; cannot become {to}")]
    Illegal {
        what: &'static str,
        status: String,
        to: String,
    },
}

/// Runs `update` (a compare-and-set whose first parameter is the id, `RETURNING` something)
/// and returns its row. When it changed nothing, `current` (`SELECT status … WHERE id = $1`)
/// tells [`CasError::NotFound`] from [`CasError::Illegal`] ("`what` is X; cannot become
/// `to`").
pub async fn compare_and_set(
    tx: &Client,
    update: &str,
    params: &[&(dyn ToSql + Sync)],
    current: &str,
    what: &'static str,
    to: &str,
) -> Result<Row, CasError> {
    if let Some(row) = tx.query_opt(update, params).await? {
        return Ok(row);
    }
    let status: String = tx
        .query_opt(current, &params[..1])
        .await?
        .ok_or(CasError::NotFound(what))?
        .get(0);
    Err(CasError::Illegal {
        what,
        status,
        to: to.to_string(),
    })
}
