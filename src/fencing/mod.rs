//! The geofence engine on the stream (docs/geofences.md): the trip segmenter's pass hands it
//! each claimed vehicle's settled readings in timestamp order, inside the pass's transaction;
//! [`Engine::evaluate`] steps each vehicle's persisted [`Membership`] through them against
//! every fence ([`crate::geofences`]), then saves the memberships and stages the
//! `geofence.entered` / `geofence.exited` / `geofence.dwell` events in that transaction.
//!
//! So the events are exact: a vehicle has one evaluator at a time (the segmenter's row lock),
//! its readings are evaluated once and in order (a reading at or before the last evaluated
//! one raises nothing), and the memberships commit with the events or not at all, so a
//! restart neither repeats nor loses a transition.
//!
//! - [`snapshot`]: the fences in memory, reloaded whenever `geofence_version` moved.
//! - [`store`]: memberships, vehicle types and event staging in SQL.

pub mod snapshot;
pub mod store;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tokio_postgres::GenericClient;

use crate::events::Kind;
use crate::geofences::{Membership, Point, Subject, Transition};
use snapshot::Snapshot;
use store::Staged;

/// One stored GPS reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Unix microseconds.
    pub ts_us: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: Option<f32>,
}

/// A vehicle's readings for one pass, oldest first.
#[derive(Debug, Clone)]
pub struct Track {
    pub vehicle_id: String,
    pub readings: Vec<Reading>,
}

/// The fences, shared by the passes of one daemon.
pub struct Engine {
    fences: Mutex<Option<Arc<Snapshot>>>,
}

/// What one evaluation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub readings: usize,
    pub events: usize,
}

/// What the alert rules need of an evaluation: the fences, and per vehicle which of the
/// fences they watch it was inside before the pass and after each reading.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub report: Report,
    /// The fences evaluated against; `None` when no reading was.
    pub fences: Option<Arc<Snapshot>>,
    pub timelines: Vec<Timeline>,
}

/// One vehicle's fences over a pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub vehicle_id: String,
    /// The watched fences it was inside before the pass, sorted.
    pub before: Vec<uuid::Uuid>,
    /// Per reading of its track, in order.
    pub steps: Vec<FenceStep>,
}

/// The watched fences a vehicle is inside after a reading (sorted), and the transitions of
/// watched fences it caused.
#[derive(Debug, Clone, PartialEq)]
pub struct FenceStep {
    pub ts_us: i64,
    pub inside: Vec<uuid::Uuid>,
    pub transitions: Vec<Transition>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine {
            fences: Mutex::new(None),
        }
    }

    /// The fences as committed now: the loaded ones when `geofence_version` has not moved.
    pub async fn fences(
        &self,
        c: &impl GenericClient,
    ) -> Result<Arc<Snapshot>, tokio_postgres::Error> {
        let version = snapshot::version(c).await?;
        if let Some(s) = self
            .fences
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|s| s.version == version)
        {
            return Ok(s.clone());
        }
        let loaded = Arc::new(Snapshot::load(c, version).await?);
        tracing::debug!(version, fences = loaded.index.len(), "geofences loaded");
        *self.fences.lock().unwrap_or_else(|e| e.into_inner()) = Some(loaded.clone());
        Ok(loaded)
    }

    /// Evaluates each track (each vehicle's readings in timestamp order, the vehicle owned by
    /// the caller's transaction), saves the memberships and stages the events in `c`. The
    /// timelines follow the `watched` fences only (none: no timelines).
    pub async fn evaluate(
        &self,
        c: &impl GenericClient,
        tracks: &[Track],
        watched: &BTreeSet<uuid::Uuid>,
    ) -> Result<Evaluation, tokio_postgres::Error> {
        let tracks: Vec<&Track> = tracks.iter().filter(|t| !t.readings.is_empty()).collect();
        if tracks.is_empty() {
            return Ok(Evaluation::default());
        }
        let fences = self.fences(c).await?;
        // Without fences there are no visits either (they go with their fence).
        if fences.is_empty() {
            return Ok(Evaluation::default());
        }
        let vehicles: Vec<&str> = tracks.iter().map(|t| t.vehicle_id.as_str()).collect();
        let mut saved = store::load(c, &vehicles).await?;
        let types = store::types(c, &vehicles).await?;
        let mut report = Report::default();
        let mut staged = Vec::new();
        let mut states: Vec<(&str, Membership, Membership)> = Vec::with_capacity(tracks.len());
        let mut timelines = Vec::with_capacity(tracks.len());
        for t in &tracks {
            let before = saved.remove(&t.vehicle_id).unwrap_or_default();
            let mut m = before.clone();
            let subject = Subject {
                vehicle_id: &t.vehicle_id,
                vehicle_type: types.get(&t.vehicle_id).map(String::as_str),
            };
            let watching = |id: &uuid::Uuid| watched.contains(id);
            let mut timeline = Timeline {
                vehicle_id: t.vehicle_id.clone(),
                before: before.inside().filter(watching).collect(),
                steps: Vec::new(),
            };
            // When each visit began, before the reading (an exit's `entered_at`): one buffer
            // reused for every reading.
            let mut entered: Vec<(uuid::Uuid, i64)> = Vec::new();
            for r in &t.readings {
                report.readings += 1;
                entered.clear();
                entered.extend(m.visits.iter().map(|(id, v)| (*id, v.entered_at)));
                let p = Point::new(r.lat, r.lon);
                let transitions = m.apply_for(&fences.index, r.ts_us, p, subject);
                for tr in &transitions {
                    staged.push(event(&fences, &t.vehicle_id, r, *tr, &entered));
                }
                if !watched.is_empty() {
                    let fence = |t: &Transition| match *t {
                        Transition::Entered { fence, .. }
                        | Transition::Exited { fence, .. }
                        | Transition::Dwell { fence, .. } => fence,
                    };
                    timeline.steps.push(FenceStep {
                        ts_us: r.ts_us,
                        inside: m.inside().filter(watching).collect(),
                        transitions: transitions
                            .into_iter()
                            .filter(|t| watched.contains(&fence(t)))
                            .collect(),
                    });
                }
            }
            if !watched.is_empty() {
                timelines.push(timeline);
            }
            states.push((&t.vehicle_id, before, m));
        }
        let changes: Vec<(&str, &Membership, &Membership)> =
            states.iter().map(|(v, b, a)| (*v, b, a)).collect();
        store::save(c, &changes).await?;
        crate::events::emit_all(c, &staged).await?;
        report.events = staged.len();
        Ok(Evaluation {
            report,
            fences: Some(fences),
            timelines,
        })
    }
}

fn rfc3339(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A transition's event: the fence, the vehicle, the reading that caused it and when the
/// visit began (`entered_at`; the reading's own time for `geofence.entered`).
fn event(
    fences: &Snapshot,
    vehicle: &str,
    r: &Reading,
    t: Transition,
    entered: &[(uuid::Uuid, i64)],
) -> Staged {
    // Sorted by fence id (a membership's visits are a BTreeMap).
    let began = |fence: uuid::Uuid, ts: i64| {
        entered
            .binary_search_by_key(&fence, |e| e.0)
            .map_or(ts, |i| entered[i].1)
    };
    let (kind, fence, entered_at) = match t {
        Transition::Entered { fence, ts } => (Kind::GeofenceEntered, fence, ts),
        Transition::Exited { fence, ts } => (Kind::GeofenceExited, fence, began(fence, ts)),
        Transition::Dwell { fence, ts } => (Kind::GeofenceDwell, fence, began(fence, ts)),
    };
    let name = fences.info.get(&fence).map_or("", |i| i.name.as_str());
    (
        kind,
        fence.to_string(),
        json!({
            "geofence_id": fence,
            "geofence_name": name,
            "vehicle_id": vehicle,
            "ts": rfc3339(r.ts_us),
            "lat": r.lat,
            "lon": r.lon,
            // As stored (`real`), printed as PostgreSQL prints it rather than widened.
            "speed_kmh": r.speed_kmh.and_then(|v| v.to_string().parse::<f64>().ok()),
            "entered_at": rfc3339(entered_at),
        }),
    )
}
