//! Transitions of a locked job: [`apply`] an action, or [`offer`] it to a driver, each
//! updating the row, appending the event and the driver's duty status in the caller's
//! transaction, and emitting the `job.*` (and `driver.duty_changed`) outbox events.

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_postgres::error::SqlState;
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use super::{next, Action, Job, JobState};
use crate::events::{self, Kind};

pub(super) const INSERT_EVENT: &str = "
    INSERT INTO dispatch_job_events (job_id, seq, state, reason, driver_id, at)
    SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM dispatch_job_events WHERE job_id = $1";

const UPDATE_JOB: &str = "
    UPDATE dispatch_jobs
       SET state = $2, driver_id = $3, vehicle_id = $4, attempts = $5, due_at = $6, updated_at = $7
     WHERE id = $1";

const REFUSE: &str = "
    INSERT INTO dispatch_job_refusals (job_id, driver_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// Taking a job makes the driver busy; finishing or losing it makes them available again.
const DRIVER_BUSY: &str = "UPDATE drivers SET duty_status = 'busy', updated_at = now()
                            WHERE id = $1 AND duty_status = 'available' RETURNING id";
const DRIVER_FREE: &str = "UPDATE drivers SET duty_status = 'available', updated_at = now()
                            WHERE id = $1 AND duty_status = 'busy' RETURNING id";

/// Why a transition did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error("no such job")]
    NotFound,
    #[error("job is {from}; it cannot be {action}", from = .from.as_str(), action = .action.reason().as_str())]
    Illegal { from: JobState, action: Action },
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[error("no database connection: {0}")]
    Pool(#[source] deadpool_postgres::PoolError),
}

/// Applies `action` to a locked `job`: checks the state machine, updates the row, records
/// the event and the driver's duty status. `due_at` is the next deadline (offer expiry or
/// next attempt) where the new state has one.
pub async fn apply<C: GenericClient>(
    tx: &C,
    job: &Job,
    action: Action,
    now: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
) -> Result<Job, TransitionError> {
    let to = next(job.state, action).ok_or(TransitionError::Illegal {
        from: job.state,
        action,
    })?;
    let mut updated = job.clone();
    updated.state = to;
    updated.updated_at = now;
    updated.due_at =
        matches!(to, JobState::Pending | JobState::Offered).then(|| due_at.unwrap_or(now));
    let concerned = job.driver_id;
    match action {
        Action::Decline | Action::Expire => {
            let driver = job.driver_id.expect("an offered job has a driver");
            tx.execute(REFUSE, &[&job.id, &driver]).await?;
            updated.driver_id = None;
            updated.vehicle_id = None;
        }
        Action::NoCandidate | Action::GiveUp => updated.attempts += 1,
        Action::Accept => duty(tx, DRIVER_BUSY, concerned, "available", "busy").await?,
        Action::Complete => duty(tx, DRIVER_FREE, concerned, "busy", "available").await?,
        // Only an accepted job made the driver busy.
        Action::Cancel if job.state == JobState::Assigned => {
            duty(tx, DRIVER_FREE, concerned, "busy", "available").await?
        }
        _ => {}
    }
    write(tx, &updated, action, concerned, now).await?;
    Ok(updated)
}

/// Offers a locked pending `job` to `driver_id` in `vehicle_id` until `expires_at`.
/// `Ok(None)` when the driver already holds an open job (the claim constraint refused it).
pub async fn offer(
    tx: &mut Transaction<'_>,
    job: &Job,
    driver_id: Uuid,
    vehicle_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<Job>, TransitionError> {
    if next(job.state, Action::Offer).is_none() {
        return Err(TransitionError::Illegal {
            from: job.state,
            action: Action::Offer,
        });
    }
    let mut updated = job.clone();
    updated.state = JobState::Offered;
    updated.driver_id = Some(driver_id);
    updated.vehicle_id = Some(vehicle_id.to_string());
    updated.due_at = Some(expires_at);
    updated.updated_at = now;
    let sp = tx.savepoint("offer").await?;
    match write(&sp, &updated, Action::Offer, Some(driver_id), now).await {
        Ok(()) => {
            sp.commit().await?;
            Ok(Some(updated))
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            sp.rollback().await?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Moves the driver's duty status with `update` and emits `driver.duty_changed` if it moved.
async fn duty<C: GenericClient>(
    tx: &C,
    update: &str,
    driver: Option<Uuid>,
    from: &str,
    to: &str,
) -> Result<(), tokio_postgres::Error> {
    if let Some(row) = tx.query_opt(update, &[&driver]).await? {
        events::duty_changed(tx, row.get(0), from, to).await?;
    }
    Ok(())
}

/// The event a transition emits (a matching round without a candidate emits none).
fn kind(action: Action) -> Option<Kind> {
    Some(match action {
        Action::Offer => Kind::JobOffered,
        Action::Accept => Kind::JobAccepted,
        Action::Decline => Kind::JobDeclined,
        Action::Expire => Kind::JobExpired,
        Action::NoCandidate => return None,
        Action::GiveUp => Kind::JobUnassigned,
        Action::PickUp => Kind::JobPickedUp,
        Action::Complete => Kind::JobCompleted,
        Action::Cancel => Kind::JobCancelled,
    })
}

/// `job.*` events' payload: the job after the transition.
pub(super) fn payload(job: &Job, reason: &str, driver: Option<Uuid>) -> serde_json::Value {
    json!({
        "job_id": job.id,
        "state": job.state.as_str(),
        "reason": reason,
        "driver_id": driver,
        "vehicle_id": job.vehicle_id,
        "attempts": job.attempts,
        "due_at": job.due_at,
        "created_by": job.created_by,
    })
}

async fn write<C: GenericClient>(
    tx: &C,
    job: &Job,
    action: Action,
    driver: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        UPDATE_JOB,
        &[
            &job.id,
            &job.state.as_str(),
            &job.driver_id,
            &job.vehicle_id,
            &job.attempts,
            &job.due_at,
            &now,
        ],
    )
    .await?;
    tx.execute(
        INSERT_EVENT,
        &[
            &job.id,
            &job.state.as_str(),
            &action.reason().as_str(),
            &driver,
            &now,
        ],
    )
    .await?;
    if let Some(kind) = kind(action) {
        let body = payload(job, action.reason().as_str(), driver);
        events::emit(tx, kind, &job.id.to_string(), body).await?;
    }
    Ok(())
}
