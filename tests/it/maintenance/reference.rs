//! The due list's SQL (`src/maintenance/due.sql`) equals the reference rule
//! (`src/maintenance/due.rs`) on random fleets: vehicles of a few types (some decommissioned
//! or deleted), odometer readings at random times, vehicle and type schedules (some deleted),
//! completed, cancelled and open linked jobs, and a random "now". Every pair's state, and the
//! list's order and filters, are compared.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use fleetd::maintenance::due::{baseline, due_state, Baseline, DueState, Interval, Reading};
use fleetd::maintenance::{due_list, DueFilter, DueItem, DueStatus};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use uuid::Uuid;

use crate::common::{proptest_config, TestDb};

const TYPES: [&str; 3] = ["van", "truck", "bus"];

#[derive(Debug, Clone)]
struct Vehicle {
    kind: usize,
    /// 0 active, 1 decommissioned, 2 deleted.
    state: u8,
    registered_h: i64,
    /// (hours after t0, km added): recorded in this order.
    readings: Vec<(i64, i64)>,
}

#[derive(Debug, Clone)]
struct Schedule {
    /// A vehicle's index, or a type's.
    target: Result<usize, usize>,
    every_km: Option<i64>,
    every_months: Option<i32>,
    lead_km: i64,
    lead_days: i32,
    created_h: i64,
    deleted: bool,
}

#[derive(Debug, Clone)]
struct Job {
    schedule: usize,
    vehicle: usize,
    /// 0 completed, 1 cancelled, 2 scheduled.
    status: u8,
    completed_h: i64,
}

#[derive(Debug, Clone)]
struct Fleet {
    vehicles: Vec<Vehicle>,
    schedules: Vec<Schedule>,
    jobs: Vec<Job>,
    now_h: i64,
}

fn t0() -> DateTime<Utc> {
    "2031-01-31T18:00:00Z".parse().unwrap()
}

fn at(h: i64) -> DateTime<Utc> {
    t0() + Duration::hours(h)
}

/// About three years of hours.
const SPAN_H: i64 = 26_000;

fn arb_fleet() -> impl Strategy<Value = Fleet> {
    let vehicle = (
        0..TYPES.len(),
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        0..SPAN_H / 2,
        prop::collection::vec((0..SPAN_H, 0i64..8_000), 0..8),
    )
        .prop_map(|(kind, state, registered_h, readings)| Vehicle {
            kind,
            state,
            registered_h,
            readings,
        });
    let schedule = (
        prop_oneof![(0usize..6).prop_map(Ok), (0..TYPES.len()).prop_map(Err)],
        prop::option::of(prop_oneof![1i64..5, 1_000i64..30_000]),
        prop::option::of(1i32..=14),
        0i64..10_000,
        0i32..400,
        0..SPAN_H / 2,
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(target, km, months, lead_km, lead_days, created_h, deleted)| {
                let (every_km, every_months) = match (km, months) {
                    (None, None) => (Some(10_000), None),
                    other => other,
                };
                Schedule {
                    target,
                    every_km,
                    every_months,
                    lead_km: every_km.map_or(0, |e| lead_km % e),
                    lead_days: every_months.map_or(0, |m| lead_days % (28 * m)),
                    created_h,
                    deleted,
                }
            },
        );
    let job = (
        0usize..8,
        0usize..6,
        prop_oneof![4 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        0..SPAN_H,
    );
    (
        prop::collection::vec(vehicle, 1..6),
        prop::collection::vec(schedule, 1..8),
        prop::collection::vec(job, 0..10),
        0..SPAN_H + 4_000,
    )
        .prop_map(|(vehicles, schedules, jobs, now_h)| {
            let nv = vehicles.len();
            let ns = schedules.len();
            let schedules: Vec<Schedule> = schedules
                .into_iter()
                .map(|mut s| {
                    s.target = s.target.map(|v| v % nv);
                    s
                })
                .collect();
            let jobs = jobs
                .into_iter()
                .map(|(s, v, status, completed_h)| Job {
                    schedule: s % ns,
                    vehicle: v % nv,
                    status,
                    completed_h,
                })
                .collect();
            Fleet {
                vehicles,
                schedules,
                jobs,
                now_h,
            }
        })
}

fn vid(i: usize) -> String {
    format!("v{i}")
}

/// Writes the fleet; returns the schedules' ids.
async fn store(db: &tokio_postgres::Client, f: &Fleet) -> Vec<Uuid> {
    db.batch_execute(
        "TRUNCATE maintenance_jobs, maintenance_schedules, odometer_readings, vehicles CASCADE",
    )
    .await
    .unwrap();
    for (i, v) in f.vehicles.iter().enumerate() {
        let status = if v.state == 1 {
            "decommissioned"
        } else {
            "active"
        };
        let deleted = (v.state == 2).then(|| at(v.registered_h));
        db.execute(
            "INSERT INTO vehicles (id, plate, vin, make, model, year, type, seats, load_kg,
                                   status, created_at, deleted_at)
             VALUES ($1, $1, $6, 'm', 'm', 2020, $2, 2, 0, $3, $4, $5)",
            &[
                &vid(i),
                &TYPES[v.kind],
                &status,
                &at(v.registered_h),
                &deleted,
                &format!("1M8GDM9AXKP0427{i:02}"),
            ],
        )
        .await
        .unwrap();
        let mut km = 0;
        for (h, add) in &v.readings {
            km += add;
            db.execute(
                "INSERT INTO odometer_readings (vehicle_id, reading_km, source, recorded_at)
                 VALUES ($1, $2, 'obd', $3)",
                &[&vid(i), &km, &at(*h)],
            )
            .await
            .unwrap();
        }
    }
    let mut ids = Vec::new();
    for s in &f.schedules {
        let id = Uuid::new_v4();
        let (vehicle, kind) = match s.target {
            Ok(v) => (Some(vid(v)), None),
            Err(t) => (None, Some(TYPES[t])),
        };
        db.execute(
            "INSERT INTO maintenance_schedules (id, name, vehicle_id, vehicle_type, every_km,
                 every_months, lead_km, lead_days, created_at, updated_at, deleted_at)
             VALUES ($1, 's', $2, $3, $4, $5, $6, $7, $8, $8, $9)",
            &[
                &id,
                &vehicle,
                &kind,
                &s.every_km,
                &s.every_months,
                &s.lead_km,
                &s.lead_days,
                &at(s.created_h),
                &s.deleted.then(|| at(s.created_h + 1)),
            ],
        )
        .await
        .unwrap();
        ids.push(id);
    }
    for j in &f.jobs {
        let status = ["completed", "cancelled", "scheduled"][j.status as usize];
        let completed = (j.status == 0).then(|| at(j.completed_h));
        db.execute(
            "INSERT INTO maintenance_jobs (id, vehicle_id, description, starts_at, ends_at,
                 status, completed_at, schedule_id)
             VALUES ($1, $2, 'j', $3::timestamptz, $3::timestamptz + interval '1 hour', $4, $5, $6)",
            &[
                &Uuid::new_v4(),
                &vid(j.vehicle),
                &at(j.completed_h - 1),
                &status,
                &completed,
                &ids[j.schedule],
            ],
        )
        .await
        .unwrap();
    }
    ids
}

/// What the reference says for every pair, by (schedule id, vehicle id).
fn expected(f: &Fleet, ids: &[Uuid]) -> BTreeMap<(Uuid, String), (DueState, Baseline)> {
    let now = at(f.now_h);
    let mut out = BTreeMap::new();
    for (si, s) in f.schedules.iter().enumerate() {
        if s.deleted {
            continue;
        }
        for (vi, v) in f.vehicles.iter().enumerate() {
            let applies = match s.target {
                Ok(target) => target == vi,
                Err(kind) => kind == v.kind,
            };
            if !applies || v.state != 0 {
                continue;
            }
            let mut km = 0;
            let readings: Vec<Reading> = v
                .readings
                .iter()
                .map(|(h, add)| {
                    km += add;
                    Reading { at: at(*h), km }
                })
                .collect();
            let last = f
                .jobs
                .iter()
                .filter(|j| j.schedule == si && j.vehicle == vi && j.status == 0)
                .map(|j| at(j.completed_h))
                .max();
            let start = at(s.created_h).max(at(v.registered_h));
            let base = baseline(start, last, &readings, km);
            let interval = Interval {
                every_km: s.every_km,
                every_months: s.every_months,
                lead_km: s.lead_km,
                lead_days: s.lead_days,
            };
            let state = due_state(&interval, base, km, now);
            out.insert((ids[si], vid(vi)), (state, base));
        }
    }
    out
}

/// Checks one fleet; counts the pairs seen in each state into `seen` (by rank).
async fn check(
    db: &tokio_postgres::Client,
    f: Fleet,
    seen: &std::cell::RefCell<[usize; 3]>,
) -> Result<(), TestCaseError> {
    let ids = store(db, &f).await;
    let want = expected(&f, &ids);
    let all = DueFilter {
        statuses: vec![DueStatus::Ok, DueStatus::Due, DueStatus::Overdue],
        ..DueFilter::due_or_overdue()
    };
    let got: Vec<DueItem> = due_list(db, at(f.now_h), &all).await.unwrap();
    prop_assert_eq!(got.len(), want.len(), "pairs: {:?}", got);
    for item in &got {
        seen.borrow_mut()[item.status.rank() as usize] += 1;
    }
    for item in &got {
        let (state, base) = want
            .get(&(item.schedule_id, item.vehicle_id.clone()))
            .ok_or_else(|| TestCaseError::fail(format!("unexpected pair {item:?}")))?;
        prop_assert_eq!(item.status, state.status, "{:?} vs {:?}", item, state);
        prop_assert_eq!(item.due_at_km, state.due_at_km, "{:?}", item);
        prop_assert_eq!(item.due_on, state.due_on, "{:?}", item);
        prop_assert_eq!(item.km_remaining, state.km_remaining, "{:?}", item);
        prop_assert_eq!(item.days_remaining, state.days_remaining, "{:?}", item);
        prop_assert_eq!(item.progress, state.progress, "{:?}", item);
        prop_assert_eq!(item.baseline_km, base.km, "{:?}", item);
        prop_assert_eq!(item.baseline_at, base.at, "{:?}", item);
    }
    // Most urgent first, totally ordered.
    let keys: Vec<_> = got
        .iter()
        .map(|i| {
            (
                i.status.rank(),
                -i.progress,
                i.vehicle_id.clone(),
                i.schedule_id,
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    prop_assert_eq!(&keys, &sorted);
    // The default filter and pages of two give the same pairs in the same order.
    let urgent: Vec<_> = got
        .iter()
        .filter(|i| i.status != DueStatus::Ok)
        .cloned()
        .collect();
    let mut paged = Vec::new();
    let mut filter = DueFilter {
        limit: Some(2),
        ..DueFilter::due_or_overdue()
    };
    loop {
        let page = due_list(db, at(f.now_h), &filter).await.unwrap();
        let done = page.len() < 2;
        filter.after = page.last().map(DueItem::key);
        paged.extend(page);
        if done {
            break;
        }
    }
    prop_assert_eq!(paged, urgent);
    // One vehicle's.
    let one = DueFilter {
        vehicle_id: Some(vid(0)),
        ..all.clone()
    };
    let mine = due_list(db, at(f.now_h), &one).await.unwrap();
    let want_mine: Vec<_> = got
        .iter()
        .filter(|i| i.vehicle_id == vid(0))
        .cloned()
        .collect();
    prop_assert_eq!(mine, want_mine);
    Ok(())
}

#[test]
fn the_due_list_equals_the_reference_rule() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(async {
        let test_db = TestDb::create().await;
        let mut client = test_db.client().await;
        fleetd::migrate::migrate(&mut client).await.unwrap();
        (test_db, client)
    });
    let seen = std::cell::RefCell::new([0; 3]);
    // A fixed seed: the coverage check below must not depend on the draw (a random one saw
    // only 4 `due` pairs in 48 fleets once), and the same fleets run everywhere.
    let mut runner = TestRunner::new_with_rng(
        proptest_config(48),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&arb_fleet(), |fleet| {
            rt.block_on(check(&db.1, fleet, &seen))
        })
        .unwrap();
    let seen = seen.into_inner();
    eprintln!("overdue, due, ok pairs seen: {seen:?}");
    assert!(
        seen.iter().all(|n| *n >= 5),
        "overdue, due, ok pairs seen: {seen:?}"
    );
}
