//! Reading the double-entry ledger ([`crate::ledger`], docs/ledger.md), staff only:
//! [`entries`] (the journal, with its lines) and [`accounts`] (the chart of accounts with
//! balances). Nothing here writes: entries are posted by the business events themselves.

pub mod accounts;
pub mod entries;

use crate::api::error::ApiError;
use crate::api::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    accounts::routes(entries::routes(r))
}

/// An optional text filter: at most 200 characters, without NUL.
fn filter(field: &str, v: &Option<String>) -> Result<(), ApiError> {
    match v {
        Some(s) if s.contains('\0') || s.chars().count() > 200 => Err(ApiError::invalid(
            field,
            "at most 200 characters, without NUL",
        )),
        _ => Ok(()),
    }
}
