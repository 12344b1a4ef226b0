//! Whom a rule watches: vehicles of some types, some vehicles by id, vehicles inside some
//! geofences; every list empty means the whole fleet. Checked here against the rule's kind.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::InvalidRule;
use super::params::{Params, RuleKind};
use crate::vehicle_id::VehicleId;

/// Most vehicle types in a scope.
pub const MAX_TYPES: usize = 100;
/// Most vehicle ids in a scope.
pub const MAX_IDS: usize = 10_000;
/// Most geofences in a scope.
pub const MAX_FENCES: usize = 1_000;
/// Longest vehicle type.
pub const MAX_TYPE_LEN: usize = 50;

/// A rule's scope: a vehicle counts when it matches every non-empty list (its type is
/// listed, its id is listed, it is inside a listed fence). `licence_expiring` watches
/// drivers and takes no scope; `offline`, `maintenance_due` and `licence_expiring` take no
/// fences. (The request body's schema, with its patterns, is the API's.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AlertScope")]
pub struct Scope {
    #[serde(default)]
    pub vehicle_types: Vec<String>,
    #[serde(default)]
    pub vehicle_ids: Vec<String>,
    #[serde(default)]
    pub geofence_ids: Vec<Uuid>,
}

impl Scope {
    pub fn is_fleet(&self) -> bool {
        self.vehicle_types.is_empty() && self.vehicle_ids.is_empty() && self.geofence_ids.is_empty()
    }

    /// The scope checked (lists sorted, without repeats) for a rule of `kind` with `params`.
    /// Whether the fences exist is the caller's question (it needs the database).
    pub fn checked(&self, kind: RuleKind, params: &Params) -> Result<Scope, InvalidRule> {
        if self.vehicle_types.len() > MAX_TYPES {
            return Err(InvalidRule::new(
                "scope.vehicle_types",
                format!("at most {MAX_TYPES} types"),
            ));
        }
        if self.vehicle_ids.len() > MAX_IDS {
            return Err(InvalidRule::new(
                "scope.vehicle_ids",
                format!("at most {MAX_IDS} vehicle ids"),
            ));
        }
        if self.geofence_ids.len() > MAX_FENCES {
            return Err(InvalidRule::new(
                "scope.geofence_ids",
                format!("at most {MAX_FENCES} geofences"),
            ));
        }
        let mut types = Vec::with_capacity(self.vehicle_types.len());
        for t in &self.vehicle_types {
            let trimmed = t.trim();
            if t.chars().count() > MAX_TYPE_LEN
                || trimmed.is_empty()
                || trimmed.chars().any(char::is_control)
            {
                return Err(InvalidRule::new(
                    "scope.vehicle_types",
                    format!("each 1 to {MAX_TYPE_LEN} characters, without control characters"),
                ));
            }
            types.push(trimmed.to_string());
        }
        if let Some(bad) = self.vehicle_ids.iter().find(|v| !VehicleId::is_valid(v)) {
            let shown: String = bad.chars().take(70).collect();
            return Err(InvalidRule::new(
                "scope.vehicle_ids",
                format!("{shown:?} is not a vehicle id (1 to 64 of [A-Za-z0-9._-])"),
            ));
        }
        let mut scope = Scope {
            vehicle_types: types,
            vehicle_ids: self.vehicle_ids.clone(),
            geofence_ids: self.geofence_ids.clone(),
        };
        scope.vehicle_types.sort();
        scope.vehicle_types.dedup();
        scope.vehicle_ids.sort();
        scope.vehicle_ids.dedup();
        scope.geofence_ids.sort();
        scope.geofence_ids.dedup();
        scope.fits(kind, params)?;
        Ok(scope)
    }

    /// The rules between a kind and its scope.
    fn fits(&self, kind: RuleKind, params: &Params) -> Result<(), InvalidRule> {
        let fences = !self.geofence_ids.is_empty();
        match kind {
            RuleKind::LicenceExpiring if !self.is_fleet() => {
                let field = if !self.vehicle_types.is_empty() {
                    "scope.vehicle_types"
                } else if !self.vehicle_ids.is_empty() {
                    "scope.vehicle_ids"
                } else {
                    "scope.geofence_ids"
                };
                Err(InvalidRule::new(
                    field,
                    "licence_expiring watches every driver and takes no scope",
                ))
            }
            RuleKind::Offline | RuleKind::MaintenanceDue if fences => Err(InvalidRule::new(
                "scope.geofence_ids",
                format!("{} takes no geofences", kind.as_str()),
            )),
            RuleKind::Geofence if !fences => Err(InvalidRule::new(
                "scope.geofence_ids",
                "a geofence rule needs the fences it watches",
            )),
            RuleKind::Speeding => match params {
                Params::Speeding(p) if p.limit_kmh.is_none() && !fences => Err(InvalidRule::new(
                    "params.limit_kmh",
                    "needed unless scope.geofence_ids names fences whose speed_limit_kmh applies",
                )),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(kind: RuleKind, raw: serde_json::Value) -> Params {
        Params::parse(kind, &raw).unwrap()
    }

    #[test]
    fn lists_are_checked_sorted_and_deduplicated() {
        let s = Scope {
            vehicle_types: vec![" van ".into(), "truck".into(), "van".into()],
            vehicle_ids: vec!["b-2".into(), "a-1".into(), "b-2".into()],
            geofence_ids: vec![],
        };
        let p = params(RuleKind::LowFuel, json!({"below_pct": 10}));
        let c = s.checked(RuleKind::LowFuel, &p).unwrap();
        assert_eq!(c.vehicle_types, ["truck", "van"]);
        assert_eq!(c.vehicle_ids, ["a-1", "b-2"]);
        for (scope, field) in [
            (
                Scope {
                    vehicle_ids: vec!["bad id".into()],
                    ..Scope::default()
                },
                "scope.vehicle_ids",
            ),
            (
                Scope {
                    vehicle_types: vec!["  ".into()],
                    ..Scope::default()
                },
                "scope.vehicle_types",
            ),
            (
                Scope {
                    vehicle_types: vec!["a\u{0}b".into()],
                    ..Scope::default()
                },
                "scope.vehicle_types",
            ),
            (
                Scope {
                    vehicle_types: vec!["x".repeat(51)],
                    ..Scope::default()
                },
                "scope.vehicle_types",
            ),
            (
                Scope {
                    vehicle_ids: (0..10_001).map(|i| format!("v{i}")).collect(),
                    ..Scope::default()
                },
                "scope.vehicle_ids",
            ),
        ] {
            assert_eq!(s_err(&scope, RuleKind::LowFuel, &p), field);
        }
    }

    fn s_err(s: &Scope, kind: RuleKind, p: &Params) -> String {
        s.checked(kind, p).unwrap_err().field
    }

    #[test]
    fn each_kind_takes_the_scope_it_can_use() {
        let fence = Scope {
            geofence_ids: vec![Uuid::nil()],
            ..Scope::default()
        };
        let vans = Scope {
            vehicle_types: vec!["van".into()],
            ..Scope::default()
        };
        let licence = params(RuleKind::LicenceExpiring, json!({"within_days": 30}));
        assert_eq!(
            s_err(&vans, RuleKind::LicenceExpiring, &licence),
            "scope.vehicle_types"
        );
        assert_eq!(
            s_err(&fence, RuleKind::LicenceExpiring, &licence),
            "scope.geofence_ids"
        );
        let offline = params(RuleKind::Offline, json!({"after_min": 10}));
        assert_eq!(
            s_err(&fence, RuleKind::Offline, &offline),
            "scope.geofence_ids"
        );
        assert!(vans.checked(RuleKind::Offline, &offline).is_ok());
        let crossing = params(RuleKind::Geofence, json!({"on": "entered"}));
        assert_eq!(
            s_err(&Scope::default(), RuleKind::Geofence, &crossing),
            "scope.geofence_ids"
        );
        assert!(fence.checked(RuleKind::Geofence, &crossing).is_ok());
        let fences_limit = params(RuleKind::Speeding, json!({}));
        assert_eq!(
            s_err(&vans, RuleKind::Speeding, &fences_limit),
            "params.limit_kmh"
        );
        assert!(fence.checked(RuleKind::Speeding, &fences_limit).is_ok());
        let limit = params(RuleKind::Speeding, json!({"limit_kmh": 90}));
        assert!(Scope::default().checked(RuleKind::Speeding, &limit).is_ok());
    }
}
