//! The double-entry ledger ([`crate::ledger`], docs/ledger.md) over HTTP: [`entries`] (the
//! journal, with its lines) and [`accounts`] (the chart of accounts with balances), staff
//! only; [`reverse`] (a correcting entry, staff) and [`periods`] (closing months, admin;
//! docs/financial-reports.md). Entries are otherwise posted by the business events themselves.

pub mod accounts;
pub mod entries;
pub mod periods;
pub mod reverse;

use crate::api::error::ApiError;
use crate::api::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    let r = accounts::routes(entries::routes(r));
    periods::routes(reverse::routes(r))
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
