//! Dispatch under contention, checked on the database: 100 concurrent jobs against 20
//! drivers over HTTP never offer one driver two jobs, and two matchers sharing one database
//! (`FOR UPDATE SKIP LOCKED` plus the one-open-job-per-driver index) keep every driver's
//! offers from overlapping while drivers accept, decline, let offers expire and complete.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::api::Api;
use crate::common::dispatch::*;
use crate::common::*;
use chrono::{DateTime, Utc};
use fleetd::clock::Clock;
use fleetd::dispatch::jobs::{self, Action, JobState, NewJob};
use fleetd::dispatch::listen::Listener;
use fleetd::dispatch::matcher::Matcher;
use fleetd::dispatch::{Requirements, Roster};
use fleetd::live::{Position, SharedLiveIndex};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BASE: (f64, f64) = (40.4168, -3.7038);
const OPEN: &str = "('offered', 'assigned', 'picked_up')";

/// Per driver, each offer as `(start, end)`; `end` is `None` while the job is still held.
type Intervals = HashMap<Uuid, Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>>;

/// Every driver's offers as `(start, end)` in commit order, from the events and their
/// `recorded_at`.
async fn offer_intervals(sql: &tokio_postgres::Client) -> Intervals {
    let rows = sql
        .query(
            "SELECT job_id, seq, state, reason, driver_id, recorded_at
               FROM dispatch_job_events ORDER BY job_id, seq",
            &[],
        )
        .await
        .unwrap();
    let mut out: HashMap<Uuid, Vec<_>> = HashMap::new();
    let mut open: Option<(Uuid, Uuid, DateTime<Utc>)> = None;
    for r in &rows {
        let (job, state, reason): (Uuid, &str, &str) = (r.get(0), r.get(2), r.get(3));
        let at: DateTime<Utc> = r.get(5);
        if let Some((j, d, start)) = open {
            if j != job {
                out.entry(d).or_default().push((start, None));
                open = None;
            } else if !JobState::parse(state).unwrap().is_open() {
                out.entry(d).or_default().push((start, Some(at)));
                open = None;
            }
        }
        if reason == "offered" {
            open = Some((job, r.get::<_, Option<Uuid>>(4).unwrap(), at));
        }
    }
    if let Some((_, d, start)) = open {
        out.entry(d).or_default().push((start, None));
    }
    out
}

/// Asserts that no driver's offers overlap: each starts after the previous one ended.
fn assert_no_overlap(intervals: &Intervals) {
    for (driver, list) in intervals {
        let mut list = list.clone();
        list.sort_by_key(|i| i.0);
        for w in list.windows(2) {
            let end = w[0]
                .1
                .unwrap_or_else(|| panic!("driver {driver}: an open job, then another: {list:?}"));
            assert!(
                w[1].0 >= end,
                "driver {driver}: overlapping offers {list:?}"
            );
        }
    }
}

/// Records each event's commit-ordered insertion time (test-only column): an offer can
/// only be written once the driver's previous job has left the open states for good.
async fn record_event_times(sql: &tokio_postgres::Client) {
    sql.batch_execute(
        "ALTER TABLE dispatch_job_events
           ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_jobs_never_offer_a_driver_twice() {
    // Jobs without a candidate wait ten minutes: the rest of the test sees them pending.
    let api = Api::start_with(|c| {
        c.dispatch.staleness_s = 600;
        c.dispatch.offer_timeout_s = 600;
        c.dispatch.retry_base_ms = 600_000;
        c.dispatch.retry_max_ms = 600_000;
        c.dispatch.max_attempts = 100;
        // One customer creates them all.
        c.dispatch.max_open_jobs_per_customer = 100;
    })
    .await;
    let sql = api.db.client().await;
    record_event_times(&sql).await;
    let publisher = Publisher::connect(&api.broker).await;
    let mut drivers = Vec::new();
    let ts = now_ms() - 1_000;
    for n in 0..20u32 {
        let v = format!("cv-{n:02}");
        let d = seat(&api, &format!("cd-{n:02}"), &v, n + 1, &TRUCK, "available").await;
        let (lat, lon) = offset(BASE.0, BASE.1, 50.0 * n as f64, 0.0);
        publish_fix(&publisher, &v, ts, lat, lon).await;
        drivers.push(d);
    }
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 20).await;
    let query = format!("lat={}&lon={}&k=100", BASE.0, BASE.1);
    eventually("20 available drivers", || async {
        (nearest_ids(&api.admin, &query).await.len() == 20).then_some(())
    })
    .await;

    let (cust, _) = crate::common::api::customer(&api, "crowd").await;
    let creates: Vec<_> = (0..100)
        .map(|_| {
            let c = cust.clone();
            tokio::spawn(async move { create_job(&c, BASE.0, BASE.1).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for c in creates {
        ids.insert(c.await.unwrap());
    }
    assert_eq!(ids.len(), 100);
    wait_count(
        &sql,
        "SELECT count(*) FROM dispatch_jobs WHERE state = 'offered'",
        20,
    )
    .await;
    // Every driver holds exactly one offer, and accepts it concurrently.
    let accepts: Vec<_> = drivers
        .iter()
        .map(|(client, _)| {
            let c = client.clone();
            tokio::spawn(async move {
                let r = c.get("/v1/dispatch/jobs?state=offered").await;
                let mine = items(&r);
                assert_eq!(mine.len(), 1, "{}", r.body);
                let id = mine[0]["id"].as_str().unwrap().to_string();
                let r = c
                    .post(&format!("/v1/dispatch/jobs/{id}/accept"), json!({}))
                    .await;
                assert_eq!(r.status, 200, "{}", r.body);
                id
            })
        })
        .collect();
    for a in accepts {
        assert!(ids.contains(&a.await.unwrap()));
    }

    let states = sql
        .query(
            "SELECT state, count(*), count(DISTINCT driver_id) FROM dispatch_jobs GROUP BY state",
            &[],
        )
        .await
        .unwrap();
    let states: HashMap<String, (i64, i64)> = states
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    assert_eq!(states.get("assigned"), Some(&(20, 20)), "{states:?}");
    let waiting: i64 = ["pending", "offered"]
        .iter()
        .filter_map(|s| states.get(*s))
        .map(|v| v.0)
        .sum();
    assert_eq!(waiting, 80, "{states:?}");
    assert_eq!(
        states.get("offered"),
        None,
        "no driver is left to offer to: {states:?}"
    );
    let doubled = count(
        &sql,
        &format!(
            "SELECT count(*) FROM (SELECT driver_id FROM dispatch_jobs WHERE state IN {OPEN}
              GROUP BY driver_id HAVING count(*) > 1) d"
        ),
    )
    .await;
    assert_eq!(doubled, 0);
    // Each driver was offered exactly one job in all the histories, and still holds it.
    let offers = sql
        .query(
            "SELECT driver_id, count(*) FROM dispatch_job_events WHERE reason = 'offered'
              GROUP BY driver_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(offers.len(), 20);
    assert!(offers.iter().all(|r| r.get::<_, i64>(1) == 1));
    assert_no_overlap(&offer_intervals(&sql).await);
    for (_, id) in &drivers {
        let r = api.admin.get(&format!("/v1/drivers/{id}")).await;
        assert_eq!(r.json()["duty_status"], "busy");
    }
    api.daemon.shutdown().await;
}

/// One simulated "daemon": a matcher and the listener that keeps its roster current.
fn start_matcher(
    db: &TestDb,
    pool: &deadpool_postgres::Pool,
    live: &SharedLiveIndex,
    config: &fleetd::config::DispatchConfig,
    stop: &CancellationToken,
) -> Arc<fleetd::metrics::Metrics> {
    let roster = Arc::new(Roster::new(live.clone()));
    let wake = Arc::new(tokio::sync::Notify::new());
    let metrics = fleetd::metrics::Metrics::new();
    tokio::spawn(
        Listener {
            pg: fleetd::db::PgTarget::new(&db.url).unwrap(),
            pool: pool.clone(),
            roster: roster.clone(),
            events: tokio::sync::broadcast::channel(4096).0,
            wake: wake.clone(),
        }
        .run(stop.clone()),
    );
    tokio::spawn(
        Matcher {
            pool: pool.clone(),
            live: live.clone(),
            roster,
            clock: Clock::new(),
            config: config.clone(),
            wake,
            metrics: metrics.clone(),
        }
        .run(stop.clone()),
    );
    metrics
}

/// Answers every offer like a driver would, through the same transitions as the HTTP
/// routes: accept (then pick up and complete), decline, or let it expire.
async fn drivers_answer(pool: deadpool_postgres::Pool, stop: CancellationToken) {
    let mut rng = rand::random::<u64>() | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % 10
    };
    let mut ignored = HashSet::new();
    while !stop.is_cancelled() {
        let mut client = pool.get().await.unwrap();
        let held: Vec<(Uuid, String, Uuid)> = client
            .query(
                &format!("SELECT id, state, driver_id FROM dispatch_jobs WHERE state IN {OPEN}"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        for (id, state, driver) in held {
            let action = match state.as_str() {
                "offered" if ignored.contains(&(id, driver)) => continue,
                "offered" => match next() {
                    0..=5 => Action::Accept,
                    6..=8 => Action::Decline,
                    _ => {
                        ignored.insert((id, driver));
                        continue;
                    }
                },
                "assigned" => Action::PickUp,
                _ => Action::Complete,
            };
            let tx = client.transaction().await.unwrap();
            let Some(job) = jobs::lock(&*tx, id).await.unwrap() else {
                continue;
            };
            let now = Utc::now();
            // As the accept route does: an expired offer cannot be accepted.
            let expired = job.due_at.is_some_and(|d| d <= now) && action == Action::Accept;
            if expired || jobs::next(job.state, action).is_none() {
                continue;
            }
            jobs::apply(&*tx, &job, action, now, None).await.unwrap();
            tx.commit().await.unwrap();
        }
        drop(client);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_matchers_on_one_database_never_overlap_a_drivers_offers() {
    let db = TestDb::create().await;
    let sql = migrated(&db).await;
    record_event_times(&sql).await;
    let live = SharedLiveIndex::default();
    let now_us = Utc::now().timestamp_micros();
    for n in 0..20u32 {
        let v = format!("m-{n:02}");
        seed_seat(&sql, n + 1, &v).await;
        let (lat, lon) = offset(BASE.0, BASE.1, 40.0 * n as f64, 0.0);
        let p = Position {
            lat,
            lon,
            ts: now_us,
            speed_kmh: None,
            heading_deg: None,
        };
        live.upsert(&v, p).unwrap();
    }
    let creator = seed_dispatcher(&sql).await;
    let config = fleetd::config::DispatchConfig {
        staleness_s: 3_600,
        offer_timeout_s: 2,
        retry_base_ms: 20,
        retry_max_ms: 100,
        max_attempts: 100,
        ..Default::default()
    };
    let pool = pool_without_timeouts(&db.url, 12);
    let stop = CancellationToken::new();
    let m1 = start_matcher(&db, &pool, &live, &config, &stop);
    let m2 = start_matcher(&db, &pool, &live, &config, &stop);
    let answering = tokio::spawn(drivers_answer(pool.clone(), stop.clone()));

    // 100 jobs, created in five waves while the matchers run.
    for _ in 0..5 {
        let mut client = pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        for _ in 0..20 {
            let job = NewJob {
                pickup: BASE,
                dropoff: None,
                requirements: Requirements::default(),
                radius_m: 5_000.0,
                notes: None,
            };
            jobs::create(&*tx, &job, creator, Utc::now()).await.unwrap();
        }
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + PATIENCE * 3;
    loop {
        let left = count(
            &sql,
            "SELECT count(*) FROM dispatch_jobs WHERE state NOT IN ('completed', 'unassigned')",
        )
        .await;
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} jobs still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    answering.await.unwrap();

    let completed = count(
        &sql,
        "SELECT count(*) FROM dispatch_jobs WHERE state = 'completed'",
    )
    .await;
    assert!(completed >= 20, "only {completed} of 100 jobs completed");
    let (o1, o2) = (m1.dispatch_offers.get(), m2.dispatch_offers.get());
    assert!(o1 > 0 && o2 > 0, "both matchers offered: {o1} and {o2}");
    let reasons: HashSet<String> = sql
        .query("SELECT DISTINCT reason FROM dispatch_job_events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for r in [
        "offered",
        "accepted",
        "declined",
        "offer_expired",
        "completed",
    ] {
        assert!(reasons.contains(r), "no {r} event: {reasons:?}");
    }
    // Every history is a path through the state machine.
    let rows = sql
        .query(
            "SELECT job_id, state, reason FROM dispatch_job_events ORDER BY job_id, seq",
            &[],
        )
        .await
        .unwrap();
    let mut last: Option<(Uuid, JobState)> = None;
    for r in &rows {
        let (job, state) = (r.get::<_, Uuid>(0), JobState::parse(r.get(1)).unwrap());
        let reason: &str = r.get(2);
        match last {
            Some((j, from)) if j == job => {
                let action = action_of(reason);
                assert_eq!(
                    jobs::next(from, action),
                    Some(state),
                    "job {job}: {from:?} {reason}"
                );
            }
            _ => assert_eq!((state, reason), (JobState::Pending, "created")),
        }
        last = Some((job, state));
    }
    // A driver never declined or let expire the same job twice, and every driver is free.
    let repeats = count(
        &sql,
        "SELECT count(*) FROM (SELECT job_id, driver_id FROM dispatch_job_events
          WHERE reason = 'offered' GROUP BY 1, 2 HAVING count(*) > 1) r",
    )
    .await;
    assert_eq!(
        repeats, 0,
        "a refused driver was offered the same job again"
    );
    let busy = count(
        &sql,
        "SELECT count(*) FROM drivers WHERE duty_status <> 'available'",
    )
    .await;
    assert_eq!(busy, 0);
    assert_no_overlap(&offer_intervals(&sql).await);
}

fn action_of(reason: &str) -> Action {
    match reason {
        "offered" => Action::Offer,
        "accepted" => Action::Accept,
        "declined" => Action::Decline,
        "offer_expired" => Action::Expire,
        "no_candidate" => Action::NoCandidate,
        "gave_up" => Action::GiveUp,
        "picked_up" => Action::PickUp,
        "completed" => Action::Complete,
        "cancelled" => Action::Cancel,
        other => panic!("unknown reason {other}"),
    }
}
