//! `GET /v1/positions`: every vehicle's latest position at once (optionally inside a box),
//! from the live index, with what a map colours and filters it by: the registry's plate, type
//! and status, the driver at the wheel, and the job it is on. The operator's console loads
//! this once and then follows the stream's `positions` events (docs/console.md), whose box
//! syntax it shares.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BBox, BBOX_PATTERN};
use crate::api::auth::{Caller, STAFF};
use crate::api::dispatch::positions::Whereabouts;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::middleware::txn::Db;
use crate::api::routes::{params, RouteDoc, Routes};
use crate::api::state::AppState;

/// Registered vehicles with the job each is on (assigned or picked up), if any.
const REGISTRY: &str = "
    SELECT v.id, v.plate, v.type, v.status, j.id, j.state
      FROM vehicles v
      LEFT JOIN LATERAL (
            SELECT id, state FROM dispatch_jobs
             WHERE vehicle_id = v.id AND state IN ('assigned', 'picked_up')
             ORDER BY updated_at DESC LIMIT 1) j ON true
     WHERE v.deleted_at IS NULL";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapQuery {
    /// `south,west,north,east` in degrees; west > east crosses the antimeridian.
    #[schemars(regex(pattern = BBOX_PATTERN))]
    pub bbox: Option<String>,
}

/// One vehicle on the map: where it is, and what the registry and dispatch say of it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MapVehicle {
    #[serde(flatten)]
    pub at: Whereabouts,
    /// From the registry; absent for a vehicle that reports but is not registered.
    pub plate: Option<String>,
    #[serde(rename = "type")]
    pub vehicle_type: Option<String>,
    /// `active`, `rented`, `under_maintenance` or `decommissioned`.
    pub status: Option<String>,
    /// The dispatch job the vehicle is on (assigned or picked up), if any.
    pub job_id: Option<Uuid>,
    pub job_state: Option<String>,
}

/// `GET /v1/positions`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FleetMap {
    /// Every vehicle with a live position (inside the box, if one was given), by id.
    pub items: Vec<MapVehicle>,
    /// The daemon's time when the positions were read.
    pub as_of: DateTime<Utc>,
}

struct Registered {
    plate: String,
    vehicle_type: String,
    status: String,
    job: Option<(Uuid, String)>,
}

async fn fleet_map(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<MapQuery>,
) -> Result<Json<FleetMap>, ApiError> {
    let bbox = q.bbox.as_deref().map(BBox::parse).transpose()?;
    let rows = db.tx().await?.query(REGISTRY, &[]).await?;
    let mut registry: HashMap<String, Registered> = rows
        .iter()
        .map(|r| {
            let job = r.get::<_, Option<Uuid>>(4).map(|id| (id, r.get(5)));
            let reg = Registered {
                plate: r.get(1),
                vehicle_type: r.get(2),
                status: r.get(3),
                job,
            };
            (r.get(0), reg)
        })
        .collect();
    let now = state.clock.now_us();
    let mut positions = state.live.read(|index| {
        index
            .iter()
            .filter(|(_, p)| bbox.is_none_or(|b| b.contains(p.lat, p.lon)))
            .map(|(id, p)| (id.to_string(), p))
            .collect::<Vec<_>>()
    });
    positions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let items = positions
        .into_iter()
        .map(|(id, p)| {
            let reg = registry.remove(&id);
            let (job_id, job_state) = reg
                .as_ref()
                .and_then(|r| r.job.clone())
                .map_or((None, None), |(j, s)| (Some(j), Some(s)));
            MapVehicle {
                plate: reg.as_ref().map(|r| r.plate.clone()),
                vehicle_type: reg.as_ref().map(|r| r.vehicle_type.clone()),
                status: reg.map(|r| r.status),
                job_id,
                job_state,
                at: Whereabouts::of(&state, id, p, now),
            }
        })
        .collect();
    Ok(Json(FleetMap {
        items,
        as_of: DateTime::from_timestamp_micros(now).unwrap_or_default(),
    }))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            params: Some(params::<MapQuery>),
            query: &[(
                "bbox",
                "south,west,north,east: only vehicles inside this box (west > east crosses the antimeridian)",
            )],
            response: Some(|g| g.subschema_for::<FleetMap>()),
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/positions",
                "Every vehicle's latest position (from memory) with its plate, type, status, driver and current job: the live map's snapshot",
                STAFF,
            )
        },
        fleet_map,
    )
}
