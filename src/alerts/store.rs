//! The alerts' life, each step in the caller's transaction with its event: [`raise`] opens
//! an alert (`alert.opened`) or counts one more sighting of the one not yet resolved (no
//! event); [`clear`] resolves it once the condition stayed clear the rule's `clear_s`
//! (`alert.resolved`, resolution `auto`); [`acknowledge`] and [`resolve`] are the hands'
//! (`alert.acknowledged`, `alert.resolved` with resolution `manual`).
//!
//! One alert not yet resolved per (rule, subject) is the database's rule (the partial unique
//! index `alerts_one_unresolved`): concurrent raises meet in `ON CONFLICT`, one inserts and
//! the others count, whatever the number of daemons. Each step changes the alert's row
//! before it stages the event, so an alert's events are numbered in the order they happened.

use chrono::{DateTime, Utc};
use const_format::concatcp;
use serde_json::{json, Value};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::error::AlertError;
use super::model::{Alert, Subject, COLUMNS};
use super::rules::Rule;
use crate::events::{self, Kind};

/// What [`raise`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// A new alert, with its `alert.opened`.
    Opened(Uuid),
    /// One more sighting of the open or acknowledged alert: `last_seen_at`, `count` and
    /// `details` moved on.
    Seen(Uuid),
}

impl Raised {
    pub fn id(self) -> Uuid {
        match self {
            Raised::Opened(id) | Raised::Seen(id) => id,
        }
    }
}

/// A sighting: a new alert, or the unresolved one counted. An older sighting (`at` before
/// `last_seen_at`) still counts but moves neither `last_seen_at` nor `details`.
const RAISE: &str = concatcp!(
    "INSERT INTO alerts AS a (id, rule_id, kind, subject_type, subject_id, opened_at,
        last_seen_at, details)
     VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
     ON CONFLICT (rule_id, subject_type, subject_id) WHERE status <> 'resolved'
     DO UPDATE SET count = a.count + 1,
        last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at),
        details = CASE WHEN EXCLUDED.last_seen_at >= a.last_seen_at THEN EXCLUDED.details
                       ELSE a.details END
     RETURNING (xmax = 0) AS inserted, ",
    COLUMNS
);
/// Resolves the unresolved alert of (rule, subject) when it was last seen `clear_s` ago.
const CLEAR: &str = concatcp!(
    "UPDATE alerts a SET status = 'resolved', resolved_at = $4, resolution = 'auto'
       FROM alert_rules r
      WHERE a.rule_id = $1 AND a.subject_type = $2 AND a.subject_id = $3
        AND a.status <> 'resolved' AND r.id = a.rule_id
        AND a.last_seen_at + make_interval(secs => r.clear_s) <= $4
      RETURNING ",
    "a.id, a.rule_id, a.kind, a.subject_type, a.subject_id, a.status, a.opened_at,
       a.last_seen_at, a.count, a.details, a.acknowledged_at, a.acknowledged_by, a.resolved_at,
       a.resolved_by, a.resolution"
);
const LOCK: &str = concatcp!("SELECT ", COLUMNS, " FROM alerts WHERE id = $1 FOR UPDATE");
const ACKNOWLEDGE: &str = concatcp!(
    "UPDATE alerts SET status = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3
      WHERE id = $1 RETURNING ",
    COLUMNS
);
const RESOLVE: &str = concatcp!(
    "UPDATE alerts SET status = 'resolved', resolved_at = $2, resolved_by = $3,
            resolution = 'manual'
      WHERE id = $1 RETURNING ",
    COLUMNS
);
/// Every unresolved alert of a rule, resolved by hand (the rule is disabled or deleted).
const RESOLVE_RULE: &str = concatcp!(
    "UPDATE alerts SET status = 'resolved', resolved_at = $2, resolved_by = $3,
            resolution = 'manual'
      WHERE rule_id = $1 AND status <> 'resolved' RETURNING ",
    COLUMNS
);
/// The unresolved alerts of a rule: its subjects (evaluators clear those no longer seen).
const UNRESOLVED: &str =
    "SELECT subject_type, subject_id FROM alerts WHERE rule_id = $1 AND status <> 'resolved'";

/// `{"alert": …}`: every alert event's payload.
fn payload(alert: &Alert) -> Value {
    json!({ "alert": alert })
}

async fn emit(
    c: &impl GenericClient,
    kind: Kind,
    alert: &Alert,
) -> Result<(), tokio_postgres::Error> {
    events::emit(c, kind, &alert.id.to_string(), payload(alert)).await
}

/// `rule`'s condition seen on `subject` at `at`, with what was seen (`details`, an object).
pub async fn raise(
    c: &impl GenericClient,
    rule: &Rule,
    subject: &Subject,
    at: DateTime<Utc>,
    details: &Value,
) -> Result<Raised, tokio_postgres::Error> {
    let row = c
        .query_one(
            RAISE,
            &[
                &Uuid::new_v4(),
                &rule.id,
                &rule.kind.as_str(),
                &subject.kind.as_str(),
                &subject.id,
                &at,
                details,
            ],
        )
        .await?;
    let alert = Alert::from_row(&row);
    if row.get::<_, bool>("inserted") {
        emit(c, Kind::AlertOpened, &alert).await?;
        Ok(Raised::Opened(alert.id))
    } else {
        Ok(Raised::Seen(alert.id))
    }
}

/// `rule_id`'s condition seen clear on `subject` at `at`: resolves its unresolved alert if
/// it was last seen the rule's `clear_s` ago or more. Whether it resolved one.
pub async fn clear(
    c: &impl GenericClient,
    rule_id: Uuid,
    subject: &Subject,
    at: DateTime<Utc>,
) -> Result<bool, tokio_postgres::Error> {
    let row = c
        .query_opt(CLEAR, &[&rule_id, &subject.kind.as_str(), &subject.id, &at])
        .await?;
    match row {
        Some(row) => {
            emit(c, Kind::AlertResolved, &Alert::from_row(&row)).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The subjects of `rule_id`'s alerts not yet resolved.
pub async fn unresolved(
    c: &impl GenericClient,
    rule_id: Uuid,
) -> Result<Vec<Subject>, tokio_postgres::Error> {
    let rows = c.query(UNRESOLVED, &[&rule_id]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Subject {
                kind: super::params::SubjectType::parse(r.get(0))?,
                id: r.get(1),
            })
        })
        .collect())
}

async fn locked(c: &impl GenericClient, id: Uuid) -> Result<Alert, AlertError> {
    let row = c
        .query_opt(LOCK, &[&id])
        .await?
        .ok_or(AlertError::NotFound)?;
    Ok(Alert::from_row(&row))
}

/// Acknowledged by `by` at `at`; refused when already acknowledged or resolved.
pub async fn acknowledge(
    c: &impl GenericClient,
    id: Uuid,
    by: Uuid,
    at: DateTime<Utc>,
) -> Result<Alert, AlertError> {
    let current = locked(c, id).await?;
    match current.status {
        super::model::AlertStatus::Resolved => return Err(AlertError::Already("resolved")),
        super::model::AlertStatus::Acknowledged => return Err(AlertError::Already("acknowledged")),
        super::model::AlertStatus::Open => {}
    }
    let alert = Alert::from_row(&c.query_one(ACKNOWLEDGE, &[&id, &at, &by]).await?);
    emit(c, Kind::AlertAcknowledged, &alert).await?;
    Ok(alert)
}

/// Resolved by `by` at `at`; refused when already resolved. A later sighting opens a new
/// alert.
pub async fn resolve(
    c: &impl GenericClient,
    id: Uuid,
    by: Uuid,
    at: DateTime<Utc>,
) -> Result<Alert, AlertError> {
    let current = locked(c, id).await?;
    if current.status == super::model::AlertStatus::Resolved {
        return Err(AlertError::Already("resolved"));
    }
    let alert = Alert::from_row(&c.query_one(RESOLVE, &[&id, &at, &by]).await?);
    emit(c, Kind::AlertResolved, &alert).await?;
    Ok(alert)
}

/// Resolves by hand every unresolved alert of `rule_id` (disabled or deleted by `by`);
/// how many.
pub async fn resolve_rule(
    c: &impl GenericClient,
    rule_id: Uuid,
    by: Uuid,
    at: DateTime<Utc>,
) -> Result<usize, tokio_postgres::Error> {
    let rows = c.query(RESOLVE_RULE, &[&rule_id, &at, &by]).await?;
    for row in &rows {
        emit(c, Kind::AlertResolved, &Alert::from_row(row)).await?;
    }
    Ok(rows.len())
}
