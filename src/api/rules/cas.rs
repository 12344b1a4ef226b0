//! Compare-and-set state transitions: `UPDATE … WHERE id = $1 AND status = <from>`, so that
//! of two concurrent conflicting transitions exactly one applies; the other learns why.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::api::error::{ApiError, ErrorCode};

/// Runs `update` (a compare-and-set whose first parameter is the id, `RETURNING` something)
/// and returns its row. When it changed nothing, `current` (`SELECT status … WHERE id = $1`)
/// tells 404 (no such `what`) from 409 `illegal_transition` ("`what` is X; cannot become
/// `to`").
pub async fn compare_and_set(
    tx: &Client,
    update: &str,
    params: &[&(dyn ToSql + Sync)],
    current: &str,
    what: &str,
    to: &str,
) -> Result<Row, ApiError> {
    if let Some(row) = tx.query_opt(update, params).await? {
        return Ok(row);
    }
    let status: String = tx
        .query_opt(current, &params[..1])
        .await?
        .ok_or_else(|| ApiError::not_found(what))?
        .get(0);
    Err(ApiError::new(
        ErrorCode::IllegalTransition,
        format!("{what} is {status}; cannot become {to}"),
    ))
}
