//! [`Snapshot`]: every fence as the engine evaluates it, loaded from `geofences` at one
//! `geofence_version`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::geofences::{Fence, FenceIndex, Point, Selector, Shape};

/// What an event says about a fence beside its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub name: String,
    pub speed_limit_kmh: Option<f64>,
}

/// The fences at one version.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub version: i64,
    pub index: FenceIndex,
    pub info: HashMap<Uuid, Info>,
}

const VERSION: &str = "SELECT version FROM geofence_version";
const FENCES: &str = "SELECT id, name, ST_Y(center::geometry), ST_X(center::geometry), radius_m,
        geojson, hysteresis_m, dwell_s, vehicle_types, vehicle_ids, speed_limit_kmh
   FROM geofences";

/// The current version (0 before any fence was ever written).
pub async fn version(c: &impl GenericClient) -> Result<i64, tokio_postgres::Error> {
    Ok(c.query_opt(VERSION, &[])
        .await?
        .map_or(0, |r| r.get::<_, i64>(0)))
}

impl Snapshot {
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Every fence, at `version` (read just before). A row that no longer parses (it was
    /// validated when written) is left out with a warning rather than stopping every fence.
    pub async fn load(
        c: &impl GenericClient,
        version: i64,
    ) -> Result<Snapshot, tokio_postgres::Error> {
        let rows = c.query(FENCES, &[]).await?;
        let mut fences = Vec::with_capacity(rows.len());
        let mut info = HashMap::with_capacity(rows.len());
        for r in &rows {
            let id: Uuid = r.get(0);
            let center: Option<(f64, f64)> = r.get::<_, Option<f64>>(2).zip(r.get(3));
            let radius: Option<f64> = r.get(4);
            let geojson: Option<serde_json::Value> = r.get(5);
            let shape = match (center, radius, geojson) {
                (Some((lat, lon)), Some(radius), _) => {
                    Shape::circle(Point::new(lat, lon), radius).map_err(|e| e.to_string())
                }
                (_, _, Some(g)) => Shape::from_geojson(&g).map_err(|e| e.to_string()),
                _ => Err("neither a circle nor a polygon".to_string()),
            };
            let fence = shape.and_then(|s| {
                let dwell: Option<i32> = r.get(7);
                Fence::new(id, s)
                    .with_hysteresis(r.get(6))
                    .map(|f| f.with_dwell(dwell.and_then(|d| u32::try_from(d).ok())))
                    .map_err(|e| e.to_string())
            });
            let fence = match fence {
                Ok(f) => f,
                Err(error) => {
                    tracing::warn!(geofence = %id, error, "geofence left out of the engine");
                    continue;
                }
            };
            let set = |i: usize| -> std::collections::BTreeSet<String> {
                r.get::<_, Option<Vec<String>>>(i)
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
            };
            let selector = Selector {
                vehicle_types: set(8),
                vehicle_ids: set(9),
            };
            fences.push(Arc::new(fence.with_selector(selector)));
            info.insert(
                id,
                Info {
                    name: r.get(1),
                    speed_limit_kmh: r.get(10),
                },
            );
        }
        Ok(Snapshot {
            version,
            index: FenceIndex::load(fences),
            info,
        })
    }
}
