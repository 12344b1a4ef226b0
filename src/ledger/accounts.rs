//! The chart of accounts. An account is its code, `{kind}[:{qualifier}…]`; its type follows
//! from the first segment (`ledger_account_type` in migrations/0026_ledger.sql), so an account
//! is created by the first entry that uses it and a new charge kind needs no code change.
//!
//! | code | type | holds |
//! |---|---|---|
//! | `receivable:customer:{customer_id}` | asset | what the customer owes (negative: a credit) |
//! | `revenue:{charge kind}` | revenue | charges of that kind (`base`, `extra_km`, `late_fee`, …) |
//! | `cash`, `bank` | asset | money received: cash, and card or transfer |
//! | `expense:maintenance:labour:{vehicle_id}` | expense | labour on the vehicle |
//! | `expense:maintenance:parts:{vehicle_id}` | expense | parts fitted to the vehicle |
//! | `payable:maintenance` | liability | what the workshops are owed |
//! | `payable:tax` | liability | tax on issued invoices, owed to the tax authority |

use uuid::Uuid;

/// What the workshops are owed for completed maintenance.
pub const PAYABLE_MAINTENANCE: &str = "payable:maintenance";

/// Tax on issued invoices, owed to the tax authority.
pub const PAYABLE_TAX: &str = "payable:tax";

/// The customer's receivable.
pub fn receivable(customer: Uuid) -> String {
    format!("receivable:customer:{customer}")
}

/// Revenue of a charge kind (`revenue:base`, `revenue:one_way_fee`).
pub fn revenue(kind: &str) -> String {
    format!("revenue:{kind}")
}

/// Where a payment's money is: `cash` for cash, `bank` for card and transfer.
pub fn money_in(method: &str) -> &'static str {
    match method {
        "cash" => "cash",
        _ => "bank",
    }
}

/// Labour spent on a vehicle's maintenance.
pub fn labour(vehicle: &str) -> String {
    format!("expense:maintenance:labour:{vehicle}")
}

/// Parts fitted to a vehicle.
pub fn parts(vehicle: &str) -> String {
    format!("expense:maintenance:parts:{vehicle}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `^[a-z][a-z_]*(:[A-Za-z0-9._-]+)*$`, as `ledger_accounts` checks.
    fn well_formed(code: &str) -> bool {
        let mut parts = code.split(':');
        let head = parts.next().unwrap_or_default();
        head.starts_with(|c: char| c.is_ascii_lowercase())
            && head.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && parts.all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            })
    }

    #[test]
    fn every_code_is_well_formed() {
        for code in [
            receivable(Uuid::nil()),
            revenue("one_way_fee"),
            money_in("cash").into(),
            money_in("card").into(),
            labour("truck-7"),
            parts("a.b_c-D9"),
            PAYABLE_MAINTENANCE.into(),
            PAYABLE_TAX.into(),
        ] {
            assert!(well_formed(&code), "{code}");
        }
        assert_eq!(money_in("transfer"), "bank");
    }
}
