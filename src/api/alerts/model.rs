//! The bodies `/v1/alert-rules` takes, their schemas (each kind's `params` documented as a
//! branch of the body's `oneOf`), and the rule checks' 422s.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::alerts::{InvalidRule, Params, RuleKind, Scope};
use crate::api::error::ApiError;
use crate::api::extract::{TEXT_PATTERN, VEHICLE_ID_PATTERN};

impl From<InvalidRule> for ApiError {
    fn from(e: InvalidRule) -> Self {
        ApiError::invalid(&e.field, e.message)
    }
}

/// Whom a rule watches: vehicles matching every non-empty list; all empty (or absent): the
/// whole fleet.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AlertScopeBody")]
pub struct ScopeBody {
    /// Only vehicles of these types.
    #[serde(default)]
    #[schemars(length(max = 100), inner(length(min = 1, max = 50), regex(pattern = TEXT_PATTERN)))]
    pub vehicle_types: Vec<String>,
    /// Only these vehicles.
    #[serde(default)]
    #[schemars(length(max = 10000), inner(regex(pattern = VEHICLE_ID_PATTERN)))]
    pub vehicle_ids: Vec<String>,
    /// Only while inside one of these geofences (required by `geofence` rules, and by
    /// `speeding` rules without `limit_kmh`; refused by `offline`, `maintenance_due` and
    /// `licence_expiring`).
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub geofence_ids: Vec<Uuid>,
}

impl From<ScopeBody> for Scope {
    fn from(b: ScopeBody) -> Scope {
        Scope {
            vehicle_types: b.vehicle_types,
            vehicle_ids: b.vehicle_ids,
            geofence_ids: b.geofence_ids,
        }
    }
}

/// `POST /v1/alert-rules` body (its schema: [`CreateRuleDoc`]).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    #[schemars(length(min = 1, max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: String,
    pub kind: RuleKind,
    /// The kind's parameters (absent: `{}`).
    #[serde(default = "no_params")]
    #[schemars(schema_with = "any_params")]
    pub params: Value,
    #[serde(default)]
    pub scope: ScopeBody,
    /// Seconds the condition must stay clear before an alert resolves itself (0 to 7 days,
    /// default 300).
    #[schemars(range(min = 0, max = 604800))]
    pub clear_s: Option<i64>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// `PATCH /v1/alert-rules/{id}` body: the fields to change. The kind never changes;
/// `params` replaces the parameters whole (checked against the rule's kind), `scope` the
/// scope whole. Disabling a rule resolves its alerts not yet resolved.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "UpdateAlertRule")]
pub struct UpdateRule {
    #[schemars(length(min = 1, max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "any_params_or_null")]
    pub params: Option<Value>,
    pub scope: Option<ScopeBody>,
    #[schemars(range(min = 0, max = 604800))]
    pub clear_s: Option<i64>,
    pub enabled: Option<bool>,
}

/// Any kind's parameters (the rule's kind says which).
fn any_params(g: &mut SchemaGenerator) -> Schema {
    let branches: Vec<Schema> = RuleKind::ALL
        .into_iter()
        .map(|k| Params::schema(k, g).0)
        .collect();
    schemars::json_schema!({
        "description": "The parameters of the rule's kind (docs/alerts.md)",
        "anyOf": branches
    })
}

fn any_params_or_null(g: &mut SchemaGenerator) -> Schema {
    let mut schema = any_params(g);
    if let Some(Value::Array(branches)) = schema.get_mut("anyOf") {
        branches.push(json!({ "type": "null" }));
    }
    schema
}

fn no_params() -> Value {
    json!({})
}

/// The documented schema of `POST /v1/alert-rules`: [`CreateRule`]'s fields, and one
/// `oneOf` branch per kind fixing `kind` and giving `params` that kind's schema (required
/// when the kind has a parameter without a default).
pub struct CreateRuleDoc;

impl JsonSchema for CreateRuleDoc {
    fn schema_name() -> Cow<'static, str> {
        "CreateAlertRule".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let mut schema = CreateRule::json_schema(g);
        let branches: Vec<Value> = RuleKind::ALL
            .into_iter()
            .map(|kind| {
                let (params, required) = Params::schema(kind, g);
                let mut branch = json!({
                    "properties": {
                        "kind": { "const": kind.as_str() },
                        "params": params
                    }
                });
                if required {
                    branch["required"] = json!(["params"]);
                }
                branch
            })
            .collect();
        schema.insert("oneOf".into(), Value::Array(branches));
        schema
    }
}
