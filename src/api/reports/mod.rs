//! Reports (docs/reports.md): `GET /v1/reports/fleet` (per vehicle use over a window, JSON or
//! CSV) and `GET /v1/reports/dashboard` (the fleet now and this month, cached), with the
//! timer that refreshes the `monthly_vehicle_stats` materialized view; and the financial
//! reports from the ledger (docs/financial-reports.md): [`revenue`], [`vehicle_costs`] and
//! [`receivables`], with what they share in [`books`].

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::auth::STAFF;
use crate::api::pagination::{Paged, PARAMS};
use crate::api::routes::{params, RouteDoc, Routes};

pub mod books;
pub mod cache;
pub use cache::Reports;
pub mod dashboard;
pub mod fleet;
pub mod receivables;
pub mod revenue;
pub mod vehicle_costs;

/// Refreshes `monthly_vehicle_stats` every `every` until `stop` fires. Of several daemons,
/// the one holding the advisory lock refreshes; the others skip that round.
pub async fn refresh_stats(
    pool: deadpool_postgres::Pool,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        if let Err(error) = refresh_once(&pool).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "refreshing monthly_vehicle_stats failed"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

const REFRESH_LOCK: i64 = 0x666c_6565_7464_6d76;

/// One refresh, unless another daemon is refreshing; returns whether it ran. The lock is
/// the transaction's, so a refresh cut short (shutdown) releases it with its rollback.
pub async fn refresh_once(pool: &deadpool_postgres::Pool) -> anyhow::Result<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let got: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&REFRESH_LOCK])
        .await?
        .get(0);
    if got {
        tx.batch_execute("REFRESH MATERIALIZED VIEW CONCURRENTLY monthly_vehicle_stats")
            .await?;
    }
    tx.commit().await?;
    Ok(got)
}

pub fn routes(r: Routes) -> Routes {
    finance(r).add(
        RouteDoc {
            params: Some(params::<fleet::FleetQuery>),
            required_query: &[
                ("from", "RFC 3339 window start (windows over 31 days: its UTC day)"),
                ("to", "RFC 3339 window end, exclusive; at most 3660 days after from"),
            ],
            query: PARAMS,
            response: Some(|g| g.subschema_for::<Paged<fleet::VehicleUsage>>()),
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/reports/fleet",
                "Per vehicle distance, trips, driving and idle time, fuel and utilisation over a window, from the rollups; Accept: text/csv answers every vehicle as CSV",
                STAFF,
            )
        },
        fleet::fleet,
    )
    .add(
        RouteDoc {
            response: Some(|g| g.subschema_for::<dashboard::Dashboard>()),
            ..RouteDoc::new(
                "GET",
                "/v1/reports/dashboard",
                "Vehicles by state now, active rentals, this month's revenue, maintenance cost and utilisation (cached; cache_age_s says how old)",
                STAFF,
            )
        },
        dashboard::dashboard,
    )
}

/// The financial reports, read from the ledger.
fn finance(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            params: Some(params::<revenue::RevenueQuery>),
            required_query: &[
                ("from", "RFC 3339: entries posted at or after it"),
                ("to", "RFC 3339: entries posted before it; at most 3660 days after from"),
            ],
            query: &[("group_by", "month (UTC, the default), vehicle or customer")],
            response: Some(|g| g.subschema_for::<revenue::Revenue>()),
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/reports/revenue",
                "Revenue from the ledger per month, vehicle or customer and currency, by kind (contra-revenue netted in); closed: true when every month of the window is closed",
                STAFF,
            )
        },
        revenue::revenue,
    )
    .add(
        RouteDoc {
            params: Some(params::<vehicle_costs::VehicleCostsQuery>),
            required_query: &[
                ("from", "RFC 3339: entries posted at or after it; distance from its UTC day"),
                ("to", "RFC 3339: entries posted before it; at most 3660 days after from"),
            ],
            response: Some(|g| g.subschema_for::<vehicle_costs::VehicleCosts>()),
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/reports/vehicle-costs",
                "Maintenance labour and parts per vehicle and currency from the ledger, distance from the daily rollups, and the cost per 100 km",
                STAFF,
            )
        },
        vehicle_costs::vehicle_costs,
    )
    .add(
        RouteDoc {
            params: Some(params::<receivables::ReceivablesQuery>),
            query: &[(
                "as_of",
                "RFC 3339: entries posted before it count, ages are measured to it (default now)",
            )],
            response: Some(|g| g.subschema_for::<receivables::Receivables>()),
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/reports/receivables",
                "Customers' receivables by age (current, 1-30, 31-60, 61-90, over 90 days), first in first out, per currency",
                STAFF,
            )
        },
        receivables::receivables,
    )
}
