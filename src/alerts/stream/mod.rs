//! The reading-driven alert rules on the stream (docs/alerts.md): the trip segmenter's pass
//! hands [`evaluate`] each claimed vehicle's settled GPS readings with the fences it was
//! inside after each one (from [`crate::fencing`]), and the vehicle's OBD readings due; each
//! enabled `speeding`, `dtc`, `low_fuel`, `fuel_drop`, `overheat` and `geofence` rule judges
//! them in timestamp order ([`crate::alerts::readings`]), and the verdicts open, count and
//! resolve alerts ([`ledger`]) in the pass's transaction, with the conditions' states saved
//! beside them: one evaluator per vehicle at a time, each reading judged once.

pub mod ledger;
pub mod sql;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::params::{Crossing, Params, RuleKind};
use super::readings::{Condition, Sample, Verdict};
use super::rules::{self, Rule};
use crate::fencing::{Evaluation, FenceStep, Reading, Track};
use crate::geofences::Transition;
use ledger::Ledger;

/// The kinds judged from readings.
pub const KINDS: [RuleKind; 6] = [
    RuleKind::Speeding,
    RuleKind::Dtc,
    RuleKind::LowFuel,
    RuleKind::FuelDrop,
    RuleKind::Overheat,
    RuleKind::Geofence,
];

/// What one evaluation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub rules: usize,
    pub opened: usize,
    pub resolved: usize,
}

/// One reading of a vehicle's pass, GPS (with its fences) or OBD.
enum Item<'a> {
    Gps(&'a Reading, Option<&'a FenceStep>),
    Obd(&'a Sample),
}

impl Item<'_> {
    fn ts(&self) -> i64 {
        match self {
            Item::Gps(r, _) => r.ts_us,
            Item::Obd(s) => s.ts(),
        }
    }
}

fn rfc3339(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The enabled reading-driven rules.
pub async fn rules(c: &impl GenericClient) -> Result<Vec<Rule>, tokio_postgres::Error> {
    rules::enabled(c, &KINDS).await
}

/// The fences `rules` look at: what the fence engine's timelines must follow.
pub fn watched(rules: &[Rule]) -> BTreeSet<Uuid> {
    rules
        .iter()
        .flat_map(|r| r.scope.geofence_ids.iter().copied())
        .collect()
}

/// Judges the pass's readings (`tracks`, evaluated against the fences as `fenced` says, its
/// timelines following [`watched`]`(rules)`, and each vehicle's OBD readings from its
/// `obd_from` to `horizon`) by `rules`, the enabled reading-driven rules ([`rules`]).
pub async fn evaluate(
    c: &impl GenericClient,
    rules: &[Rule],
    tracks: &[Track],
    fenced: &Evaluation,
    obd_from: &[(String, DateTime<Utc>)],
    horizon: DateTime<Utc>,
) -> Result<Report, tokio_postgres::Error> {
    if rules.is_empty() || (tracks.iter().all(|t| t.readings.is_empty()) && obd_from.is_empty()) {
        return Ok(Report::default());
    }
    let gps_rules = rules
        .iter()
        .any(|r| matches!(r.kind, RuleKind::Speeding | RuleKind::Geofence));
    let obd_rules = rules
        .iter()
        .any(|r| !matches!(r.kind, RuleKind::Speeding | RuleKind::Geofence));
    let obd = if obd_rules && !obd_from.is_empty() {
        sql::obd(c, obd_from, horizon).await?
    } else {
        HashMap::new()
    };
    let gps: HashMap<&str, &Track> = if gps_rules {
        tracks
            .iter()
            .filter(|t| !t.readings.is_empty())
            .map(|t| (t.vehicle_id.as_str(), t))
            .collect()
    } else {
        HashMap::new()
    };
    let mut vehicles: Vec<&str> = gps
        .keys()
        .copied()
        .chain(obd.keys().map(String::as_str))
        .collect();
    vehicles.sort_unstable();
    vehicles.dedup();
    if vehicles.is_empty() {
        return Ok(Report::default());
    }
    let timelines: HashMap<&str, _> = fenced
        .timelines
        .iter()
        .map(|t| (t.vehicle_id.as_str(), t))
        .collect();
    let types = if rules.iter().any(|r| !r.scope.vehicle_types.is_empty()) {
        crate::fencing::store::types(c, &vehicles).await?
    } else {
        HashMap::new()
    };
    let fence_scoped = rules.iter().any(|r| !r.scope.geofence_ids.is_empty());
    let untracked: Vec<&str> = vehicles
        .iter()
        .copied()
        .filter(|v| !timelines.contains_key(v))
        .collect();
    let mut members = if fence_scoped && !untracked.is_empty() {
        sql::inside(c, &untracked).await?
    } else {
        HashMap::new()
    };
    let ids: Vec<Uuid> = rules.iter().map(|r| r.id).collect();
    let mut states = sql::states(c, &ids, &vehicles).await?;
    let mut ledger = Ledger::new(sql::unresolved(c, &ids, &vehicles).await?);
    let limits: HashMap<Uuid, f64> = fenced
        .fences
        .iter()
        .flat_map(|s| s.info.iter())
        .filter_map(|(id, i)| Some((*id, i.speed_limit_kmh?)))
        .collect();
    let names: HashMap<Uuid, &str> = fenced
        .fences
        .iter()
        .flat_map(|s| s.info.iter())
        .map(|(id, i)| (*id, i.name.as_str()))
        .collect();
    let mut saved = Vec::new();
    for v in vehicles {
        // The vehicle's readings in time order, GPS with the fences after each.
        let mut items: Vec<Item> = Vec::new();
        if let Some(t) = gps.get(v) {
            let steps = timelines.get(v).map(|tl| &tl.steps);
            for (k, r) in t.readings.iter().enumerate() {
                items.push(Item::Gps(r, steps.and_then(|s| s.get(k))));
            }
        }
        items.extend(obd.get(v).into_iter().flatten().map(Item::Obd));
        items.sort_by_key(Item::ts);
        // The watched fences the vehicle is inside, sorted.
        let before: Vec<Uuid> = match timelines.get(v) {
            Some(tl) => tl.before.clone(),
            None => members.remove(v).unwrap_or_default().into_iter().collect(),
        };
        let kind = types.get(v).map(String::as_str);
        for rule in rules {
            let by_vehicle = (rule.scope.vehicle_types.is_empty()
                || kind.is_some_and(|k| rule.scope.vehicle_types.iter().any(|t| t == k)))
                && (rule.scope.vehicle_ids.is_empty()
                    || rule.scope.vehicle_ids.iter().any(|i| i == v));
            if rule.kind == RuleKind::Geofence {
                if by_vehicle {
                    crossings(c, &mut ledger, rule, v, &items, &names).await?;
                }
                continue;
            }
            let Some(condition) = Condition::of(&rule.params) else {
                continue;
            };
            let key = (rule.id, v.to_string());
            let mut state = states.remove(&key).unwrap_or_default();
            let start = state.clone();
            let mut inside: &[Uuid] = &before;
            for item in &items {
                if let Item::Gps(_, Some(step)) = item {
                    inside = &step.inside;
                }
                let sample = match item {
                    Item::Gps(r, _) if condition.reads_gps() => Sample::Gps {
                        ts: r.ts_us,
                        speed_kmh: r.speed_kmh.and_then(|s| s.to_string().parse().ok()),
                        limit_kmh: limit(rule, inside, &limits),
                    },
                    Item::Obd(s) if !condition.reads_gps() => (*s).clone(),
                    _ => continue,
                };
                let in_fences = rule.scope.geofence_ids.is_empty()
                    || rule
                        .scope
                        .geofence_ids
                        .iter()
                        .any(|f| inside.binary_search(f).is_ok());
                let verdict = if by_vehicle && in_fences {
                    condition.step(&mut state, &sample)
                } else if state.last_ts.is_none_or(|last| sample.ts() > last) {
                    state.reset();
                    state.last_ts = Some(sample.ts());
                    Verdict::Clear
                } else {
                    Verdict::Quiet
                };
                match verdict {
                    Verdict::Raise(details) => {
                        ledger.raise(c, rule, v, sample.ts(), details).await?
                    }
                    Verdict::Clear => ledger.clear(c, rule, v, sample.ts()).await?,
                    Verdict::Quiet => {}
                }
            }
            if state != start {
                let json = serde_json::to_value(&state).unwrap_or(Value::Null);
                saved.push((rule.id, v, json));
            }
        }
    }
    sql::save_states(c, &saved).await?;
    let report = Report {
        rules: rules.len(),
        opened: ledger.opened,
        resolved: ledger.resolved,
    };
    ledger.finish(c).await?;
    Ok(report)
}

/// The speed limit where the vehicle is: the rule's own, else the lowest limit of the
/// rule's fences it is inside.
fn limit(rule: &Rule, inside: &[Uuid], limits: &HashMap<Uuid, f64>) -> Option<f64> {
    match &rule.params {
        Params::Speeding(p) => p.limit_kmh.or_else(|| {
            rule.scope
                .geofence_ids
                .iter()
                .filter(|f| inside.binary_search(f).is_ok())
                .filter_map(|f| limits.get(f).copied())
                .reduce(f64::min)
        }),
        _ => None,
    }
}

/// A `geofence` rule: each crossing of one of its fences that it watches raises; every other
/// GPS reading is clear.
async fn crossings(
    c: &impl GenericClient,
    ledger: &mut Ledger,
    rule: &Rule,
    vehicle: &str,
    items: &[Item<'_>],
    names: &HashMap<Uuid, &str>,
) -> Result<(), tokio_postgres::Error> {
    let Params::Geofence(p) = &rule.params else {
        return Ok(());
    };
    for item in items {
        let Item::Gps(r, step) = item else { continue };
        let mut raised = false;
        for t in step.map(|s| s.transitions.as_slice()).unwrap_or_default() {
            let (fence, crossing) = match *t {
                Transition::Entered { fence, .. } => (fence, "entered"),
                Transition::Exited { fence, .. } => (fence, "exited"),
                Transition::Dwell { .. } => continue,
            };
            let watched = match p.on {
                Crossing::Entered => crossing == "entered",
                Crossing::Exited => crossing == "exited",
                Crossing::Both => true,
            };
            if !watched || !rule.scope.geofence_ids.contains(&fence) {
                continue;
            }
            let details = json!({
                "geofence_id": fence,
                "geofence_name": names.get(&fence).copied().unwrap_or(""),
                "crossing": crossing,
                "ts": rfc3339(r.ts_us),
                "lat": r.lat,
                "lon": r.lon,
            });
            ledger.raise(c, rule, vehicle, r.ts_us, details).await?;
            raised = true;
        }
        if !raised {
            ledger.clear(c, rule, vehicle, r.ts_us).await?;
        }
    }
    Ok(())
}
