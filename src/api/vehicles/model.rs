//! What a vehicle is: its row, its lifecycle states and the query that loads one.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::error::ApiError;

/// Lifecycle: `active → rented → active`, `active → under_maintenance → active`,
/// `* → decommissioned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VehicleStatus {
    Active,
    Rented,
    UnderMaintenance,
    Decommissioned,
}

impl VehicleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleStatus::Active => "active",
            VehicleStatus::Rented => "rented",
            VehicleStatus::UnderMaintenance => "under_maintenance",
            VehicleStatus::Decommissioned => "decommissioned",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        use VehicleStatus::*;
        [Active, Rented, UnderMaintenance, Decommissioned]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ApiError::internal(format!("unknown vehicle status {s}")))
    }

    /// Whether the lifecycle allows `self → to`.
    pub fn can_become(self, to: VehicleStatus) -> bool {
        use VehicleStatus::*;
        matches!(
            (self, to),
            (Active, Rented)
                | (Rented, Active)
                | (Active, UnderMaintenance)
                | (UnderMaintenance, Active)
                | (Active | Rented | UnderMaintenance, Decommissioned)
        )
    }

    /// Whether `POST /v1/vehicles/{id}/status` may make `self → to`: only transitions no
    /// flow owns. `rented` and back belong to the rental flow, and a planned stay in
    /// `under_maintenance` to the maintenance flow; setting those by hand would strand the
    /// rental or job (its completion would then be an illegal transition). An unplanned
    /// breakdown still takes an active vehicle off the road and back by hand.
    pub fn by_hand(self, to: VehicleStatus) -> bool {
        use VehicleStatus::*;
        self.can_become(to) && !matches!((self, to), (Active, Rented) | (Rented, Active))
    }
}

/// A vehicle.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Vehicle {
    pub id: String,
    pub plate: String,
    pub vin: String,
    pub make: String,
    pub model: String,
    pub year: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub seats: i32,
    pub load_kg: i32,
    /// Free-form specifications (a JSON object), filterable with `specs=` on the list.
    pub specs: Value,
    pub status: VehicleStatus,
    pub odometer_km: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const COLUMNS: &str = "id, plate, vin, make, model, year, type, seats, load_kg, specs, \
                           status, odometer_km, created_at, updated_at";
pub const GET: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM vehicles WHERE id = $1 AND deleted_at IS NULL"
);
/// Strings PostgreSQL's jsonb can store: any but U+0000.
const NO_NUL: &str = "^[^\\x00]*$";

/// The schema of a vehicle's specs: a JSON object of any JSON values whose strings, keys
/// included, hold no U+0000 (which jsonb refuses: 422). Its 16 KiB limit is checked by the
/// handlers only.
pub struct SpecsSchema;

impl JsonSchema for SpecsSchema {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Specs".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let value = g.subschema_for::<SpecValue>();
        json_schema!({
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": value
        })
    }
}

/// Any JSON value without U+0000 in its strings, for [`SpecsSchema`].
struct SpecValue;

impl JsonSchema for SpecValue {
    fn schema_name() -> Cow<'static, str> {
        "SpecValue".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let value = g.subschema_for::<SpecValue>();
        json_schema!({"anyOf": [
            {"type": ["null", "boolean", "number"]},
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": value},
            {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": value}
        ]})
    }
}

pub fn from_row(row: &tokio_postgres::Row) -> Result<Vehicle, ApiError> {
    Ok(Vehicle {
        id: row.get("id"),
        plate: row.get("plate"),
        vin: row.get("vin"),
        make: row.get("make"),
        model: row.get("model"),
        year: row.get("year"),
        kind: row.get("type"),
        seats: row.get("seats"),
        load_kg: row.get("load_kg"),
        specs: row.try_get("specs").map_err(ApiError::internal)?,
        status: VehicleStatus::parse(row.get("status"))?,
        odometer_km: row.get("odometer_km"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}
