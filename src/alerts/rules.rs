//! Alert rules as stored in `alert_rules`: the typed [`Rule`], and the statements that read
//! and write it. The API checks a rule before it writes it; evaluators read them here.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::error::InvalidRule;
use super::params::{Params, RuleKind};
use super::scope::Scope;

/// Longest rule name.
pub const MAX_NAME: usize = 200;
/// Longest clear time: 7 days.
pub const MAX_CLEAR_S: i32 = 604_800;
/// The clear time of a rule created without one: 5 minutes.
pub const DEFAULT_CLEAR_S: i32 = 300;

/// An alert rule.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(rename = "AlertRule")]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    pub kind: RuleKind,
    /// The kind's parameters (docs/alerts.md).
    pub params: Params,
    pub scope: Scope,
    /// Seconds the condition must stay clear before an alert resolves itself.
    pub clear_s: i32,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, kind, params, vehicle_types, vehicle_ids, geofence_ids, \
                       clear_s, enabled, created_at, updated_at";
const GET: &str = const_format::concatcp!("SELECT ", COLUMNS, " FROM alert_rules WHERE id = $1");
const GET_FOR_UPDATE: &str = const_format::concatcp!(GET, " FOR UPDATE");
const LIST: &str = const_format::concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM alert_rules
     WHERE ($1::uuid IS NULL OR id > $1) AND ($3::text IS NULL OR kind = $3)
       AND ($4::boolean IS NULL OR enabled = $4)
     ORDER BY id LIMIT $2"
);
const UPSERT: &str = "INSERT INTO alert_rules AS r (id, name, kind, params, vehicle_types,
        vehicle_ids, geofence_ids, clear_s, enabled, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, params = EXCLUDED.params,
        vehicle_types = EXCLUDED.vehicle_types, vehicle_ids = EXCLUDED.vehicle_ids,
        geofence_ids = EXCLUDED.geofence_ids, clear_s = EXCLUDED.clear_s,
        enabled = EXCLUDED.enabled, updated_at = EXCLUDED.updated_at";
const DELETE: &str = "DELETE FROM alert_rules WHERE id = $1";
const ENABLED: &str = const_format::concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM alert_rules WHERE enabled AND kind = ANY($1) ORDER BY id"
);
/// Geofences of `$1` that exist, and their speed limits.
const FENCES: &str = "SELECT id, speed_limit_kmh FROM geofences WHERE id = ANY($1)";

impl Rule {
    /// From a row of `alert_rules`; a row whose parameters no longer read is an error.
    pub fn from_row(row: &tokio_postgres::Row) -> Result<Rule, InvalidRule> {
        let kind: &str = row.get("kind");
        let kind = RuleKind::parse(kind)
            .ok_or_else(|| InvalidRule::new("kind", format!("unknown kind {kind}")))?;
        Ok(Rule {
            id: row.get("id"),
            name: row.get("name"),
            kind,
            params: Params::parse(kind, &row.get("params"))?,
            scope: Scope {
                vehicle_types: row.get("vehicle_types"),
                vehicle_ids: row.get("vehicle_ids"),
                geofence_ids: row.get("geofence_ids"),
            },
            clear_s: row.get("clear_s"),
            enabled: row.get("enabled"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        })
    }
}

/// A name: at most [`MAX_NAME`] characters, trimmed, not empty, no control characters.
pub fn name(raw: &str) -> Result<String, InvalidRule> {
    let trimmed = raw.trim();
    if raw.chars().count() > MAX_NAME {
        return Err(InvalidRule::new(
            "name",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    if trimmed.is_empty() {
        return Err(InvalidRule::new("name", "must not be empty"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidRule::new(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// A clear time in `0..=MAX_CLEAR_S`.
pub fn clear_s(v: i64) -> Result<i32, InvalidRule> {
    if !(0..=i64::from(MAX_CLEAR_S)).contains(&v) {
        return Err(InvalidRule::new(
            "clear_s",
            format!("must be in 0..={MAX_CLEAR_S}"),
        ));
    }
    Ok(v as i32)
}

/// Checks that the scope's fences exist and, for a speeding rule without its own limit, that
/// each has a speed limit.
pub async fn check_fences(c: &impl GenericClient, rule: &Rule) -> Result<(), CheckError> {
    if rule.scope.geofence_ids.is_empty() {
        return Ok(());
    }
    let rows = c.query(FENCES, &[&rule.scope.geofence_ids]).await?;
    let found: Vec<(Uuid, Option<f64>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    for id in &rule.scope.geofence_ids {
        match found.iter().find(|(f, _)| f == id) {
            None => {
                return Err(CheckError::Invalid(InvalidRule::new(
                    "scope.geofence_ids",
                    format!("no geofence {id}"),
                )))
            }
            Some((_, None)) if matches!(&rule.params, Params::Speeding(p) if p.limit_kmh.is_none()) => {
                return Err(CheckError::Invalid(InvalidRule::new(
                    "params.limit_kmh",
                    format!("needed: geofence {id} has no speed_limit_kmh"),
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Why [`check_fences`] refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A fence is missing or lacks the speed limit the rule needs.
    #[error(transparent)]
    Invalid(#[from] InvalidRule),
    /// The database refused or the connection broke.
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// Writes `rule` whole (its kind only when it is new).
pub async fn write(c: &impl GenericClient, rule: &Rule) -> Result<(), tokio_postgres::Error> {
    c.execute(
        UPSERT,
        &[
            &rule.id,
            &rule.name,
            &rule.kind.as_str(),
            &rule.params.to_value(),
            &rule.scope.vehicle_types,
            &rule.scope.vehicle_ids,
            &rule.scope.geofence_ids,
            &rule.clear_s,
            &rule.enabled,
            &rule.updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// The rule `id`, locked for a change when `for_update`.
pub async fn get(
    c: &impl GenericClient,
    id: Uuid,
    for_update: bool,
) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
    c.query_opt(if for_update { GET_FOR_UPDATE } else { GET }, &[&id])
        .await
}

/// A page of rules by id after `after`, of `kind` and `enabled` when given.
pub async fn list(
    c: &impl GenericClient,
    after: Option<Uuid>,
    fetch: i64,
    kind: Option<RuleKind>,
    enabled: Option<bool>,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    c.query(
        LIST,
        &[&after, &fetch, &kind.map(RuleKind::as_str), &enabled],
    )
    .await
}

/// The enabled rules of `kinds`, by id; a row that no longer reads is left out with a
/// warning (it was checked when written).
pub async fn enabled(
    c: &impl GenericClient,
    kinds: &[RuleKind],
) -> Result<Vec<Rule>, tokio_postgres::Error> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let rows = c.query(ENABLED, &[&kinds]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Rule::from_row(r)
                .map_err(|e| tracing::warn!(rule = %r.get::<_, Uuid>("id"), error = %e, "alert rule left out"))
                .ok()
        })
        .collect())
}

/// Deletes the rule `id`; whether it existed.
pub async fn delete(c: &impl GenericClient, id: Uuid) -> Result<bool, tokio_postgres::Error> {
    Ok(c.execute(DELETE, &[&id]).await? > 0)
}
