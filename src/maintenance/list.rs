//! The due list: every (schedule, vehicle) pair that applies, with its state, from one query
//! (`due.sql`, the rule of [`super::due`]), most urgent first. The API's
//! `GET /v1/maintenance/due` pages through it; a time-based alert rule can read it whole.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::due::DueStatus;

/// The query behind [`due_list`].
pub const DUE: &str = include_str!("due.sql");

/// Which pairs to list.
#[derive(Debug, Clone)]
pub struct DueFilter {
    /// Only this vehicle's.
    pub vehicle_id: Option<String>,
    /// Only this schedule's.
    pub schedule_id: Option<Uuid>,
    /// Only pairs in these states.
    pub statuses: Vec<DueStatus>,
    /// Only pairs after this one in the list's order.
    pub after: Option<DueKey>,
    /// At most this many (`None`: all).
    pub limit: Option<i64>,
}

impl DueFilter {
    /// Every pair due or overdue, as an alert rule wants them.
    pub fn due_or_overdue() -> DueFilter {
        DueFilter {
            vehicle_id: None,
            schedule_id: None,
            statuses: vec![DueStatus::Due, DueStatus::Overdue],
            after: None,
            limit: None,
        }
    }
}

/// A pair's place in the list: by status (overdue, due, ok), then the larger share of its
/// interval used first, then vehicle id and schedule id (bytewise), so the order is total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueKey {
    pub rank: i32,
    pub progress: i64,
    pub vehicle_id: String,
    pub schedule_id: Uuid,
}

impl DueKey {
    /// `rank:progress:schedule_id:vehicle_id` (a vehicle id holds no `:`).
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.rank, self.progress, self.schedule_id, self.vehicle_id
        )
    }

    pub fn decode(s: &str) -> Option<DueKey> {
        let mut parts = s.splitn(4, ':');
        Some(DueKey {
            rank: parts.next()?.parse().ok()?,
            progress: parts.next()?.parse().ok()?,
            schedule_id: parts.next()?.parse().ok()?,
            vehicle_id: parts.next()?.to_string(),
        })
    }
}

/// The last completed maintenance job linked to a schedule, for one vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LastJob {
    pub id: Uuid,
    pub completed_at: DateTime<Utc>,
    /// The odometer at completion: the latest reading recorded at or before it.
    pub odometer_km: i64,
}

/// One (schedule, vehicle) pair and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DueItem {
    pub schedule_id: Uuid,
    pub schedule_name: String,
    pub vehicle_id: String,
    /// `overdue` (the due km or date reached), `due` (within the lead) or `ok`.
    pub status: DueStatus,
    /// The vehicle's odometer now.
    pub odometer_km: i64,
    /// Due at this odometer (schedules with `every_km`).
    pub due_at_km: Option<i64>,
    /// Due on this UTC date (schedules with `every_months`).
    pub due_on: Option<NaiveDate>,
    /// `due_at_km` minus the odometer; negative once past.
    pub km_remaining: Option<i64>,
    /// Days from today (UTC) to `due_on`; negative once past.
    pub days_remaining: Option<i32>,
    /// Where counting starts: the last linked job's completion, else when the schedule
    /// started to apply (its creation, or the vehicle's registration if later).
    pub baseline_at: DateTime<Utc>,
    /// The odometer at `baseline_at`.
    pub baseline_km: i64,
    /// The last completed job linked to this schedule for this vehicle, if any.
    pub last_job: Option<LastJob>,
    /// The share of the interval used, in thousandths (the list's order; 1000 or more when
    /// overdue).
    #[serde(skip)]
    pub progress: i64,
}

impl DueItem {
    pub fn key(&self) -> DueKey {
        DueKey {
            rank: self.status.rank(),
            progress: self.progress,
            vehicle_id: self.vehicle_id.clone(),
            schedule_id: self.schedule_id,
        }
    }
}

fn item(row: &tokio_postgres::Row) -> DueItem {
    let baseline_km: i64 = row.get("base_km");
    let last_job_id: Option<Uuid> = row.get("last_job_id");
    let last_completed: Option<DateTime<Utc>> = row.get("last_completed_at");
    DueItem {
        schedule_id: row.get("schedule_id"),
        schedule_name: row.get("name"),
        vehicle_id: row.get("vehicle_id"),
        status: row.get("status"),
        odometer_km: row.get("odometer_km"),
        due_at_km: row.get("due_at_km"),
        due_on: row.get("due_on"),
        km_remaining: row.get("km_remaining"),
        days_remaining: row.get("days_remaining"),
        baseline_at: row.get("base_at"),
        baseline_km,
        last_job: last_job_id
            .zip(last_completed)
            .map(|(id, completed_at)| LastJob {
                id,
                completed_at,
                odometer_km: baseline_km,
            }),
        progress: row.get("progress"),
    }
}

/// The pairs `filter` selects, in the list's order, at `now`.
pub async fn due_list(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    filter: &DueFilter,
) -> Result<Vec<DueItem>, tokio_postgres::Error> {
    let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    let after = filter.after.as_ref();
    let rows = client
        .query(
            DUE,
            &[
                &now,
                &filter.vehicle_id,
                &filter.schedule_id,
                &statuses,
                &after.map(|k| k.rank),
                &after.map(|k| -k.progress),
                &after.map(|k| k.vehicle_id.as_str()),
                &after.map(|k| k.schedule_id),
                &filter.limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(item).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_refuse_garbage() {
        let k = DueKey {
            rank: 1,
            progress: -12,
            vehicle_id: "van-1.a_b".into(),
            schedule_id: Uuid::new_v4(),
        };
        assert_eq!(DueKey::decode(&k.encode()), Some(k));
        for bad in [
            "",
            "1",
            "1:2",
            "x:2:3:v",
            "1:2:not-a-uuid:v",
            "1:2.5:00000000-0000-0000-0000-000000000000:v",
        ] {
            assert_eq!(DueKey::decode(bad), None, "{bad}");
        }
    }
}
