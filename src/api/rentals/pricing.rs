//! Pricing plans and the pure pricing functions. All money is integer minor units; every
//! product is checked, so an overflow is a 422, never a wrong price.
//!
//! - Days: `ceil((ends_at - starts_at) / 24 h)`, at least 1.
//! - Quote: `base` = days × daily rate, and `extra_km` = max(0, estimated km − days ×
//!   included km per day) × per-km rate. Reserving charges exactly these items.
//! - Completion: `extra_km` for the difference between the driven and the estimated extra
//!   kilometres (negative when fewer were driven), and `late_fee` = started hours after
//!   `ends_at` × late fee per hour. So after completion the charges total base + actual
//!   extra km + late fee.
//! - Cancellation: a `cancellation_reversal` credits everything charged; when cancelled
//!   less than `free_cancellation_hours` before the start, a `cancellation_fee` of
//!   `cancellation_fee_pct` % of it (rounded down) is charged.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{Caller, ADMIN, ANY};
use crate::api::error::ApiError;
use crate::api::extract::{
    currency, int_range, money, text, ApiJson, ApiQuery, CURRENCY_PATTERN, MAX_MONEY, TEXT_PATTERN,
};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged, PARAMS};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;

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
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineItem {
    /// `base`, `extra_km`, `late_fee`, `cancellation_reversal` or `cancellation_fee`.
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

/// The itemised price of renting over `[start, end)` and driving `estimated_km`.
pub fn quote(
    terms: &Terms,
    currency: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    estimated_km: i64,
) -> Result<Quote, ApiError> {
    let days = days(start, end);
    let mut items = vec![item("base", days, terms.daily_rate)?];
    let extra = extra_km(terms, days, estimated_km)?;
    if extra > 0 {
        items.push(item("extra_km", extra, terms.extra_km_rate)?);
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

/// A pricing plan.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Plan {
    pub id: Uuid,
    pub name: String,
    pub currency: String,
    #[serde(flatten)]
    pub terms: Terms,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/pricing-plans` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlan {
    #[schemars(length(max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: String,
    /// ISO 4217 code.
    #[schemars(regex(pattern = CURRENCY_PATTERN))]
    pub currency: String,
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub daily_rate: i64,
    #[schemars(range(min = 0, max = 100_000))]
    pub included_km_per_day: i64,
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub extra_km_rate: i64,
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub late_fee_per_hour: i64,
    /// At most a year (8760 hours).
    #[schemars(range(min = 0, max = 8760))]
    pub free_cancellation_hours: i32,
    #[schemars(range(min = 0, max = 100))]
    pub cancellation_fee_pct: i32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub const COLUMNS: &str = "id, name, currency, daily_rate, included_km_per_day, extra_km_rate, \
                           late_fee_per_hour, free_cancellation_hours, cancellation_fee_pct, created_at";
const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM pricing_plans WHERE id = $1");
const INSERT: &str = concatcp!(
    "INSERT INTO pricing_plans (id, name, currency, daily_rate, included_km_per_day,
        extra_km_rate, late_fee_per_hour, free_cancellation_hours, cancellation_fee_pct)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
    COLUMNS
);
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM pricing_plans WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
);

pub fn from_row(row: &tokio_postgres::Row) -> Plan {
    Plan {
        id: row.get("id"),
        name: row.get("name"),
        currency: row.get("currency"),
        terms: Terms {
            daily_rate: row.get("daily_rate"),
            included_km_per_day: row.get("included_km_per_day"),
            extra_km_rate: row.get("extra_km_rate"),
            late_fee_per_hour: row.get("late_fee_per_hour"),
            free_cancellation_hours: row.get("free_cancellation_hours"),
            cancellation_fee_pct: row.get("cancellation_fee_pct"),
        },
        created_at: row.get("created_at"),
    }
}

/// Plan `id`, or 422 naming `field`.
pub async fn fetch<C: tokio_postgres::GenericClient>(
    client: &C,
    id: Uuid,
    field: &str,
) -> Result<Plan, ApiError> {
    let row = client
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::invalid(field, "no such pricing plan"))?;
    Ok(from_row(&row))
}

async fn create(
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreatePlan>,
) -> Result<(StatusCode, Json<Plan>), ApiError> {
    let name = text("name", &req.name, 200)?;
    currency("currency", &req.currency)?;
    money("daily_rate", req.daily_rate)?;
    money("extra_km_rate", req.extra_km_rate)?;
    money("late_fee_per_hour", req.late_fee_per_hour)?;
    int_range("included_km_per_day", req.included_km_per_day, 0, 100_000)?;
    int_range(
        "free_cancellation_hours",
        req.free_cancellation_hours.into(),
        0,
        24 * 365,
    )?;
    int_range(
        "cancellation_fee_pct",
        req.cancellation_fee_pct.into(),
        0,
        100,
    )?;
    let row = db
        .tx()
        .await?
        .query_one(
            INSERT,
            &[
                &Uuid::new_v4(),
                &name,
                &req.currency,
                &req.daily_rate,
                &req.included_km_per_day,
                &req.extra_km_rate,
                &req.late_fee_per_hour,
                &req.free_cancellation_hours,
                &req.cancellation_fee_pct,
            ],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(from_row(&row))))
}

async fn list(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Plan>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let client = state.pool.get().await?;
    let rows = client
        .query(LIST, &[&page.after_uuid()?, &page.fetch()])
        .await?;
    let items: Vec<Plan> = rows.iter().map(from_row).collect();
    Ok(Json(page.finish(items, |p| p.id.to_string())))
}

async fn get(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Plan>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("pricing plan"))?;
    let client = state.pool.get().await?;
    let row = client
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("pricing plan"))?;
    Ok(Json(from_row(&row)))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            errors: &[400, 413, 422],
            ..RouteDoc::create::<CreatePlan, Plan>(
                "/v1/pricing-plans",
                "Create a pricing plan",
                ADMIN,
            )
        },
        create,
    )
    .add(
        RouteDoc::list::<Plan, ListQuery>("/v1/pricing-plans", "List pricing plans", ANY, PARAMS),
        list,
    )
    .add(
        RouteDoc::read::<Plan>("/v1/pricing-plans/{id}", "A pricing plan", ANY),
        get,
    )
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
        )
            .prop_map(|(d, inc, km, late, free, pct)| Terms {
                daily_rate: d,
                included_km_per_day: inc,
                extra_km_rate: km,
                late_fee_per_hour: late,
                free_cancellation_hours: free,
                cancellation_fee_pct: pct,
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
            let q = quote(&t, "EUR", start, end, est).unwrap();
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
        };
        let e = quote(&t, "EUR", t0(), t0() + Duration::days(3), 0).unwrap_err();
        assert_eq!(e.status, 422);
    }
}
