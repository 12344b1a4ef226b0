//! An alert as the API shows it and its events carry, and what it is about.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::params::{RuleKind, SubjectType};

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "AlertStatus")]
pub enum AlertStatus {
    /// Raised and nobody has acknowledged it.
    Open,
    /// Someone has seen it; it still counts sightings and resolves like an open one.
    Acknowledged,
    /// Over: by itself (the condition stayed clear `clear_s`) or by hand.
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        [
            AlertStatus::Open,
            AlertStatus::Acknowledged,
            AlertStatus::Resolved,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// How an alert was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "AlertResolution")]
pub enum Resolution {
    /// The condition stayed clear for the rule's `clear_s`.
    Auto,
    /// By a user (`POST /v1/alerts/{id}/resolve`, or the rule was disabled or deleted).
    Manual,
}

/// What an alert is about: a vehicle (by its id) or a driver (by their UUID, as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    pub kind: SubjectType,
    pub id: String,
}

impl Subject {
    pub fn vehicle(id: impl Into<String>) -> Subject {
        Subject {
            kind: SubjectType::Vehicle,
            id: id.into(),
        }
    }

    pub fn driver(id: Uuid) -> Subject {
        Subject {
            kind: SubjectType::Driver,
            id: id.to_string(),
        }
    }
}

/// One rule's condition on one subject, from the first sighting to its resolution.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Alert {
    pub id: Uuid,
    /// The rule that raised it; null once the rule is deleted.
    pub rule_id: Option<Uuid>,
    pub kind: RuleKind,
    pub subject_type: SubjectType,
    /// A vehicle id, or a driver id.
    pub subject_id: String,
    pub status: AlertStatus,
    pub opened_at: DateTime<Utc>,
    /// The latest time the condition was seen.
    pub last_seen_at: DateTime<Utc>,
    /// Times the condition was seen while the alert was not resolved (1 when opened).
    #[schemars(range(min = 1))]
    pub count: i32,
    /// What the latest sighting saw; its fields depend on the kind (docs/alerts.md).
    #[schemars(schema_with = "details_schema")]
    pub details: Value,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The user who acknowledged it.
    pub acknowledged_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The user who resolved it by hand; null when it resolved itself.
    pub resolved_by: Option<Uuid>,
    pub resolution: Option<Resolution>,
}

fn details_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "What the latest sighting saw, by kind: offline {vehicle_id, driver_id, \
                        after_min, last_reading_at}; licence_expiring {driver_id, \
                        licence_expiry, days_left}"
    })
}

/// The columns [`Alert::from_row`] reads.
pub const COLUMNS: &str = "id, rule_id, kind, subject_type, subject_id, status, opened_at, \
     last_seen_at, count, details, acknowledged_at, acknowledged_by, resolved_at, resolved_by, \
     resolution";

impl Alert {
    /// From a row with [`COLUMNS`]. The table's checks keep every text one of its values.
    pub fn from_row(row: &tokio_postgres::Row) -> Alert {
        let kind: &str = row.get("kind");
        let subject: &str = row.get("subject_type");
        let status: &str = row.get("status");
        let resolution: Option<&str> = row.get("resolution");
        Alert {
            id: row.get("id"),
            rule_id: row.get("rule_id"),
            kind: RuleKind::parse(kind).unwrap_or(RuleKind::Offline),
            subject_type: SubjectType::parse(subject).unwrap_or(SubjectType::Vehicle),
            subject_id: row.get("subject_id"),
            status: AlertStatus::parse(status).unwrap_or(AlertStatus::Open),
            opened_at: row.get("opened_at"),
            last_seen_at: row.get("last_seen_at"),
            count: row.get("count"),
            details: row.get("details"),
            acknowledged_at: row.get("acknowledged_at"),
            acknowledged_by: row.get("acknowledged_by"),
            resolved_at: row.get("resolved_at"),
            resolved_by: row.get("resolved_by"),
            resolution: resolution.map(|r| {
                if r == "manual" {
                    Resolution::Manual
                } else {
                    Resolution::Auto
                }
            }),
        }
    }
}
