//! Dispatch jobs: the state machine (pure) and its transitions in PostgreSQL.
//!
//! ```text
//! pending ──offer──▶ offered ──accept──▶ assigned ──pick_up──▶ picked_up ──complete──▶ completed
//!    ▲  │              │ decline / expire                                            
//!    └──┘ no_candidate └──────────▶ pending          pending/offered/assigned ──cancel──▶ cancelled
//!    pending ──give_up──▶ unassigned
//! ```
//!
//! Every transition locks the job's row, checks [`next`], updates the row and appends an
//! event in one transaction; the event's trigger notifies `fleetd_jobs`, so push streams see
//! each job's transitions in commit order. The claim "a driver holds at most one open job"
//! is the unique index `dispatch_jobs_one_open_per_driver`: an offer that would break it
//! fails inside a savepoint and the matcher tries its next candidate.

use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use super::roster::Requirements;

mod state;
mod transitions;

pub use state::{next, Action, EventReason, JobState, STATES};
use transitions::INSERT_EVENT;
pub use transitions::{apply, offer, TransitionError};

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub state: JobState,
    pub pickup: (f64, f64),
    pub dropoff: Option<(f64, f64)>,
    pub requirements: Requirements,
    pub radius_m: f64,
    pub notes: Option<String>,
    pub created_by: Uuid,
    pub driver_id: Option<Uuid>,
    pub vehicle_id: Option<String>,
    pub attempts: i32,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One transition in a job's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobEvent {
    pub job_id: Uuid,
    /// 1 for `created`, then one more per transition.
    pub seq: i32,
    pub state: JobState,
    pub reason: EventReason,
    /// The driver concerned (offered, accepting, declining, ...).
    pub driver_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    /// Who created the job (for stream visibility).
    pub created_by: Uuid,
}

const COLUMNS: &str = "id, state, pickup_lat, pickup_lon, dropoff_lat, dropoff_lon, vehicle_type, \
    min_seats, min_load_kg, radius_m, notes, created_by, driver_id, vehicle_id, attempts, due_at, \
    created_at, updated_at";

const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM dispatch_jobs WHERE id = $1");
const LOCK: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM dispatch_jobs WHERE id = $1 FOR UPDATE"
);
/// Jobs due at `$1` (pending jobs to match, offers that expired), oldest due first; jobs
/// another daemon holds are skipped.
const LOCK_DUE: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM dispatch_jobs
     WHERE state IN ('pending', 'offered') AND due_at <= $1
     ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED"
);
const NEXT_DUE: &str =
    "SELECT min(due_at) FROM dispatch_jobs WHERE state IN ('pending', 'offered')";
/// A page after id `$1`, each filter applying when not NULL.
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM dispatch_jobs
     WHERE ($1::uuid IS NULL OR id > $1)
       AND ($2::text IS NULL OR state = $2)
       AND ($3::uuid IS NULL OR created_by = $3)
       AND ($4::uuid IS NULL OR driver_id = $4)
     ORDER BY id LIMIT $5"
);

const INSERT_JOB: &str = "
    INSERT INTO dispatch_jobs (id, pickup_lat, pickup_lon, dropoff_lat, dropoff_lon, vehicle_type,
                               min_seats, min_load_kg, radius_m, notes, created_by, due_at,
                               created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12)";

const EVENTS: &str = "
    SELECT e.job_id, e.seq, e.state, e.reason, e.driver_id, e.at, j.created_by
      FROM dispatch_job_events e JOIN dispatch_jobs j ON j.id = e.job_id
     WHERE e.job_id = $1 ORDER BY e.seq";

const REFUSED: &str = "SELECT driver_id FROM dispatch_job_refusals WHERE job_id = $1";

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub pickup: (f64, f64),
    pub dropoff: Option<(f64, f64)>,
    pub requirements: Requirements,
    pub radius_m: f64,
    pub notes: Option<String>,
}

/// Inserts a pending job, due for matching at `now`, with its `created` event.
pub async fn create<C: GenericClient>(
    tx: &C,
    job: &NewJob,
    created_by: Uuid,
    now: DateTime<Utc>,
) -> Result<Job, tokio_postgres::Error> {
    let id = Uuid::new_v4();
    let r = &job.requirements;
    tx.execute(
        INSERT_JOB,
        &[
            &id,
            &job.pickup.0,
            &job.pickup.1,
            &job.dropoff.map(|d| d.0),
            &job.dropoff.map(|d| d.1),
            &r.vehicle_type,
            &r.min_seats,
            &r.min_load_kg,
            &job.radius_m,
            &job.notes,
            &created_by,
            &now,
        ],
    )
    .await?;
    tx.execute(
        INSERT_EVENT,
        &[
            &id,
            &"pending",
            &EventReason::Created.as_str(),
            &None::<Uuid>,
            &now,
        ],
    )
    .await?;
    let row = tx.query_one(GET, &[&id]).await?;
    let created = from_row(&row);
    let body = transitions::payload(&created, EventReason::Created.as_str(), None);
    crate::events::emit(tx, crate::events::Kind::JobCreated, &id.to_string(), body).await?;
    Ok(created)
}

/// A job by id, without locking.
pub async fn get<C: GenericClient>(
    client: &C,
    id: Uuid,
) -> Result<Option<Job>, tokio_postgres::Error> {
    let row = client.query_opt(GET, &[&id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Which jobs [`list`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Ids strictly after this one (keyset pagination).
    pub after: Option<Uuid>,
    pub state: Option<JobState>,
    pub created_by: Option<Uuid>,
    pub driver_id: Option<Uuid>,
    pub limit: i64,
}

/// Jobs in id order.
pub async fn list<C: GenericClient>(
    client: &C,
    f: &ListFilter,
) -> Result<Vec<Job>, tokio_postgres::Error> {
    let rows = client
        .query(
            LIST,
            &[
                &f.after,
                &f.state.map(JobState::as_str),
                &f.created_by,
                &f.driver_id,
                &f.limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// A job by id, locked for a transition.
pub async fn lock<C: GenericClient>(
    tx: &C,
    id: Uuid,
) -> Result<Option<Job>, tokio_postgres::Error> {
    let row = tx.query_opt(LOCK, &[&id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Jobs due at `now` (pending jobs to match, offers that expired), locked; jobs another
/// daemon is working on are skipped.
pub async fn lock_due(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Job>, tokio_postgres::Error> {
    let rows = tx.query(LOCK_DUE, &[&now, &limit]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// When the next job falls due, if any is waiting.
pub async fn next_due<C: GenericClient>(
    client: &C,
) -> Result<Option<DateTime<Utc>>, tokio_postgres::Error> {
    client.query_one(NEXT_DUE, &[]).await.map(|r| r.get(0))
}

/// A job's history, oldest first.
pub async fn events<C: GenericClient>(
    client: &C,
    id: Uuid,
) -> Result<Vec<JobEvent>, tokio_postgres::Error> {
    let rows = client.query(EVENTS, &[&id]).await?;
    Ok(rows.iter().map(event_from_row).collect())
}

/// Drivers who declined the job or let its offer expire.
pub async fn refused<C: GenericClient>(
    client: &C,
    id: Uuid,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let rows = client.query(REFUSED, &[&id]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn from_row(r: &Row) -> Job {
    let dropoff = match (r.get::<_, Option<f64>>(4), r.get::<_, Option<f64>>(5)) {
        (Some(lat), Some(lon)) => Some((lat, lon)),
        _ => None,
    };
    Job {
        id: r.get(0),
        state: JobState::parse(r.get(1)).unwrap_or(JobState::Unassigned),
        pickup: (r.get(2), r.get(3)),
        dropoff,
        requirements: Requirements {
            vehicle_type: r.get(6),
            min_seats: r.get(7),
            min_load_kg: r.get(8),
        },
        radius_m: r.get(9),
        notes: r.get(10),
        created_by: r.get(11),
        driver_id: r.get(12),
        vehicle_id: r.get(13),
        attempts: r.get(14),
        due_at: r.get(15),
        created_at: r.get(16),
        updated_at: r.get(17),
    }
}

fn event_from_row(r: &Row) -> JobEvent {
    JobEvent {
        job_id: r.get(0),
        seq: r.get(1),
        state: JobState::parse(r.get(2)).unwrap_or(JobState::Unassigned),
        reason: r.get(3),
        driver_id: r.get(4),
        at: r.get(5),
        created_by: r.get(6),
    }
}
