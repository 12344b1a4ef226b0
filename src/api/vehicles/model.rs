//! What a vehicle is: its row, its lifecycle states and the query that loads one.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::{JsonSchema, Schema, SchemaGenerator};
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

/// How deeply a vehicle's specs may nest: the object itself and three levels of arrays or
/// objects inside it.
pub const MAX_SPECS_DEPTH: usize = 4;

/// The schema of a vehicle's specs: a JSON object, nested at most [`MAX_SPECS_DEPTH`] deep,
/// whose strings, keys included, hold no U+0000 (which jsonb refuses). Written out level by
/// level rather than as a recursive schema, which fuzzers cannot walk. Its 16 KiB limit is
/// checked by the handlers only.
pub struct SpecsSchema;

impl JsonSchema for SpecsSchema {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Specs".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut object = specs_level(MAX_SPECS_DEPTH);
        object["type"] = serde_json::json!("object");
        Schema::try_from(object).expect("an object is a schema")
    }
}

/// A JSON value that nests at most `depth` arrays or objects, without U+0000 in its strings:
/// one schema with a list of types and each type's keywords (`pattern` for strings, `items`
/// for arrays, ...), not an `anyOf`, so that a fuzzer changing the value's type knows whether
/// it became invalid.
fn specs_level(depth: usize) -> serde_json::Value {
    if depth == 0 {
        return serde_json::json!({
            "type": ["null", "boolean", "number", "string"],
            "pattern": NO_NUL
        });
    }
    let inner = specs_level(depth - 1);
    serde_json::json!({
        "type": ["null", "boolean", "number", "string", "array", "object"],
        "pattern": NO_NUL,
        "items": inner,
        "propertyNames": {"pattern": NO_NUL},
        "additionalProperties": inner
    })
}

/// Why `specs` is not what [`SpecsSchema`] describes (besides its size), or `None`.
pub fn specs_problem(specs: &Value) -> Option<&'static str> {
    const NUL: &str = "strings must not contain U+0000";
    const DEEP: &str = "nested too deeply (at most 4 levels of arrays and objects)";
    fn walk(v: &Value, depth: usize) -> Option<&'static str> {
        match v {
            Value::String(s) => s.contains('\0').then_some(NUL),
            Value::Array(_) | Value::Object(_) if depth >= MAX_SPECS_DEPTH => Some(DEEP),
            Value::Array(items) => items.iter().find_map(|i| walk(i, depth + 1)),
            Value::Object(map) => map.iter().find_map(|(k, i)| {
                if k.contains('\0') {
                    Some(NUL)
                } else {
                    walk(i, depth + 1)
                }
            }),
            _ => None,
        }
    }
    if !specs.is_object() {
        return Some("must be a JSON object");
    }
    walk(specs, 0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specs_nest_four_levels_and_hold_no_nul() {
        assert_eq!(specs_problem(&json!({})), None);
        assert_eq!(specs_problem(&json!({"a": [[{"b": 1}]]})), None);
        assert!(specs_problem(&json!({"a": [[{"b": [1]}]]})).is_some());
        assert!(specs_problem(&json!({"a": "x\u{0}"})).is_some());
        assert!(specs_problem(&json!({"\u{0}": 1})).is_some());
        assert!(specs_problem(&json!([1])).is_some());
        // The schema says the same: four levels of containers, then scalars only.
        let mut g = schemars::SchemaGenerator::default();
        let schema = SpecsSchema::json_schema(&mut g).to_value();
        assert_eq!(schema["type"], "object");
        let mut level = &schema["additionalProperties"];
        for _ in 0..3 {
            assert_eq!(level["type"].as_array().unwrap().len(), 6, "{level}");
            level = &level["items"];
        }
        assert_eq!(level["type"].as_array().unwrap().len(), 4, "{level}");
        assert!(level["items"].is_null(), "{level}");
    }
}
