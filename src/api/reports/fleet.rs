//! `GET /v1/reports/fleet?from=&to=`: per vehicle distance, trips, driving and idle time,
//! fuel and utilisation over a window, from the rollups (hourly for windows up to 31 days,
//! daily beyond). `Accept: text/csv` answers the whole fleet as CSV.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::pagination::{Page, Paged};
use crate::api::reads::{As, Reads};

/// Hourly rollups answer windows up to this long, daily ones up to ten years.
pub const HOURLY_DAYS: i64 = 31;
pub const MAX_DAYS: i64 = 3_660;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetQuery {
    /// Window start (windows over 31 days: from its UTC day).
    pub from: DateTime<Utc>,
    /// Window end, exclusive.
    pub to: DateTime<Utc>,
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One vehicle over the window.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VehicleUsage {
    pub vehicle_id: String,
    pub plate: String,
    #[serde(rename = "type")]
    pub vehicle_type: String,
    pub distance_m: f64,
    /// Trips that started in the window.
    pub trips: i64,
    pub driving_s: f64,
    pub idle_s: f64,
    pub fuel_used_pct: Option<f64>,
    pub readings: i64,
    /// `driving_s` over the window's length, 0..=1.
    pub utilisation: f64,
}

fn sql(hourly: bool, paged: bool) -> String {
    let (table, bucket) = if hourly {
        (
            "vehicle_hourly",
            "h.hour > $1::timestamptz - interval '1 hour' AND h.hour < $2",
        )
    } else {
        (
            "vehicle_daily",
            "h.day >= ($1 AT TIME ZONE 'UTC')::date AND h.day::timestamp AT TIME ZONE 'UTC' < $2",
        )
    };
    let page = if paged {
        "AND v.id > $3 ORDER BY v.id LIMIT $4"
    } else {
        "ORDER BY v.id"
    };
    format!(
        "SELECT v.id, v.plate, v.type, coalesce(u.distance, 0), coalesce(u.moving, 0),
                coalesce(u.idle, 0), u.fuel, coalesce(u.readings, 0)::bigint,
                (SELECT count(*) FROM trips t
                  WHERE t.vehicle_id = v.id AND t.start_ts >= $1 AND t.start_ts < $2)
           FROM vehicles v
           LEFT JOIN LATERAL (
                SELECT sum(distance_m) AS distance, sum(moving_s) AS moving, sum(idle_s) AS idle,
                       sum(fuel_used_pct) AS fuel, sum(readings) AS readings
                  FROM {table} h WHERE h.vehicle_id = v.id AND {bucket}) u ON true
          WHERE v.deleted_at IS NULL {page}"
    )
}

fn usage(r: &tokio_postgres::Row, window_s: f64) -> VehicleUsage {
    let driving_s: f64 = r.get(4);
    VehicleUsage {
        vehicle_id: r.get(0),
        plate: r.get(1),
        vehicle_type: r.get(2),
        distance_m: r.get(3),
        trips: r.get(8),
        driving_s,
        idle_s: r.get(5),
        fuel_used_pct: r.get(6),
        readings: r.get(7),
        utilisation: (driving_s / window_s).clamp(0.0, 1.0),
    }
}

/// A CSV field: quoted, quotes doubled, and a leading `= + - @` neutralised so that a
/// spreadsheet never runs a plate as a formula.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub async fn fleet(
    _: Caller,
    headers: HeaderMap,
    reads: Reads,
    ApiQuery(q): ApiQuery<FleetQuery>,
) -> Result<Response, ApiError> {
    if q.to <= q.from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if q.to - q.from > chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid(
            "to",
            format!("the window may be at most {MAX_DAYS} days"),
        ));
    }
    let hourly = q.to - q.from <= chrono::Duration::days(HOURLY_DAYS);
    let window_s = (q.to - q.from).num_milliseconds() as f64 / 1e3;
    let csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let rows = loop {
        let tx = reads.begin(As::Caller).await?;
        let answer = if csv {
            tx.query(&sql(hourly, false), &[&q.from, &q.to]).await
        } else {
            tx.query(
                &sql(hourly, true),
                &[&q.from, &q.to, &page.after_or_min(), &page.fetch()],
            )
            .await
        };
        if let Some(answer) = reads.settle(tx, answer.map_err(ApiError::from)) {
            break answer?;
        }
    };
    if csv {
        let mut out = String::from(
            "vehicle_id,plate,type,distance_m,trips,driving_s,idle_s,fuel_used_pct,readings,utilisation\n",
        );
        for r in &rows {
            let u = usage(r, window_s);
            out.push_str(&format!(
                "{},{},{},{:.1},{},{:.0},{:.0},{},{},{:.4}\n",
                field(&u.vehicle_id),
                field(&u.plate),
                field(&u.vehicle_type),
                u.distance_m,
                u.trips,
                u.driving_s,
                u.idle_s,
                u.fuel_used_pct
                    .map(|f| format!("{f:.2}"))
                    .unwrap_or_default(),
                u.readings,
                u.utilisation
            ));
        }
        let mut resp = out.into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        return Ok(resp);
    }
    let items = rows.iter().map(|r| usage(r, window_s)).collect();
    let paged: Paged<VehicleUsage> = page.finish(items, |u: &VehicleUsage| u.vehicle_id.clone());
    Ok(Json(paged).into_response())
}
