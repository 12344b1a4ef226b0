//! Commitments that cannot overlap. A vehicle's rentals, maintenance windows and scheduled
//! assignments are rows of `vehicle_commitments`, whose exclusion constraint refuses any two
//! overlapping periods for one vehicle; a driver's assignments are kept apart by an
//! exclusion constraint on `assignments`. PostgreSQL decides, so concurrent requests can
//! never double-book. The insert runs under a savepoint: when it is refused, the
//! transaction rolls back to it and looks up the commitment in the way, for the 409.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use uuid::Uuid;

use serde::Serialize;

/// Why a commitment was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommitmentError {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    /// The vehicle named does not exist (or was deleted).
    #[error("no such vehicle")]
    NoSuchVehicle,
    /// Nobody can book, assign or take a decommissioned vehicle.
    #[error("vehicle {0} is decommissioned")]
    Decommissioned(String),
    /// The period overlaps another commitment; `conflict` names it while it still exists.
    #[error("{message}")]
    Overlap {
        message: String,
        conflict: Option<Conflict>,
    },
    /// Starting after the booked window ended.
    #[error("{kind} {id}'s window ended at {to}")]
    WindowEnded {
        kind: &'static str,
        id: Uuid,
        to: DateTime<Utc>,
    },
    /// The vehicle is out (rented or under maintenance) with no commitment covering now: an
    /// overdue rental or an overrunning repair, back at a time nobody knows.
    #[error("vehicle {vehicle} is {status} past everything it is booked for; it can be booked again once it is back")]
    Overdue { vehicle: String, status: String },
    /// The vehicle still holds a commitment (before deleting or decommissioning it).
    #[error("vehicle {vehicle} still has {kind} {id}")]
    StillCommitted {
        vehicle: String,
        kind: String,
        id: Uuid,
    },
    /// A booking without its commitment row: a bug.
    #[error("{kind} {id} holds no commitment")]
    Missing { kind: &'static str, id: Uuid },
}

/// What is in the way of an overlapping commitment, for clients to act on without parsing
/// the message: only the kind and id, never whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub kind: String,
    pub id: Uuid,
}

/// Whether the vehicle is decommissioned, locked against that changing.
const LOCK_VEHICLE: &str = "SELECT status = 'decommissioned' FROM vehicles
                            WHERE id = $1 AND deleted_at IS NULL FOR SHARE";
/// The vehicle's status when it is out with no commitment covering `$2` (now).
const OUT_UNBOOKED: &str = "SELECT status FROM vehicles v
     WHERE id = $1 AND status IN ('rented', 'under_maintenance')
       AND NOT EXISTS (SELECT 1 FROM vehicle_commitments c
                        WHERE c.vehicle_id = v.id AND c.period @> $2::timestamptz)";
/// Serialises the transactions that write one vehicle's commitments, held to the end of the
/// transaction. Without it, concurrent conflicting inserts each see the other's uncommitted row
/// under the exclusion constraint and wait for each other: a deadlock that PostgreSQL breaks
/// only after `deadlock_timeout` (1 s), so fifty simultaneous bookings of one vehicle took
/// seconds and held as many pool connections. In the two-key advisory space ("fcmt", then the
/// vehicle's hash), apart from the single-key locks elsewhere; a hash collision between two
/// vehicles only makes them take turns.
const SERIALIZE: &str = "SELECT pg_advisory_xact_lock(1717792116, hashtext($1))";
const CLAIM: &str = "INSERT INTO vehicle_commitments (vehicle_id, kind, ref_id, period)
                     VALUES ($1, $2, $3, tstzrange($4, $5, '[)'))";
/// A commitment overlapping `[$2, $3)`, for the 409's message.
const IN_THE_WAY: &str = "SELECT kind, ref_id FROM vehicle_commitments
                          WHERE vehicle_id = $1 AND period && tstzrange($2, $3, '[)') LIMIT 1";
const FIRST_HELD: &str =
    "SELECT kind, ref_id FROM vehicle_commitments WHERE vehicle_id = $1 ORDER BY period LIMIT 1";
const RELEASE: &str = "DELETE FROM vehicle_commitments WHERE kind = $1 AND ref_id = $2";
/// The period of `$1`/`$2`, locked for [`start_now`].
const PERIOD: &str = "SELECT lower(period), upper(period) FROM vehicle_commitments
                      WHERE kind = $1 AND ref_id = $2 FOR UPDATE";
/// Moves the start of `$1`/`$2` back to `$3` (now); the exclusion constraint judges the new
/// range.
const FROM_NOW: &str = "UPDATE vehicle_commitments
                           SET period = tstzrange($3, upper(period), '[)')
                        WHERE kind = $1 AND ref_id = $2";

/// What occupies a vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rental,
    Maintenance,
    Assignment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rental => "rental",
            Kind::Maintenance => "maintenance",
            Kind::Assignment => "assignment",
        }
    }
}

/// Runs `sql` under a savepoint; `Ok(false)` when an exclusion constraint refused it (the
/// transaction is then usable again), other errors as usual.
pub async fn try_exclusive(
    tx: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<bool, CommitmentError> {
    tx.batch_execute("SAVEPOINT exclusive").await?;
    match tx.execute(sql, params).await {
        Ok(_) => {
            tx.batch_execute("RELEASE SAVEPOINT exclusive").await?;
            Ok(true)
        }
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::EXCLUSION_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT exclusive").await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Locks the vehicle against decommissioning and deletion for the rest of `tx` and checks
/// that it can take commitments.
pub async fn lock_vehicle(tx: &Client, vehicle_id: &str) -> Result<(), CommitmentError> {
    let row = tx
        .query_opt(LOCK_VEHICLE, &[&vehicle_id])
        .await?
        .ok_or(CommitmentError::NoSuchVehicle)?;
    if row.get::<_, bool>(0) {
        return Err(CommitmentError::Decommissioned(vehicle_id.to_string()));
    }
    Ok(())
}

/// Refuses a vehicle that is out past its bookings at `now` (an overdue rental, a repair
/// running over its window): `GET /v1/availability` already offers it for no window, and a
/// new booking must not be promised a vehicle that is not back. Call after [`lock_vehicle`].
pub async fn check_back(
    tx: &Client,
    vehicle_id: &str,
    now: DateTime<Utc>,
) -> Result<(), CommitmentError> {
    match tx.query_opt(OUT_UNBOOKED, &[&vehicle_id, &now]).await? {
        Some(row) => Err(CommitmentError::Overdue {
            vehicle: vehicle_id.to_string(),
            status: row.get(0),
        }),
        None => Ok(()),
    }
}

/// Commits `vehicle_id` to `kind`/`ref_id` over `[from, to)`; 409 naming the commitment in
/// the way when the period overlaps another.
pub async fn claim_vehicle(
    tx: &Client,
    vehicle_id: &str,
    kind: Kind,
    ref_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), CommitmentError> {
    serialize(tx, vehicle_id).await?;
    let inserted = try_exclusive(
        tx,
        CLAIM,
        &[&vehicle_id, &kind.as_str(), &ref_id, &from, &to],
    )
    .await?;
    if inserted {
        return Ok(());
    }
    Err(in_the_way(tx, vehicle_id, from, to).await?)
}

/// Waits for the other transactions writing `vehicle_id`'s commitments ([`SERIALIZE`]).
async fn serialize(tx: &Client, vehicle_id: &str) -> Result<(), CommitmentError> {
    tx.execute(SERIALIZE, &[&vehicle_id]).await?;
    Ok(())
}

/// The 409 for a refused claim on `[from, to)`, naming the commitment in the way.
async fn in_the_way(
    tx: &Client,
    vehicle_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<CommitmentError, CommitmentError> {
    let other = tx.query_opt(IN_THE_WAY, &[&vehicle_id, &from, &to]).await?;
    Ok(match other {
        Some(row) => {
            let (k, id): (String, Uuid) = (row.get(0), row.get(1));
            CommitmentError::Overlap {
                message: format!(
                    "vehicle {vehicle_id} is already committed to {k} {id} in that window"
                ),
                conflict: Some(Conflict { kind: k, id }),
            }
        }
        // The other commitment was released meanwhile; the client may retry.
        None => CommitmentError::Overlap {
            message: format!("vehicle {vehicle_id} is already committed in that window"),
            conflict: None,
        },
    })
}

/// Starts `kind`/`ref_id` at `now` (the request's time). Early, its commitment is extended to begin now, so the
/// vehicle is claimed from the moment it is taken; that is refused (409 `overlap` naming the
/// commitment in the way) when the vehicle is booked in between. Within the window nothing
/// changes; after it, 409 `window_ended`, since the booking no longer covers any time.
pub async fn start_now(
    tx: &Client,
    vehicle_id: &str,
    kind: Kind,
    ref_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), CommitmentError> {
    let row = tx
        .query_opt(PERIOD, &[&kind.as_str(), &ref_id])
        .await?
        .ok_or(CommitmentError::Missing {
            kind: kind.as_str(),
            id: ref_id,
        })?;
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (row.get(0), row.get(1));
    if to <= now {
        return Err(CommitmentError::WindowEnded {
            kind: kind.as_str(),
            id: ref_id,
            to,
        });
    }
    if from <= now {
        return Ok(());
    }
    serialize(tx, vehicle_id).await?;
    if try_exclusive(tx, FROM_NOW, &[&kind.as_str(), &ref_id, &now]).await? {
        return Ok(());
    }
    Err(in_the_way(tx, vehicle_id, now, from).await?)
}

/// 409 `vehicle_committed` naming a commitment the vehicle still holds (before deleting
/// or decommissioning it: cancel or complete those first). Call with the vehicle locked
/// `FOR UPDATE`, so that no new commitment can slip in.
pub async fn ensure_uncommitted(tx: &Client, vehicle_id: &str) -> Result<(), CommitmentError> {
    let row = tx.query_opt(FIRST_HELD, &[&vehicle_id]).await?;
    match row {
        None => Ok(()),
        Some(row) => {
            let (kind, id): (String, Uuid) = (row.get(0), row.get(1));
            Err(CommitmentError::StillCommitted {
                vehicle: vehicle_id.to_string(),
                kind,
                id,
            })
        }
    }
}

/// Releases whatever commitment `kind`/`ref_id` holds.
pub async fn release(tx: &Client, kind: Kind, ref_id: Uuid) -> Result<(), CommitmentError> {
    tx.execute(RELEASE, &[&kind.as_str(), &ref_id]).await?;
    Ok(())
}
