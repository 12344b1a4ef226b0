//! The SQL of the reading-driven evaluation: OBD readings due, the conditions' states, the
//! alerts not yet resolved, vehicles' fences, and sightings counted in one statement.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::super::readings::{Sample, State};

type Db = tokio_postgres::Error;

/// Each vehicle's OBD readings from its `from` (inclusive) to `until`, oldest first.
pub async fn obd(
    c: &impl GenericClient,
    from: &[(String, DateTime<Utc>)],
    until: DateTime<Utc>,
) -> Result<HashMap<String, Vec<Sample>>, Db> {
    let vehicles: Vec<&str> = from.iter().map(|(v, _)| v.as_str()).collect();
    let after: Vec<DateTime<Utc>> = from.iter().map(|(_, t)| *t).collect();
    let rows = c
        .query(
            "SELECT o.vehicle_id, o.ts, o.rpm::float8, o.speed_kmh::float8, o.coolant_c::float8,
                    o.fuel_pct::float8, o.dtc
               FROM unnest($1::text[], $2::timestamptz[]) AS w(v, f)
               JOIN obd_readings o ON o.vehicle_id = w.v AND o.ts >= w.f AND o.ts <= $3
              ORDER BY o.vehicle_id, o.ts",
            &[&vehicles, &after, &until],
        )
        .await?;
    let mut out: HashMap<String, Vec<Sample>> = HashMap::new();
    for r in &rows {
        let ts: DateTime<Utc> = r.get(1);
        out.entry(r.get(0)).or_default().push(Sample::Obd {
            ts: ts.timestamp_micros(),
            rpm: r.get(2),
            speed_kmh: r.get(3),
            coolant_c: r.get(4),
            fuel_pct: r.get(5),
            dtc: r.get(6),
        });
    }
    Ok(out)
}

/// The saved states of `rules` × `vehicles`.
pub async fn states(
    c: &impl GenericClient,
    rules: &[Uuid],
    vehicles: &[&str],
) -> Result<HashMap<(Uuid, String), State>, Db> {
    let rows = c
        .query(
            "SELECT rule_id, vehicle_id, state FROM alert_states
              WHERE rule_id = ANY($1) AND vehicle_id = ANY($2)",
            &[&rules, &vehicles],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let state = serde_json::from_value(r.get::<_, Value>(2)).ok()?;
            Some(((r.get(0), r.get(1)), state))
        })
        .collect())
}

/// Saves the states given, in one statement.
pub async fn save_states(c: &impl GenericClient, all: &[(Uuid, &str, Value)]) -> Result<(), Db> {
    if all.is_empty() {
        return Ok(());
    }
    let rules: Vec<Uuid> = all.iter().map(|s| s.0).collect();
    let vehicles: Vec<&str> = all.iter().map(|s| s.1).collect();
    let states: Vec<&Value> = all.iter().map(|s| &s.2).collect();
    // A rule deleted since the pass read it has no state to keep.
    c.execute(
        "INSERT INTO alert_states (rule_id, vehicle_id, state)
         SELECT u.* FROM unnest($1::uuid[], $2::text[], $3::jsonb[]) AS u(r, v, s)
          WHERE EXISTS (SELECT 1 FROM alert_rules WHERE id = u.r)
          ORDER BY 1, 2
         ON CONFLICT (rule_id, vehicle_id) DO UPDATE SET state = EXCLUDED.state",
        &[&rules, &vehicles, &states],
    )
    .await?;
    Ok(())
}

/// An alert not yet resolved: its id and when it was last seen (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unresolved {
    pub id: Uuid,
    pub last_seen_us: i64,
}

/// The vehicles' alerts of `rules` not yet resolved.
pub async fn unresolved(
    c: &impl GenericClient,
    rules: &[Uuid],
    vehicles: &[&str],
) -> Result<HashMap<(Uuid, String), Unresolved>, Db> {
    let rows = c
        .query(
            "SELECT rule_id, subject_id, id, last_seen_at FROM alerts
              WHERE rule_id = ANY($1) AND subject_type = 'vehicle' AND subject_id = ANY($2)
                AND status <> 'resolved'",
            &[&rules, &vehicles],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let seen: DateTime<Utc> = r.get(3);
            let u = Unresolved {
                id: r.get(2),
                last_seen_us: seen.timestamp_micros(),
            };
            ((r.get(0), r.get(1)), u)
        })
        .collect())
}

/// Further sightings of unresolved alerts: per alert, how many, the latest time and what it
/// saw; as `alerts::store::raise` counts one, in one statement.
pub async fn seen(
    c: &impl GenericClient,
    all: &[(Uuid, i32, DateTime<Utc>, Value)],
) -> Result<(), Db> {
    if all.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = all.iter().map(|s| s.0).collect();
    let counts: Vec<i32> = all.iter().map(|s| s.1).collect();
    let at: Vec<DateTime<Utc>> = all.iter().map(|s| s.2).collect();
    let details: Vec<&Value> = all.iter().map(|s| &s.3).collect();
    c.execute(
        "UPDATE alerts a SET count = a.count + u.n,
                last_seen_at = greatest(a.last_seen_at, u.at),
                details = CASE WHEN u.at >= a.last_seen_at THEN u.details ELSE a.details END
           FROM unnest($1::uuid[], $2::int4[], $3::timestamptz[], $4::jsonb[])
                AS u(id, n, at, details)
          WHERE a.id = u.id AND a.status <> 'resolved'",
        &[&ids, &counts, &at, &details],
    )
    .await?;
    Ok(())
}

/// The fences each of `vehicles` is inside now.
pub async fn inside(
    c: &impl GenericClient,
    vehicles: &[&str],
) -> Result<HashMap<String, BTreeSet<Uuid>>, Db> {
    let rows = c
        .query(
            "SELECT vehicle_id, geofence_id FROM geofence_members WHERE vehicle_id = ANY($1)",
            &[&vehicles],
        )
        .await?;
    let mut out: HashMap<String, BTreeSet<Uuid>> = HashMap::new();
    for r in &rows {
        out.entry(r.get(0)).or_default().insert(r.get(1));
    }
    Ok(out)
}
