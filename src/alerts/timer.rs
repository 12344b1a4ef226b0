//! The timer of the time-based rules (`offline`, `licence_expiring`): every daemon runs a
//! pass every `alerts.interval_s`; a pass evaluates each enabled rule of those kinds that no
//! daemon evaluated within the last interval, one rule per transaction: it takes the rule's
//! row with `FOR NO KEY UPDATE SKIP LOCKED` (a rule another daemon is evaluating is skipped),
//! raises an alert for everyone in the condition, clears the rule's other unresolved alerts,
//! and stamps `evaluated_at`. So however many daemons share the database, each rule is
//! evaluated once per interval and each alert opened once. `maintenance_due` joins when
//! maintenance schedules exist.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use tokio_util::sync::CancellationToken;

use super::conditions;
use super::rules::Rule;
use super::store::{self, Raised};
use crate::clock::Clock;

/// A due rule, locked: enabled, time-based, not evaluated within 90 % of the interval (a
/// tick may come a little early), not locked by another daemon's pass.
const NEXT: &str = concatcp!(
    "SELECT id, name, kind, params, vehicle_types, vehicle_ids, geofence_ids, clear_s,
            enabled, created_at, updated_at
       FROM alert_rules
      WHERE enabled AND kind IN ('offline', 'licence_expiring', 'maintenance_due')
        AND (evaluated_at IS NULL OR evaluated_at <= $1::timestamptz - make_interval(secs => $2::float8))
      ORDER BY evaluated_at NULLS FIRST, id
      LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED"
);
const STAMP: &str = "UPDATE alert_rules SET evaluated_at = $2 WHERE id = $1";

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TimerPass {
    /// Rules evaluated.
    pub rules: usize,
    /// Alerts opened.
    pub opened: usize,
    /// Sightings of alerts already open or acknowledged.
    pub seen: usize,
    /// Alerts resolved because their condition stayed clear.
    pub resolved: usize,
}

/// One daemon's timer.
pub struct AlertTimer {
    pool: deadpool_postgres::Pool,
    clock: Clock,
    every: Duration,
}

impl AlertTimer {
    pub fn new(pool: deadpool_postgres::Pool, clock: Clock, every: Duration) -> AlertTimer {
        AlertTimer { pool, clock, every }
    }

    /// Evaluates every due rule at the clock's now.
    pub async fn pass(&self) -> anyhow::Result<TimerPass> {
        let at = self.clock.now();
        let mut pass = TimerPass::default();
        while self
            .next(at, &mut pass)
            .await
            .context("evaluating alert rules")?
        {}
        Ok(pass)
    }

    /// Evaluates the next due rule in a transaction of its own; false when none is left.
    async fn next(&self, at: DateTime<Utc>, pass: &mut TimerPass) -> anyhow::Result<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let slack = self.every.as_secs_f64() * 0.9;
        let Some(row) = tx.query_opt(NEXT, &[&at, &slack]).await? else {
            return Ok(false);
        };
        match Rule::from_row(&row) {
            Ok(rule) => evaluate(&tx, &rule, at, pass).await?,
            // Stamped all the same, so one bad row does not stop the others.
            Err(error) => tracing::warn!(%error, "alert rule unreadable; skipped"),
        }
        let id: uuid::Uuid = row.get("id");
        tx.execute(STAMP, &[&id, &at]).await?;
        tx.commit().await?;
        pass.rules += 1;
        Ok(true)
    }

    /// Runs a pass every interval until `shutdown`; a failed pass is logged and retried at
    /// the next tick.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            match self.pass().await {
                Ok(p) if p.opened + p.resolved > 0 => tracing::info!(
                    rules = p.rules,
                    opened = p.opened,
                    resolved = p.resolved,
                    "alert rules evaluated"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "alert timer failed; next pass retries"
                ),
            }
        }
    }
}

/// Raises `rule` on everyone in its condition at `at` and clears its other alerts.
async fn evaluate(
    tx: &tokio_postgres::Transaction<'_>,
    rule: &Rule,
    at: DateTime<Utc>,
    pass: &mut TimerPass,
) -> Result<(), tokio_postgres::Error> {
    let now = conditions::in_condition(tx, rule, at).await?;
    let mut seen = HashSet::with_capacity(now.len());
    for (subject, details) in &now {
        match store::raise(tx, rule, subject, at, details).await? {
            Raised::Opened(_) => pass.opened += 1,
            Raised::Seen(_) => pass.seen += 1,
        }
        seen.insert(subject.clone());
    }
    for subject in store::unresolved(tx, rule.id).await? {
        if !seen.contains(&subject) && store::clear(tx, rule.id, &subject, at).await? {
            pass.resolved += 1;
        }
    }
    Ok(())
}
