//! A preventive maintenance schedule as the API takes and shows it, and the checks on what
//! it takes: a name, one target (a vehicle or a vehicle type), at least one interval, and
//! leads shorter than their intervals.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::error::ApiError;
use crate::api::extract::{int_range, text, vehicle_id, TEXT_PATTERN, VEHICLE_ID_PATTERN};

/// Longest km interval.
pub const MAX_EVERY_KM: i64 = 1_000_000;
/// Longest calendar interval: ten years.
pub const MAX_EVERY_MONTHS: i32 = 120;
/// The shortest month: a lead in days stays under `28 × every_months`.
pub const SHORTEST_MONTH_DAYS: i32 = 28;

/// A preventive maintenance schedule: every `every_km` and/or every `every_months`, for one
/// vehicle (`vehicle_id`) or every vehicle of a type (`vehicle_type`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MaintenanceSchedule {
    pub id: Uuid,
    pub name: String,
    /// The vehicle it is for; null for a type schedule.
    pub vehicle_id: Option<String>,
    /// The vehicle type (a vehicle's `type`) it is for; null for a vehicle schedule.
    pub vehicle_type: Option<String>,
    pub every_km: Option<i64>,
    pub every_months: Option<i32>,
    /// Due this many km before the due odometer.
    pub lead_km: i64,
    /// Due this many days before the due date.
    pub lead_days: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/maintenance-schedules` body: one of `vehicle_id` and `vehicle_type`, at least
/// one of `every_km` and `every_months`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// `null` counts as absent, so the branches say "not null" rather than "present".
#[schemars(extend(
    "oneOf" = [
        { "required": ["vehicle_id"],
          "properties": { "vehicle_id": { "type": "string" }, "vehicle_type": { "type": "null" } } },
        { "required": ["vehicle_type"],
          "properties": { "vehicle_type": { "type": "string" }, "vehicle_id": { "type": "null" } } }
    ],
    "anyOf" = [
        { "required": ["every_km"], "properties": { "every_km": { "type": "integer" } } },
        { "required": ["every_months"], "properties": { "every_months": { "type": "integer" } } }
    ]
))]
pub struct CreateSchedule {
    #[schemars(length(min = 1, max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: String,
    /// A registered vehicle's id.
    #[schemars(length(min = 1, max = 64), regex(pattern = VEHICLE_ID_PATTERN))]
    pub vehicle_id: Option<String>,
    /// Every vehicle of this type that is neither deleted nor decommissioned, now and later.
    #[schemars(length(min = 1, max = 50), regex(pattern = TEXT_PATTERN))]
    pub vehicle_type: Option<String>,
    /// 1 to 1,000,000 km.
    #[schemars(range(min = 1, max = 1_000_000))]
    pub every_km: Option<i64>,
    /// 1 to 120 calendar months.
    #[schemars(range(min = 1, max = 120))]
    pub every_months: Option<i32>,
    /// Default 0; less than `every_km` (0 without it).
    #[schemars(range(min = 0, max = 999_999))]
    pub lead_km: Option<i64>,
    /// Default 0; less than 28 × `every_months` (0 without it).
    #[schemars(range(min = 0, max = 3359))]
    pub lead_days: Option<i32>,
}

/// `PATCH /v1/maintenance-schedules/{id}` body: the fields to change. A `vehicle_id` or a
/// `vehicle_type` replaces the target; `null` clears `every_km` or `every_months` (one must
/// remain).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    { "properties": { "vehicle_id": { "type": "null" } } },
    { "properties": { "vehicle_type": { "type": "null" } } }
]))]
pub struct UpdateSchedule {
    #[schemars(length(min = 1, max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: Option<String>,
    #[schemars(length(min = 1, max = 64), regex(pattern = VEHICLE_ID_PATTERN))]
    pub vehicle_id: Option<String>,
    #[schemars(length(min = 1, max = 50), regex(pattern = TEXT_PATTERN))]
    pub vehicle_type: Option<String>,
    #[serde(default, deserialize_with = "crate::api::extract::double_option")]
    #[schemars(with = "Option<i64>", range(min = 1, max = 1_000_000))]
    pub every_km: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::api::extract::double_option")]
    #[schemars(with = "Option<i32>", range(min = 1, max = 120))]
    pub every_months: Option<Option<i32>>,
    #[schemars(range(min = 0, max = 999_999))]
    pub lead_km: Option<i64>,
    #[schemars(range(min = 0, max = 3359))]
    pub lead_days: Option<i32>,
}

/// What a schedule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Vehicle(String),
    Type(String),
}

/// Everything a schedule row holds, to be checked with [`Fields::checked`].
#[derive(Debug, Clone)]
pub struct Fields {
    pub name: String,
    pub target: Target,
    pub every_km: Option<i64>,
    pub every_months: Option<i32>,
    pub lead_km: i64,
    pub lead_days: i32,
}

/// The target from the two fields that give one: exactly one of them.
pub fn target(vehicle: Option<&str>, kind: Option<&str>) -> Result<Target, ApiError> {
    match (vehicle, kind) {
        (Some(v), None) => {
            vehicle_id("vehicle_id", v)?;
            Ok(Target::Vehicle(v.to_string()))
        }
        (None, Some(t)) => Ok(Target::Type(text("vehicle_type", t, 50)?)),
        (None, None) => Err(ApiError::invalid(
            "vehicle_id",
            "give a vehicle_id or a vehicle_type",
        )),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "vehicle_type",
            "give a vehicle_id or a vehicle_type, not both",
        )),
    }
}

impl Fields {
    /// The fields trimmed and within their ranges, or 422 naming the first that is not.
    pub fn checked(self) -> Result<Fields, ApiError> {
        let name = text("name", &self.name, 200)?;
        if let Some(km) = self.every_km {
            int_range("every_km", km, 1, MAX_EVERY_KM)?;
        }
        if let Some(m) = self.every_months {
            int_range("every_months", m.into(), 1, MAX_EVERY_MONTHS.into())?;
        }
        if self.every_km.is_none() && self.every_months.is_none() {
            return Err(ApiError::invalid(
                "every_km",
                "give every_km, every_months or both",
            ));
        }
        int_range("lead_km", self.lead_km, 0, MAX_EVERY_KM - 1)?;
        let longest_lead_days = SHORTEST_MONTH_DAYS * MAX_EVERY_MONTHS - 1;
        int_range(
            "lead_days",
            self.lead_days.into(),
            0,
            longest_lead_days.into(),
        )?;
        match self.every_km {
            None if self.lead_km > 0 => {
                return Err(ApiError::invalid("lead_km", "needs every_km (or 0)"))
            }
            Some(every) if self.lead_km >= every => {
                return Err(ApiError::invalid(
                    "lead_km",
                    format!("must be less than every_km ({every})"),
                ))
            }
            _ => {}
        }
        match self.every_months {
            None if self.lead_days > 0 => {
                return Err(ApiError::invalid("lead_days", "needs every_months (or 0)"))
            }
            Some(m) if self.lead_days >= SHORTEST_MONTH_DAYS * m => {
                return Err(ApiError::invalid(
                    "lead_days",
                    format!(
                        "must be less than {} days (every_months × 28, the shortest such interval)",
                        SHORTEST_MONTH_DAYS * m
                    ),
                ))
            }
            _ => {}
        }
        Ok(Fields { name, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            name: " Oil ".into(),
            target: Target::Type("van".into()),
            every_km: Some(10_000),
            every_months: Some(12),
            lead_km: 500,
            lead_days: 30,
        }
    }

    fn refused(f: Fields) -> String {
        let e = f.checked().unwrap_err();
        assert_eq!(e.status, 422);
        e.message
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(fields().checked().unwrap().name, "Oil");
        let cases: Vec<(Fields, &str)> = vec![
            (
                Fields {
                    name: " ".into(),
                    ..fields()
                },
                "name:",
            ),
            (
                Fields {
                    name: "x".repeat(201),
                    ..fields()
                },
                "name:",
            ),
            (
                Fields {
                    every_km: Some(0),
                    ..fields()
                },
                "every_km:",
            ),
            (
                Fields {
                    every_km: Some(1_000_001),
                    ..fields()
                },
                "every_km:",
            ),
            (
                Fields {
                    every_months: Some(0),
                    ..fields()
                },
                "every_months:",
            ),
            (
                Fields {
                    every_months: Some(121),
                    ..fields()
                },
                "every_months:",
            ),
            (
                Fields {
                    every_km: None,
                    every_months: None,
                    lead_km: 0,
                    lead_days: 0,
                    ..fields()
                },
                "every_km:",
            ),
            (
                Fields {
                    lead_km: -1,
                    ..fields()
                },
                "lead_km:",
            ),
            (
                Fields {
                    lead_km: 10_000,
                    ..fields()
                },
                "lead_km:",
            ),
            (
                Fields {
                    every_km: None,
                    ..fields()
                },
                "lead_km:",
            ),
            (
                Fields {
                    lead_days: -1,
                    ..fields()
                },
                "lead_days:",
            ),
            (
                Fields {
                    lead_days: 336,
                    ..fields()
                },
                "lead_days:",
            ),
            (
                Fields {
                    every_months: None,
                    ..fields()
                },
                "lead_days:",
            ),
        ];
        for (f, field) in cases {
            let m = refused(f);
            assert!(m.starts_with(field), "{field}: {m}");
        }
        assert!(Fields {
            lead_days: 335,
            ..fields()
        }
        .checked()
        .is_ok());
    }

    #[test]
    fn exactly_one_target() {
        assert_eq!(
            target(Some("v-1"), None).unwrap(),
            Target::Vehicle("v-1".into())
        );
        assert_eq!(
            target(None, Some(" van ")).unwrap(),
            Target::Type("van".into())
        );
        assert!(target(None, None)
            .unwrap_err()
            .message
            .starts_with("vehicle_id:"));
        assert!(target(Some("v"), Some("van"))
            .unwrap_err()
            .message
            .starts_with("vehicle_type:"));
        assert!(target(Some("a b"), None)
            .unwrap_err()
            .message
            .starts_with("vehicle_id:"));
        assert!(target(None, Some("\u{0}"))
            .unwrap_err()
            .message
            .starts_with("vehicle_type:"));
    }
}
