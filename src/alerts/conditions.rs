//! The conditions of the time-based rules, each one query over the rule's whole scope at an
//! instant: who is in the condition now, with what an alert's `details` show.
//!
//! - `licence_expiring`: drivers (not deleted) whose `licence_expiry` is at most
//!   `within_days` after the instant's UTC date, expired ones included.
//! - `maintenance_due`: vehicles with a maintenance schedule due or overdue
//!   ([`crate::maintenance`]), all such schedules in the details.
//! - `offline`: vehicles with a driver on duty (`available` or `busy`) at the wheel
//!   (`drivers.current_vehicle_id`) and no GPS or OBD reading stamped after `after_min`
//!   minutes before the instant. Each probe is the readings' primary key `(vehicle_id, ts)`
//!   over the day partitions the cut-off leaves, so the cost follows the drivers on duty,
//!   not the readings stored.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_postgres::GenericClient;

use super::model::Subject;
use super::params::Params;
use super::rules::Rule;

const LICENCES: &str = "SELECT id, licence_expiry, licence_expiry - $1::date AS days_left
       FROM drivers
      WHERE deleted_at IS NULL AND licence_expiry <= $1::date + $2::integer";

const OFFLINE: &str = "SELECT v.id AS vehicle_id, d.id AS driver_id,
            greatest((SELECT max(g.ts) FROM gps_readings g WHERE g.vehicle_id = v.id),
                     (SELECT max(o.ts) FROM obd_readings o WHERE o.vehicle_id = v.id))
              AS last_reading_at
       FROM drivers d JOIN vehicles v ON v.id = d.current_vehicle_id
      WHERE d.deleted_at IS NULL AND d.duty_status IN ('available', 'busy')
        AND (cardinality($2::text[]) = 0 OR v.type = ANY($2))
        AND (cardinality($3::text[]) = 0 OR v.id = ANY($3))
        AND NOT EXISTS (SELECT 1 FROM gps_readings g WHERE g.vehicle_id = v.id AND g.ts > $1)
        AND NOT EXISTS (SELECT 1 FROM obd_readings o WHERE o.vehicle_id = v.id AND o.ts > $1)";

/// Who is in `rule`'s condition at `at`, each with the details of the sighting; empty for a
/// kind that is not time-based.
pub async fn in_condition(
    c: &impl GenericClient,
    rule: &Rule,
    at: DateTime<Utc>,
) -> Result<Vec<(Subject, Value)>, tokio_postgres::Error> {
    match &rule.params {
        Params::LicenceExpiring(p) => {
            let rows = c
                .query(LICENCES, &[&at.date_naive(), &p.within_days])
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let id: uuid::Uuid = r.get("id");
                    let expiry: chrono::NaiveDate = r.get("licence_expiry");
                    let days: i32 = r.get("days_left");
                    let details = json!({"driver_id": id, "licence_expiry": expiry,
                                         "days_left": days});
                    (Subject::driver(id), details)
                })
                .collect())
        }
        Params::Offline(p) => {
            let cutoff = at - chrono::Duration::minutes(i64::from(p.after_min));
            let rows = c
                .query(
                    OFFLINE,
                    &[&cutoff, &rule.scope.vehicle_types, &rule.scope.vehicle_ids],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let vehicle: String = r.get("vehicle_id");
                    let driver: uuid::Uuid = r.get("driver_id");
                    let last: Option<DateTime<Utc>> = r.get("last_reading_at");
                    let details = json!({"vehicle_id": vehicle, "driver_id": driver,
                                         "after_min": p.after_min, "last_reading_at": last});
                    (Subject::vehicle(vehicle), details)
                })
                .collect())
        }
        Params::MaintenanceDue(_) => maintenance_due(c, rule, at).await,
        _ => Ok(Vec::new()),
    }
}

/// `maintenance_due`: the vehicles in scope with a schedule due or overdue at `at`
/// ([`crate::maintenance::due_list`]), each with every such schedule, most urgent first.
async fn maintenance_due(
    c: &impl GenericClient,
    rule: &Rule,
    at: DateTime<Utc>,
) -> Result<Vec<(Subject, Value)>, tokio_postgres::Error> {
    let due = crate::maintenance::due_list(c, at, &crate::maintenance::DueFilter::due_or_overdue())
        .await?;
    let types: std::collections::HashMap<String, String> = if rule.scope.vehicle_types.is_empty() {
        Default::default()
    } else {
        c.query(
            "SELECT id, type FROM vehicles WHERE type = ANY($1)",
            &[&rule.scope.vehicle_types],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    };
    let mut by_vehicle: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for d in due {
        let in_scope = (rule.scope.vehicle_types.is_empty() || types.contains_key(&d.vehicle_id))
            && (rule.scope.vehicle_ids.is_empty()
                || rule.scope.vehicle_ids.contains(&d.vehicle_id));
        if !in_scope {
            continue;
        }
        by_vehicle
            .entry(d.vehicle_id.clone())
            .or_default()
            .push(json!({
                "schedule_id": d.schedule_id,
                "name": d.schedule_name,
                "status": d.status,
                "odometer_km": d.odometer_km,
                "due_at_km": d.due_at_km,
                "due_on": d.due_on,
                "km_remaining": d.km_remaining,
                "days_remaining": d.days_remaining,
            }));
    }
    Ok(by_vehicle
        .into_iter()
        .map(|(vehicle, schedules)| {
            let details = json!({"vehicle_id": vehicle, "schedules": schedules});
            (Subject::vehicle(vehicle), details)
        })
        .collect())
}
