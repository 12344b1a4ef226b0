//! A geofence as the API takes and shows it, and the checks on what it takes: the area (a
//! circle, or a GeoJSON Polygon or MultiPolygon validated by [`crate::geofences::shape`]),
//! who it applies to, and how membership is judged.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::api::dispatch::jobs::Point;
use crate::api::error::ApiError;
use crate::api::extract::{text, TEXT_PATTERN, VEHICLE_ID_PATTERN};
use crate::geofences::Shape;

/// Most tags on a fence.
pub const MAX_TAGS: usize = 32;
/// Most vehicle types in a selector.
pub const MAX_TYPES: usize = 100;
/// Most vehicle ids in a selector.
pub const MAX_IDS: usize = 10_000;
/// Longest dwell: 30 days.
pub const MAX_DWELL_S: i32 = 2_592_000;
/// Widest hysteresis.
pub const MAX_HYSTERESIS_M: f64 = 10_000.0;
/// Highest speed limit.
pub const MAX_SPEED_KMH: f64 = 1_000.0;

/// Which vehicles a fence applies to: every vehicle when empty or absent; else those of the
/// listed types and those listed by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 50), regex(pattern = TEXT_PATTERN)))]
    pub vehicle_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10000), inner(regex(pattern = VEHICLE_ID_PATTERN)))]
    pub vehicle_ids: Vec<String>,
}

impl Selector {
    pub fn is_all(&self) -> bool {
        self.vehicle_types.is_empty() && self.vehicle_ids.is_empty()
    }
}

/// A geofence.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Geofence {
    pub id: Uuid,
    pub name: String,
    pub tags: Vec<String>,
    /// A circle's centre (with `radius_m`); absent for a polygon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub center: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<f64>,
    /// A polygon fence's GeoJSON Polygon or MultiPolygon, as given; absent for a circle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "geometry_schema")]
    pub geometry: Option<Value>,
    pub speed_limit_kmh: Option<f64>,
    pub selector: Selector,
    pub dwell_s: Option<i32>,
    pub hysteresis_m: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/geofences` body: a circle (`center` and `radius_m`) or a `geometry`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// `null` counts as absent, so the branches say "not null" rather than "present".
#[schemars(extend("oneOf" = [
    { "required": ["center", "radius_m"],
      "properties": { "center": { "type": "object" }, "radius_m": { "type": "number" },
                      "geometry": { "type": "null" } } },
    { "required": ["geometry"],
      "properties": { "geometry": { "type": "object" }, "center": { "type": "null" },
                      "radius_m": { "type": "null" } } }
]))]
pub struct CreateGeofence {
    #[schemars(length(min = 1, max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: String,
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(min = 1, max = 64), regex(pattern = TEXT_PATTERN)))]
    pub tags: Vec<String>,
    pub center: Option<Point>,
    /// 1 m to 1,000 km.
    #[schemars(range(min = 1.0, max = 1000000.0))]
    pub radius_m: Option<f64>,
    #[serde(default)]
    #[schemars(schema_with = "optional_geometry_schema")]
    pub geometry: Option<Value>,
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 1000.0))]
    pub speed_limit_kmh: Option<f64>,
    #[serde(default)]
    pub selector: Selector,
    /// `geofence.dwell` once a visit lasts this long (1 s to 30 days).
    #[schemars(range(min = 1, max = 2592000))]
    pub dwell_s: Option<i32>,
    /// A vehicle inside leaves only once this far outside (0 to 10,000 m, default 0).
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub hysteresis_m: Option<f64>,
}

/// `PATCH /v1/geofences/{id}` body: the fields to change. A new area replaces the old one
/// whole (`center` with `radius_m`, or `geometry`); `null` clears `speed_limit_kmh` and
/// `dwell_s`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// A geometry (not null) leaves no room for a circle's fields.
#[schemars(extend("anyOf" = [
    { "properties": { "geometry": { "type": "null" } } },
    { "properties": { "geometry": { "type": "object" }, "center": { "type": "null" },
                      "radius_m": { "type": "null" } } }
]))]
pub struct UpdateGeofence {
    #[schemars(length(min = 1, max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: Option<String>,
    #[schemars(length(max = 32), inner(length(min = 1, max = 64), regex(pattern = TEXT_PATTERN)))]
    pub tags: Option<Vec<String>>,
    pub center: Option<Point>,
    #[schemars(range(min = 1.0, max = 1000000.0))]
    pub radius_m: Option<f64>,
    #[serde(default)]
    #[schemars(schema_with = "optional_geometry_schema")]
    pub geometry: Option<Value>,
    #[serde(default, deserialize_with = "crate::api::extract::double_option")]
    #[schemars(with = "Option<f64>", extend("exclusiveMinimum" = 0), range(max = 1000.0))]
    pub speed_limit_kmh: Option<Option<f64>>,
    pub selector: Option<Selector>,
    #[serde(default, deserialize_with = "crate::api::extract::double_option")]
    #[schemars(with = "Option<i32>", range(min = 1, max = 2592000))]
    pub dwell_s: Option<Option<i32>>,
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub hysteresis_m: Option<f64>,
}

fn geometry_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "A GeoJSON Polygon or MultiPolygon ([lon, lat] positions, closed \
                        rings, no self-intersection, at most 10,000 vertices); edges are \
                        great-circle arcs, so a polygon may cross the antimeridian",
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {
            "type": { "enum": ["Polygon", "MultiPolygon"] },
            "coordinates": { "type": "array" }
        }
    })
}

fn optional_geometry_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = geometry_schema(g);
    schema.insert("type".into(), serde_json::json!(["object", "null"]));
    schema
}

/// The area of a new fence, checked.
pub enum Area {
    Circle { center: Point, radius_m: f64 },
    Polygon { geojson: Value },
}

impl Area {
    /// From the fields that give one: exactly a circle or a geometry.
    pub fn from_fields(
        center: Option<Point>,
        radius_m: Option<f64>,
        geometry: Option<&Value>,
    ) -> Result<Area, ApiError> {
        match (center, radius_m, geometry) {
            (Some(center), Some(radius_m), None) => {
                Shape::circle(shape_point(center), radius_m)
                    .map_err(|e| ApiError::invalid("radius_m", e))?;
                Ok(Area::Circle { center, radius_m })
            }
            (None, None, Some(g)) => {
                Shape::from_geojson(g).map_err(|e| ApiError::invalid("geometry", e))?;
                Ok(Area::Polygon { geojson: g.clone() })
            }
            (Some(_), None, None) => Err(ApiError::invalid("radius_m", "a circle needs radius_m")),
            (None, Some(_), None) => Err(ApiError::invalid("center", "a circle needs a center")),
            (None, None, None) => Err(ApiError::invalid(
                "geometry",
                "give a circle (center and radius_m) or a geometry",
            )),
            _ => Err(ApiError::invalid(
                "geometry",
                "give a circle (center and radius_m) or a geometry, not both",
            )),
        }
    }
}

fn shape_point(p: Point) -> crate::geofences::Point {
    crate::geofences::Point::new(p.lat, p.lon)
}

/// Name, tags and selector, checked and trimmed.
pub fn name(raw: &str) -> Result<String, ApiError> {
    text("name", raw, 200)
}

pub fn tags(raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.len() > MAX_TAGS {
        return Err(ApiError::invalid(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    let mut out: Vec<String> = raw
        .iter()
        .map(|t| text("tags", t, 64))
        .collect::<Result<_, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

pub fn selector(raw: &Selector) -> Result<Selector, ApiError> {
    if raw.vehicle_types.len() > MAX_TYPES {
        return Err(ApiError::invalid(
            "selector.vehicle_types",
            format!("at most {MAX_TYPES} types"),
        ));
    }
    if raw.vehicle_ids.len() > MAX_IDS {
        return Err(ApiError::invalid(
            "selector.vehicle_ids",
            format!("at most {MAX_IDS} vehicle ids"),
        ));
    }
    let mut types: Vec<String> = raw
        .vehicle_types
        .iter()
        .map(|t| text("selector.vehicle_types", t, 50))
        .collect::<Result<_, _>>()?;
    for id in &raw.vehicle_ids {
        crate::api::extract::vehicle_id("selector.vehicle_ids", id)?;
    }
    let mut ids = raw.vehicle_ids.clone();
    types.sort();
    types.dedup();
    ids.sort();
    ids.dedup();
    Ok(Selector {
        vehicle_types: types,
        vehicle_ids: ids,
    })
}

pub fn speed_limit(v: f64) -> Result<f64, ApiError> {
    if !(v > 0.0 && v <= MAX_SPEED_KMH) {
        return Err(ApiError::invalid(
            "speed_limit_kmh",
            format!("above 0 and at most {MAX_SPEED_KMH}"),
        ));
    }
    Ok(v)
}

pub fn dwell(v: i32) -> Result<i32, ApiError> {
    crate::api::extract::int_range("dwell_s", i64::from(v), 1, i64::from(MAX_DWELL_S))?;
    Ok(v)
}

pub fn hysteresis(v: f64) -> Result<f64, ApiError> {
    if !(0.0..=MAX_HYSTERESIS_M).contains(&v) {
        return Err(ApiError::invalid(
            "hysteresis_m",
            format!("0 to {MAX_HYSTERESIS_M} metres"),
        ));
    }
    Ok(v)
}
