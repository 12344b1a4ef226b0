//! The engine's SQL: each vehicle's persisted [`Membership`] (migrations/0022), the vehicles'
//! types for selectors, and the events staged in the pass's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::events::Kind;
use crate::geofences::{Membership, Visit};

type Db = tokio_postgres::Error;

fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Each vehicle's membership as last saved (absent: never evaluated).
pub async fn load(
    c: &impl GenericClient,
    vehicles: &[&str],
) -> Result<HashMap<String, Membership>, Db> {
    let mut out: HashMap<String, Membership> = HashMap::new();
    let rows = c
        .query(
            "SELECT vehicle_id, evaluated_at FROM geofence_vehicles WHERE vehicle_id = ANY($1)",
            &[&vehicles],
        )
        .await?;
    for r in &rows {
        let ts: DateTime<Utc> = r.get(1);
        out.entry(r.get(0)).or_default().last_ts = Some(ts.timestamp_micros());
    }
    let rows = c
        .query(
            "SELECT vehicle_id, geofence_id, entered_at, dwelled FROM geofence_members
              WHERE vehicle_id = ANY($1)",
            &[&vehicles],
        )
        .await?;
    for r in &rows {
        let entered: DateTime<Utc> = r.get(2);
        let visit = Visit {
            entered_at: entered.timestamp_micros(),
            dwelled: r.get(3),
        };
        out.entry(r.get(0))
            .or_default()
            .visits
            .insert(r.get(1), visit);
    }
    Ok(out)
}

/// The type of each registered vehicle among `vehicles`.
pub async fn types(
    c: &impl GenericClient,
    vehicles: &[&str],
) -> Result<HashMap<String, String>, Db> {
    let rows = c
        .query(
            "SELECT id, type FROM vehicles WHERE id = ANY($1) AND deleted_at IS NULL",
            &[&vehicles],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Saves what changed between `before` and `after` for each vehicle, in three statements.
pub async fn save(
    c: &impl GenericClient,
    changes: &[(&str, &Membership, &Membership)],
) -> Result<(), Db> {
    let (mut ev_v, mut ev_ts) = (Vec::new(), Vec::new());
    let (mut gone_f, mut gone_v) = (Vec::new(), Vec::new());
    let (mut up_f, mut up_v, mut up_at, mut up_dw) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &(v, before, after) in changes {
        if let Some(ts) = after.last_ts.filter(|_| after.last_ts != before.last_ts) {
            ev_v.push(v);
            ev_ts.push(at(ts));
        }
        for id in before.visits.keys() {
            if !after.visits.contains_key(id) {
                gone_f.push(*id);
                gone_v.push(v);
            }
        }
        for (id, visit) in &after.visits {
            if before.visits.get(id) != Some(visit) {
                up_f.push(*id);
                up_v.push(v);
                up_at.push(at(visit.entered_at));
                up_dw.push(visit.dwelled);
            }
        }
    }
    if !ev_v.is_empty() {
        c.execute(
            "INSERT INTO geofence_vehicles (vehicle_id, evaluated_at)
             SELECT * FROM unnest($1::text[], $2::timestamptz[]) ORDER BY 1
             ON CONFLICT (vehicle_id) DO UPDATE SET evaluated_at = EXCLUDED.evaluated_at",
            &[&ev_v, &ev_ts],
        )
        .await?;
    }
    if !gone_f.is_empty() {
        c.execute(
            "DELETE FROM geofence_members m USING unnest($1::uuid[], $2::text[]) AS d(f, v)
              WHERE m.geofence_id = d.f AND m.vehicle_id = d.v",
            &[&gone_f, &gone_v],
        )
        .await?;
    }
    if !up_f.is_empty() {
        // A fence deleted since the engine loaded it has no visits to keep.
        c.execute(
            "INSERT INTO geofence_members (geofence_id, vehicle_id, entered_at, dwelled)
             SELECT u.* FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::bool[])
                             AS u(f, v, entered_at, dwelled)
              WHERE EXISTS (SELECT 1 FROM geofences g WHERE g.id = u.f)
              ORDER BY 1, 2
             ON CONFLICT (geofence_id, vehicle_id) DO UPDATE
                SET entered_at = EXCLUDED.entered_at, dwelled = EXCLUDED.dwelled",
            &[&up_f, &up_v, &up_at, &up_dw],
        )
        .await?;
    }
    Ok(())
}

/// One event to stage: its kind, its fence, its payload.
pub type Staged = (Kind, String, serde_json::Value);
