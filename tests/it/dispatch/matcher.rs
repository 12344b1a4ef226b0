//! The matcher on virtual time: `fleetd::dispatch::matcher::Matcher` driven round by round
//! under `tokio::time::pause()` against a real PostgreSQL, with a live index filled by hand.
//! Offer timeouts (30 s) and backoff (seconds to the cap) are stepped through exactly.
//!
//! No daemon runs here: with the clock paused, tokio jumps to the next timer whenever the
//! runtime idles, so nothing in these tests may hold a timer while waiting for PostgreSQL
//! (hence a pool without timeouts).

use std::sync::Arc;
use std::time::Duration;

use crate::common::dispatch::*;
use crate::common::*;
use chrono::{DateTime, SubsecRound, Utc};
use fleetd::clock::Clock;
use fleetd::config::DispatchConfig;
use fleetd::dispatch::jobs::{self, Action, Job, JobState, NewJob};
use fleetd::dispatch::matcher::{retry_delay, Matcher};
use fleetd::dispatch::{Requirements, Roster};
use fleetd::live::{Position, SharedLiveIndex};
use uuid::Uuid;

const BASE: (f64, f64) = (35.6762, 139.6503);

struct Fixture {
    _db: TestDb,
    sql: tokio_postgres::Client,
    matcher: Matcher,
    start: DateTime<Utc>,
    creator: Uuid,
}

/// Drivers in vehicles `near` (100 m from `BASE`) and `far` (1 km), positions stamped at
/// the start of virtual time; returns their driver ids too.
async fn fixture(config: DispatchConfig) -> (Fixture, Uuid, Uuid) {
    let db = TestDb::create().await;
    let sql = migrated(&db).await;
    let near = seed_seat(&sql, 1, "near").await;
    let far = seed_seat(&sql, 2, "far").await;
    let creator = seed_dispatcher(&sql).await;
    // Whole seconds, so every deadline below is exact at PostgreSQL's microsecond precision.
    let start = Utc::now().trunc_subsecs(0);
    let clock = Clock::at(start);
    let live = SharedLiveIndex::default();
    for (v, north) in [("near", 100.0), ("far", 1_000.0)] {
        let (lat, lon) = offset(BASE.0, BASE.1, north, 0.0);
        let p = Position {
            lat,
            lon,
            ts: clock.now_us(),
            speed_kmh: None,
            heading_deg: None,
        };
        live.upsert(v, p).unwrap();
    }
    let roster = Arc::new(Roster::new(live.clone()));
    assert_eq!(roster.reload(&sql).await.unwrap(), 2);
    let matcher = Matcher {
        pool: pool_without_timeouts(&db.url, 2),
        live,
        roster,
        clock,
        config,
        wake: Arc::new(tokio::sync::Notify::new()),
        metrics: fleetd::metrics::Metrics::new(),
    };
    let f = Fixture {
        _db: db,
        sql,
        matcher,
        start,
        creator,
    };
    (f, near, far)
}

fn config() -> DispatchConfig {
    DispatchConfig {
        staleness_s: 86_400,
        offer_timeout_s: 30,
        retry_base_ms: 2_000,
        retry_max_ms: 10_000,
        max_attempts: 6,
        ..Default::default()
    }
}

impl Fixture {
    async fn create(&mut self, lat: f64, lon: f64) -> Uuid {
        let tx = self.sql.transaction().await.unwrap();
        let job = NewJob {
            pickup: (lat, lon),
            dropoff: None,
            requirements: Requirements::default(),
            radius_m: 5_000.0,
            notes: None,
        };
        let now = self.matcher.clock.now();
        let created = jobs::create(&tx, &job, self.creator, now).await.unwrap();
        tx.commit().await.unwrap();
        created.id
    }

    async fn job(&self, id: Uuid) -> Job {
        jobs::get(&self.sql, id).await.unwrap().unwrap()
    }

    /// `(state, reason, driver)` of each event.
    async fn history(&self, id: Uuid) -> Vec<(JobState, String, Option<Uuid>)> {
        jobs::events(&self.sql, id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.state, e.reason.as_str().to_string(), e.driver_id))
            .collect()
    }

    async fn round(&self) -> Option<DateTime<Utc>> {
        self.matcher.round().await.unwrap()
    }

    fn at(&self, d: Duration) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(d).unwrap()
    }
}

async fn advance(d: Duration) {
    tokio::time::advance(d).await;
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_offer_expires_to_the_next_candidate_then_backs_off_to_unassigned() {
    let (mut f, near, far) = fixture(config()).await;
    let id = f.create(BASE.0, BASE.1).await;
    let s = Duration::from_secs;

    // Round 1: the nearest driver is offered the job for 30 s.
    let next = f.round().await;
    let job = f.job(id).await;
    assert_eq!((job.state, job.driver_id), (JobState::Offered, Some(near)));
    assert_eq!(job.vehicle_id.as_deref(), Some("near"));
    assert_eq!(job.due_at, Some(f.at(s(30))));
    assert_eq!(next, Some(f.at(s(30))));

    // One second before the deadline nothing happens.
    advance(s(29)).await;
    assert_eq!(f.round().await, Some(f.at(s(30))));
    assert_eq!(f.job(id).await.state, JobState::Offered);
    assert_eq!(f.history(id).await.len(), 2);

    // At the deadline the offer expires and, in the same round, goes to the next candidate.
    advance(s(1)).await;
    assert_eq!(f.round().await, Some(f.at(s(60))));
    let job = f.job(id).await;
    assert_eq!((job.state, job.driver_id), (JobState::Offered, Some(far)));
    assert_eq!(job.due_at, Some(f.at(s(60))));
    assert_eq!(
        job.attempts, 0,
        "an expiry is not a round without a candidate"
    );
    assert_eq!(
        jobs::refused(&f.sql, id).await.unwrap(),
        [near],
        "the driver who let it expire is not asked again"
    );

    // The second offer expires too: nobody is left, so the job backs off,
    // base·2^(n-1) capped at the maximum: 2 s, 4 s, 8 s, 10 s, 10 s, then gives up.
    advance(s(30)).await;
    let mut now = f.at(s(60));
    let next = f.round().await;
    let job = f.job(id).await;
    assert_eq!(
        (job.state, job.attempts, job.driver_id),
        (JobState::Pending, 1, None)
    );
    assert_eq!(job.due_at, Some(now + chrono::Duration::seconds(2)));
    assert_eq!(next, job.due_at);
    let (base, max) = (Duration::from_millis(2_000), Duration::from_millis(10_000));
    let expected = [2, 4, 8, 10, 10];
    for attempt in 1..=5u32 {
        let delay = retry_delay(attempt, base, max);
        assert_eq!(delay, s(expected[attempt as usize - 1]));
        // A millisecond early the job is not due yet.
        advance(delay - Duration::from_millis(1)).await;
        f.round().await;
        assert_eq!(
            f.job(id).await.attempts,
            attempt as i32,
            "attempt {attempt} early"
        );
        advance(Duration::from_millis(1)).await;
        now += chrono::Duration::from_std(delay).unwrap();
        let next = f.round().await;
        let job = f.job(id).await;
        assert_eq!(job.attempts, attempt as i32 + 1);
        if attempt < 5 {
            let again = retry_delay(attempt + 1, base, max);
            assert_eq!(job.state, JobState::Pending);
            assert_eq!(
                job.due_at,
                Some(now + chrono::Duration::from_std(again).unwrap())
            );
            assert_eq!(next, job.due_at);
        } else {
            assert_eq!(
                (job.state, job.due_at, next),
                (JobState::Unassigned, None, None)
            );
            assert_eq!(job.updated_at, now);
        }
    }
    use JobState::*;
    let reasons = |r: &str, st: JobState, d: Option<Uuid>| (st, r.to_string(), d);
    let mut want = vec![
        reasons("created", Pending, None),
        reasons("offered", Offered, Some(near)),
        reasons("offer_expired", Pending, Some(near)),
        reasons("offered", Offered, Some(far)),
        reasons("offer_expired", Pending, Some(far)),
    ];
    want.extend((0..5).map(|_| reasons("no_candidate", Pending, None)));
    want.push(reasons("gave_up", Unassigned, None));
    assert_eq!(f.history(id).await, want);
    // Each event is stamped with virtual time: 0, 0, 30 s, 30 s, 60 s, then the backoff.
    let at: Vec<i64> = jobs::events(&f.sql, id)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.at - f.start).num_milliseconds())
        .collect();
    assert_eq!(
        at,
        [0, 0, 30_000, 30_000, 60_000, 60_000, 62_000, 66_000, 74_000, 84_000, 94_000]
    );
    assert_eq!(f.matcher.metrics.dispatch_offers.get(), 2);
    // Nothing is due any more.
    advance(s(3_600)).await;
    assert_eq!(f.round().await, None);
    assert_eq!(f.history(id).await.len(), 11);
}

#[tokio::test(start_paused = true)]
async fn an_accepted_offer_never_expires_and_a_job_without_candidates_gives_up() {
    let (mut f, near, _) = fixture(DispatchConfig {
        max_attempts: 3,
        ..config()
    })
    .await;
    let id = f.create(BASE.0, BASE.1).await;
    f.round().await;
    assert_eq!(f.job(id).await.driver_id, Some(near));
    // The driver accepts 29 s in, through the same transition as the HTTP route.
    advance(Duration::from_secs(29)).await;
    let tx = f.sql.transaction().await.unwrap();
    let job = jobs::lock(&tx, id).await.unwrap().unwrap();
    let now = f.matcher.clock.now();
    jobs::apply(&tx, &job, Action::Accept, now, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    advance(Duration::from_secs(60)).await;
    assert_eq!(f.round().await, None, "an assigned job has no deadline");
    let job = f.job(id).await;
    assert_eq!((job.state, job.due_at), (JobState::Assigned, None));

    // Far from every vehicle: three rounds without a candidate, 2 s then 4 s apart.
    let lonely = f.create(-BASE.0, -BASE.1).await;
    let t0 = f.matcher.clock.now();
    assert_eq!(f.round().await, Some(t0 + chrono::Duration::seconds(2)));
    advance(Duration::from_secs(2)).await;
    assert_eq!(f.round().await, Some(t0 + chrono::Duration::seconds(6)));
    advance(Duration::from_secs(4)).await;
    assert_eq!(f.round().await, None);
    let job = f.job(lonely).await;
    assert_eq!((job.state, job.attempts), (JobState::Unassigned, 3));
    let reasons: Vec<String> = f.history(lonely).await.into_iter().map(|e| e.1).collect();
    assert_eq!(
        reasons,
        ["created", "no_candidate", "no_candidate", "gave_up"]
    );
}
