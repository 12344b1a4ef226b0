//! The pure pricing functions over a plan's [`Terms`] (the plans themselves are in
//! [`super::plans`]). All money is integer minor units; every product is checked, so an
//! overflow is a 422, never a wrong price.
//!
//! - Days: `ceil((ends_at - starts_at) / 24 h)`, at least 1.
//! - Quote: `base` = days × daily rate, and `extra_km` = max(0, estimated km − days ×
//!   included km per day) × per-km rate, and `one_way_fee` = the plan's one-way fee, once,
//!   when the rental ends at another location than it starts (and the fee is not 0).
//!   Reserving charges exactly these items.
//! - Completion: `extra_km` for the difference between the driven and the estimated extra
//!   kilometres (negative when fewer were driven), and `late_fee` = started hours after
//!   `ends_at` × late fee per hour. So after completion the charges total base + actual
//!   extra km + late fee.
//! - Cancellation: a `cancellation_reversal` credits everything charged; when cancelled
//!   less than `free_cancellation_hours` before the start, a `cancellation_fee` of
//!   `cancellation_fee_pct` % of it (rounded down) is charged.
//! - No-show: the same at the latest possible moment: `no_show_reversal` and `no_show_fee`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;

/// A plan's terms: what the pure functions need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Terms {
    pub daily_rate: i64,
    pub included_km_per_day: i64,
    pub extra_km_rate: i64,
    pub late_fee_per_hour: i64,
    pub free_cancellation_hours: i32,
    /// 0..=100.
    pub cancellation_fee_pct: i32,
    /// Charged once (`one_way_fee`) when a rental ends at another location than it starts.
    pub one_way_fee: i64,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    /// `base`, `extra_km`, `one_way_fee`, `late_fee`, `cancellation_reversal`,
    /// `cancellation_fee`, `no_show_reversal` or `no_show_fee`.
    pub kind: String,
    pub quantity: i64,
    pub unit_amount: i64,
    /// quantity × unit_amount, minor units.
    pub amount: i64,
}

/// An itemised price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Quote {
    pub currency: String,
    pub days: i64,
    pub included_km: i64,
    pub items: Vec<LineItem>,
    pub total: i64,
}

fn overflow() -> ApiError {
    ApiError::invalid("amount", "the price does not fit in 64-bit minor units")
}

fn item(kind: &str, quantity: i64, unit_amount: i64) -> Result<LineItem, ApiError> {
    Ok(LineItem {
        kind: kind.to_string(),
        quantity,
        unit_amount,
        amount: quantity.checked_mul(unit_amount).ok_or_else(overflow)?,
    })
}

pub fn total(items: &[LineItem]) -> Result<i64, ApiError> {
    items
        .iter()
        .try_fold(0i64, |acc, i| acc.checked_add(i.amount))
        .ok_or_else(overflow)
}

/// Started days in `[start, end)`, at least 1.
pub fn days(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    let secs = (end - start).num_seconds().max(1);
    ((secs + 86_399) / 86_400).max(1)
}

fn extra_km(terms: &Terms, days: i64, km: i64) -> Result<i64, ApiError> {
    let included = days
        .checked_mul(terms.included_km_per_day)
        .ok_or_else(overflow)?;
    Ok((km - included).max(0))
}

/// The itemised price of renting over `[start, end)` and driving `estimated_km`, ending at
/// another location than the start when `one_way`.
pub fn quote(
    terms: &Terms,
    currency: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    estimated_km: i64,
    one_way: bool,
) -> Result<Quote, ApiError> {
    let days = days(start, end);
    let mut items = vec![item("base", days, terms.daily_rate)?];
    let extra = extra_km(terms, days, estimated_km)?;
    if extra > 0 {
        items.push(item("extra_km", extra, terms.extra_km_rate)?);
    }
    if one_way && terms.one_way_fee > 0 {
        items.push(item("one_way_fee", 1, terms.one_way_fee)?);
    }
    Ok(Quote {
        currency: currency.to_string(),
        days,
        included_km: days
            .checked_mul(terms.included_km_per_day)
            .ok_or_else(overflow)?,
        total: total(&items)?,
        items,
    })
}

/// What completing adds: the extra kilometres not yet charged and the late fee.
pub fn completion(
    terms: &Terms,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    estimated_km: i64,
    driven_km: i64,
    returned_at: DateTime<Utc>,
) -> Result<Vec<LineItem>, ApiError> {
    let days = days(start, end);
    let mut items = Vec::new();
    let adjust = extra_km(terms, days, driven_km)? - extra_km(terms, days, estimated_km)?;
    if adjust != 0 {
        items.push(item("extra_km", adjust, terms.extra_km_rate)?);
    }
    let late_s = (returned_at - end).num_seconds();
    if late_s > 0 {
        let hours = (late_s + 3_599) / 3_600;
        items.push(item("late_fee", hours, terms.late_fee_per_hour)?);
    }
    Ok(items)
}

/// What cancelling adds, given everything charged so far.
pub fn cancellation(
    terms: &Terms,
    charged: i64,
    start: DateTime<Utc>,
    cancelled_at: DateTime<Utc>,
) -> Result<Vec<LineItem>, ApiError> {
    let mut items = Vec::new();
    if charged != 0 {
        items.push(item("cancellation_reversal", 1, -charged)?);
    }
    let notice_s = (start - cancelled_at).num_seconds();
    if notice_s < terms.free_cancellation_hours as i64 * 3_600 {
        let fee = fee_of(terms, charged)?;
        if fee > 0 {
            items.push(item("cancellation_fee", 1, fee)?);
        }
    }
    Ok(items)
}

/// What a no-show adds (a reservation never collected, `rentals.no_show_hours` after its
/// start): the reservation's charges are reversed and the plan's cancellation fee is
/// charged, as for the latest possible cancellation, whatever its free-cancellation notice.
pub fn no_show(terms: &Terms, charged: i64) -> Result<Vec<LineItem>, ApiError> {
    let mut items = Vec::new();
    if charged != 0 {
        items.push(item("no_show_reversal", 1, -charged)?);
    }
    let fee = fee_of(terms, charged)?;
    if fee > 0 {
        items.push(item("no_show_fee", 1, fee)?);
    }
    Ok(items)
}

/// The plan's cancellation fee on `charged`, rounded down to the minor unit. In 128 bits:
/// the product may not fit in 64 even though the fee (at most 100 % of what was charged)
/// always does.
fn fee_of(terms: &Terms, charged: i64) -> Result<i64, ApiError> {
    i64::try_from(i128::from(charged) * i128::from(terms.cancellation_fee_pct) / 100)
        .map_err(|_| overflow())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn terms() -> impl Strategy<Value = Terms> {
        (
            0..1_000_000i64,
            0..1_000i64,
            0..10_000i64,
            0..100_000i64,
            0..100i32,
            0..=100i32,
            0..1_000_000i64,
        )
            .prop_map(|(d, inc, km, late, free, pct, one_way)| Terms {
                daily_rate: d,
                included_km_per_day: inc,
                extra_km_rate: km,
                late_fee_per_hour: late,
                free_cancellation_hours: free,
                cancellation_fee_pct: pct,
                one_way_fee: one_way,
            })
    }

    fn t0() -> DateTime<Utc> {
        "2030-01-01T00:00:00Z".parse().unwrap()
    }

    proptest! {
        #[test]
        fn completion_adds_exactly_extra_km_and_late_fees(
            t in terms(), secs in 1..(60 * 86_400i64), est in 0..100_000i64,
            driven in 0..100_000i64, late_s in -86_400..(10 * 86_400i64),
        ) {
            let (start, end) = (t0(), t0() + Duration::seconds(secs));
            let q = quote(&t, "EUR", start, end, est, false).unwrap();
            prop_assert_eq!(q.total, q.items.iter().map(|i| i.amount).sum::<i64>());
            let days = (secs + 86_399) / 86_400;
            prop_assert_eq!(q.items[0].amount, days * t.daily_rate);
            let added = completion(&t, start, end, est, driven, end + Duration::seconds(late_s)).unwrap();
            let after = q.total + total(&added).unwrap();
            let extra = (driven - days * t.included_km_per_day).max(0);
            let late_h = if late_s > 0 { (late_s + 3_599) / 3_600 } else { 0 };
            prop_assert_eq!(
                after,
                days * t.daily_rate + extra * t.extra_km_rate + late_h * t.late_fee_per_hour
            );
        }

        #[test]
        fn a_one_way_fee_is_one_line_exactly_when_one_way_and_not_free(
            t in terms(), secs in 1..(60 * 86_400i64), est in 0..100_000i64, one_way: bool,
        ) {
            let (start, end) = (t0(), t0() + Duration::seconds(secs));
            let round = quote(&t, "EUR", start, end, est, false).unwrap();
            let q = quote(&t, "EUR", start, end, est, one_way).unwrap();
            let fees: Vec<_> = q.items.iter().filter(|i| i.kind == "one_way_fee").collect();
            if one_way && t.one_way_fee > 0 {
                prop_assert_eq!(fees.len(), 1);
                prop_assert_eq!((fees[0].quantity, fees[0].amount), (1, t.one_way_fee));
                prop_assert_eq!(q.total, round.total + t.one_way_fee);
            } else {
                prop_assert!(fees.is_empty());
                prop_assert_eq!(&q, &round);
            }
            // Cancelling a one-way rental credits its fee with the rest.
            let items = cancellation(&t, q.total, start, start - Duration::days(365)).unwrap();
            prop_assert_eq!(q.total + total(&items).unwrap(), 0);
        }

        #[test]
        fn cancellation_credits_all_and_charges_the_rule(
            t in terms(), charged in 0..1_000_000_000i64, notice_h in -10..200i64,
        ) {
            let start = t0();
            let items = cancellation(&t, charged, start, start - Duration::hours(notice_h)).unwrap();
            let net = charged + total(&items).unwrap();
            let fee = if notice_h < t.free_cancellation_hours as i64 {
                charged * t.cancellation_fee_pct as i64 / 100
            } else { 0 };
            prop_assert_eq!(net, fee);
        }

        #[test]
        fn a_no_show_leaves_exactly_the_cancellation_fee(
            t in terms(), charged in 0..1_000_000_000i64,
        ) {
            let items = no_show(&t, charged).unwrap();
            prop_assert_eq!(charged + total(&items).unwrap(), charged * t.cancellation_fee_pct as i64 / 100);
            prop_assert!(items.iter().all(|i| i.kind.starts_with("no_show_") && i.amount != 0));
        }
    }

    #[test]
    fn a_cancellation_fee_is_exact_when_the_product_overflows_64_bits() {
        let t = Terms {
            daily_rate: 1,
            included_km_per_day: 0,
            extra_km_rate: 0,
            late_fee_per_hour: 0,
            free_cancellation_hours: 48,
            cancellation_fee_pct: 20,
            one_way_fee: 0,
        };
        let start = Utc::now();
        let charged = i64::MAX / 2;
        let items = cancellation(&t, charged, start, start).unwrap();
        let fee = items.iter().find(|i| i.kind == "cancellation_fee").unwrap();
        assert_eq!(fee.amount, (i128::from(charged) * 20 / 100) as i64);
    }

    #[test]
    fn overflow_is_422_not_a_wrong_price() {
        let t = Terms {
            daily_rate: i64::MAX / 2,
            included_km_per_day: 0,
            extra_km_rate: 0,
            late_fee_per_hour: 0,
            free_cancellation_hours: 0,
            cancellation_fee_pct: 0,
            one_way_fee: 0,
        };
        let e = quote(&t, "EUR", t0(), t0() + Duration::days(3), 0, false).unwrap_err();
        assert_eq!(e.status, 422);
    }
}
