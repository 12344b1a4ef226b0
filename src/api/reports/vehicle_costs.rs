//! `GET /v1/reports/vehicle-costs?from=&to=`: maintenance cost per vehicle and per distance
//! driven (docs/financial-reports.md). Labour and parts from the ledger (the
//! `expense:maintenance:labour|parts:{vehicle}` lines of the entries posted in `[from, to)`),
//! per currency; the distance from the daily rollups (`vehicle_daily.distance_m`) of the UTC
//! days the window overlaps; and the cost per 100 km in minor units, rounded half away from
//! zero, null without distance.

use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::books;
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::middleware::txn::Db;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VehicleCostsQuery {
    /// Entries posted at or after this time; distance from its UTC day.
    pub from: DateTime<Utc>,
    /// Entries posted before this time; distance through the UTC day before it (its own day
    /// too unless it is a midnight); at most 3660 days after `from`.
    pub to: DateTime<Utc>,
}

/// A vehicle's maintenance cost in one currency, minor units.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Cost {
    pub currency: String,
    pub labour: i64,
    pub parts: i64,
    /// `labour + parts`.
    pub total: i64,
    /// `total × 100 000 / distance_m` (distance in whole metres), rounded half away from
    /// zero; null when the vehicle drove no whole metre.
    pub per_100km: Option<i64>,
}

/// One vehicle over the window.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VehicleCost {
    pub vehicle_id: String,
    /// Whole metres driven (the rollups' sum, rounded).
    pub distance_m: i64,
    /// One per currency it has costs in (none: it only drove).
    pub costs: Vec<Cost>,
}

/// The report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VehicleCosts {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Every month the window touches is closed: the costs never change (the distances
    /// come from the rollups, which late telemetry may still correct).
    pub closed: bool,
    /// Vehicles with costs or distance in the window, by id.
    pub vehicles: Vec<VehicleCost>,
}

/// `$1` from, `$2` to: (vehicle, metres, currency, labour, parts); a vehicle without costs
/// has one row with a null currency.
const COSTS: &str = "
    WITH c AS (
        SELECT split_part(l.account, ':', 4) AS vehicle, e.currency::text AS currency,
               coalesce(sum(l.amount) FILTER (WHERE split_part(l.account, ':', 3) = 'labour'), 0)
                   AS labour,
               coalesce(sum(l.amount) FILTER (WHERE split_part(l.account, ':', 3) = 'parts'), 0)
                   AS parts
          FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
         WHERE (l.account LIKE 'expense:maintenance:labour:%'
                OR l.account LIKE 'expense:maintenance:parts:%')
           AND e.posted_at >= $1 AND e.posted_at < $2
         GROUP BY 1, 2),
    d AS (
        SELECT vehicle_id AS vehicle, round(sum(distance_m))::bigint AS metres
          FROM vehicle_daily
         WHERE day >= ($1 AT TIME ZONE 'UTC')::date
           AND day::timestamp AT TIME ZONE 'UTC' < $2
         GROUP BY 1)
    SELECT v.vehicle, coalesce(d.metres, 0), c.currency, c.labour::bigint, c.parts::bigint
      FROM (SELECT vehicle FROM c UNION SELECT vehicle FROM d WHERE metres > 0) v
      LEFT JOIN d ON d.vehicle = v.vehicle
      LEFT JOIN c ON c.vehicle = v.vehicle
     ORDER BY 1, 3";

/// `n / d` rounded half away from zero (`d > 0`).
fn div_round(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// Minor units per 100 km: `total × 100 000 / metres`; null for no metre.
pub fn per_100km(total: i64, metres: i64) -> Option<i64> {
    if metres <= 0 {
        return None;
    }
    i64::try_from(div_round(i128::from(total) * 100_000, i128::from(metres))).ok()
}

pub async fn vehicle_costs(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<VehicleCostsQuery>,
) -> Result<Json<VehicleCosts>, ApiError> {
    books::window(q.from, q.to)?;
    let tx = db.tx().await?;
    let closed = books::closed(&tx, q.to).await?;
    let mut vehicles: Vec<VehicleCost> = Vec::new();
    for r in tx.query(COSTS, &[&q.from, &q.to]).await? {
        let (vehicle, metres): (String, i64) = (r.get(0), r.get(1));
        if vehicles.last().is_none_or(|v| v.vehicle_id != vehicle) {
            vehicles.push(VehicleCost {
                vehicle_id: vehicle,
                distance_m: metres,
                costs: Vec::new(),
            });
        }
        if let Some(currency) = r.get::<_, Option<String>>(2) {
            let (labour, parts): (i64, i64) = (r.get(3), r.get(4));
            let total = labour
                .checked_add(parts)
                .ok_or_else(|| ApiError::internal("maintenance cost beyond 64 bits"))?;
            let v = vehicles.last_mut().expect("pushed above");
            v.costs.push(Cost {
                currency,
                labour,
                parts,
                total,
                per_100km: per_100km(total, metres),
            });
        }
    }
    Ok(Json(VehicleCosts {
        from: q.from,
        to: q.to,
        closed,
        vehicles,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_100km_rounds_half_away_from_zero() {
        // 12 345 cents over 1 234 567 m: 999.9… → 1 000 cents per 100 km.
        assert_eq!(per_100km(12_345, 1_234_567), Some(1_000));
        // 1 cent over 200 km: 0.5 → 1; over 200.001 km: 0.49… → 0.
        assert_eq!(per_100km(1, 200_000), Some(1));
        assert_eq!(per_100km(1, 200_001), Some(0));
        assert_eq!(per_100km(-1, 200_000), Some(-1));
        assert_eq!(per_100km(500, 0), None);
        assert_eq!(per_100km(i64::MAX, 1), None);
    }
}
