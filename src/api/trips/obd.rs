//! `GET /v1/vehicles/{id}/obd?from=&to=`: stored OBD readings in a window, oldest first.

use axum::extract::Path;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::may_see;
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::pagination::{Page, Paged};
use crate::api::reads::{As, Reads};

/// The longest window one request may ask for, and the page sizes (as for tracks).
pub const MAX_DAYS: i64 = 31;
pub const DEFAULT_LIMIT: i64 = 1_000;
pub const MAX_LIMIT: i64 = 10_000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObdQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One stored OBD-II reading (docs/telemetry.md).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ObdReading {
    pub ts: DateTime<Utc>,
    pub rpm: Option<f32>,
    pub speed_kmh: Option<f32>,
    pub coolant_c: Option<f32>,
    pub fuel_pct: Option<f32>,
    pub engine_load_pct: Option<f32>,
    pub odometer_km: Option<f64>,
    pub dtc: Option<Vec<String>>,
}

impl From<&crate::ingest::reading::ObdReading> for ObdReading {
    fn from(o: &crate::ingest::reading::ObdReading) -> Self {
        ObdReading {
            ts: DateTime::from_timestamp_micros(o.ts).unwrap_or_default(),
            rpm: o.rpm,
            speed_kmh: o.speed_kmh,
            coolant_c: o.coolant_c,
            fuel_pct: o.fuel_pct,
            engine_load_pct: o.engine_load_pct,
            odometer_km: o.odometer_km,
            dtc: o
                .dtc
                .as_ref()
                .map(|d| d.iter().map(|c| c.as_str().to_string()).collect()),
        }
    }
}

const OBD: &str = "
    SELECT ts, rpm, speed_kmh, coolant_c, fuel_pct, engine_load_pct, odometer_km, dtc
      FROM obd_readings
     WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3 AND ($4::timestamptz IS NULL OR ts > $4)
     ORDER BY ts LIMIT $5";

pub async fn obd(
    caller: Caller,
    reads: Reads,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ObdQuery>,
) -> Result<Json<Paged<ObdReading>>, ApiError> {
    if !crate::live::valid_vehicle_id(&id) {
        return Err(ApiError::not_found("vehicle"));
    }
    if q.to <= q.from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if q.to - q.from > chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid(
            "to",
            format!("the window may be at most {MAX_DAYS} days"),
        ));
    }
    let page = Page::within(q.limit, q.cursor.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = super::cursor_time(&page)?;
    let rows = loop {
        let tx = reads.begin(As::Caller).await?;
        let answer: Result<_, ApiError> = async {
            may_see(&tx, &caller, &id).await?;
            Ok(tx
                .query(OBD, &[&id, &q.from, &q.to, &after, &page.fetch()])
                .await?)
        }
        .await;
        if let Some(answer) = reads.settle(tx, answer) {
            break answer?;
        }
    };
    let items = rows
        .iter()
        .map(|r| ObdReading {
            ts: r.get(0),
            rpm: r.get(1),
            speed_kmh: r.get(2),
            coolant_c: r.get(3),
            fuel_pct: r.get(4),
            engine_load_pct: r.get(5),
            odometer_km: r.get(6),
            dtc: r.get(7),
        })
        .collect();
    Ok(Json(page.finish(items, |o: &ObdReading| {
        o.ts.timestamp_micros().to_string()
    })))
}
