//! `GET /v1/reports/dashboard`: the fleet at a glance (docs/reports.md). Vehicles by state
//! now (from the live index and the registry), rentals active, this month's revenue and
//! maintenance cost (the `monthly_vehicle_stats` materialized view) and use (the daily
//! rollups). Cached for `reports.dashboard_cache_s`; the answer says how old it is. Its
//! queries read the read replica while it is usable ([`crate::api::reads`]).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::cache::Entry;
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::reads::{As, Reads};
use crate::api::state::AppState;

/// Vehicles by what they are doing now.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct VehicleCounts {
    /// Registered, not deleted (decommissioned included).
    pub registered: i64,
    /// Reported within `dispatch.staleness_s`.
    pub active: i64,
    /// Active and reporting at least `trips.min_speed_kmh`.
    pub moving: i64,
    /// Active and not moving.
    pub parked: i64,
    /// Not active (silent, or never reported).
    pub offline: i64,
    /// With an active rental.
    pub rented: i64,
    pub in_maintenance: i64,
    /// With a driver at the wheel.
    pub with_driver: i64,
}

/// An amount in one currency (minor units).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Money {
    pub currency: String,
    pub amount: i64,
}

/// The dashboard.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Dashboard {
    /// When these figures were computed.
    pub generated_at: DateTime<Utc>,
    /// Seconds since `generated_at` (0 when computed for this request).
    pub cache_age_s: f64,
    pub vehicles: VehicleCounts,
    pub rentals_active: i64,
    /// The current UTC month's first day.
    pub month: NaiveDate,
    /// Rental charges this month, per currency (as of the last statistics refresh).
    pub revenue: Vec<Money>,
    /// Completed maintenance (labour and parts) this month, per currency.
    pub maintenance_cost: Vec<Money>,
    /// This month, all vehicles.
    pub distance_m: f64,
    pub driving_s: f64,
    /// `driving_s` over (registered vehicles × seconds elapsed this month), 0..=1.
    pub utilisation: f64,
}

const COUNTS: &str = "SELECT
    count(*),
    count(*) FILTER (WHERE status = 'rented'),
    count(*) FILTER (WHERE status = 'under_maintenance'),
    (SELECT count(*) FROM drivers WHERE current_vehicle_id IS NOT NULL AND deleted_at IS NULL),
    (SELECT count(*) FROM rentals WHERE status = 'active')
  FROM vehicles WHERE deleted_at IS NULL";
const IDS: &str = "SELECT id FROM vehicles WHERE deleted_at IS NULL";
const MONEY: &str = "SELECT currency, sum(revenue)::bigint, sum(maintenance_cost)::bigint
                       FROM monthly_vehicle_stats WHERE month = $1 GROUP BY currency ORDER BY 1";
const USE: &str = "SELECT coalesce(sum(distance_m), 0), coalesce(sum(moving_s), 0)
                     FROM vehicle_daily WHERE day >= $1";

async fn compute(
    state: &AppState,
    client: &tokio_postgres::Client,
    now: DateTime<Utc>,
) -> Result<Dashboard, ApiError> {
    let c = client.query_one(COUNTS, &[]).await?;
    let mut v = VehicleCounts {
        registered: c.get(0),
        rented: c.get(1),
        in_maintenance: c.get(2),
        with_driver: c.get(3),
        ..Default::default()
    };
    let ids: Vec<String> = client
        .query(IDS, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let now_us = now.timestamp_micros();
    let stale_us = state.dispatch.config.staleness_s as i64 * 1_000_000;
    let min_speed = state.api.reports.min_speed_kmh;
    state.live.read(|ix| {
        for id in &ids {
            match ix.position(id) {
                Some(p) if now_us - p.ts <= stale_us => {
                    v.active += 1;
                    if p.speed_kmh.is_some_and(|s| f64::from(s) >= min_speed) {
                        v.moving += 1;
                    }
                }
                _ => {}
            }
        }
    });
    v.parked = v.active - v.moving;
    v.offline = v.registered - v.active;
    let month = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default();
    let (mut revenue, mut maintenance_cost) = (Vec::new(), Vec::new());
    for r in client.query(MONEY, &[&month]).await? {
        let currency: String = r.get(0);
        revenue.push(Money {
            currency: currency.clone(),
            amount: r.get(1),
        });
        maintenance_cost.push(Money {
            currency,
            amount: r.get(2),
        });
    }
    let u = client.query_one(USE, &[&month]).await?;
    let (distance_m, driving_s): (f64, f64) = (u.get(0), u.get(1));
    let month_start = month.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let elapsed_s = (now - month_start).num_seconds().max(1) as f64;
    let utilisation = if v.registered > 0 {
        (driving_s / (v.registered as f64 * elapsed_s)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    Ok(Dashboard {
        generated_at: now,
        cache_age_s: 0.0,
        rentals_active: c.get(4),
        vehicles: v,
        month,
        revenue,
        maintenance_cost,
        distance_m,
        driving_s,
        utilisation,
    })
}

pub async fn dashboard(
    State(state): State<Arc<AppState>>,
    _: Caller,
    reads: Reads,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = state.clock.now();
    let cache = &state.api.reports.cache;
    let entry = match cache.get(now).await {
        Some(e) => e,
        None => {
            let d = loop {
                let tx = reads.begin(As::Daemon).await?;
                let answer = compute(&state, &tx, now).await;
                if let Some(answer) = reads.settle(tx, answer) {
                    break answer?;
                }
            };
            let body = serde_json::to_value(&d).map_err(ApiError::internal)?;
            let e = Entry { at: now, body };
            cache.put(e.clone()).await;
            e
        }
    };
    let mut body = entry.body;
    let age = (now - entry.at).num_milliseconds().max(0) as f64 / 1e3;
    body["cache_age_s"] = serde_json::json!(age);
    Ok(Json(body))
}
