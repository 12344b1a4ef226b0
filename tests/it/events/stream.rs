//! The outbox's events on `GET /v1/stream`: filtered by pattern, each with its event id,
//! resumed exactly after `after` or `Last-Event-ID` (which wins), through a backlog longer
//! than a page and back to live; `resync` when resuming from before what is retained; staff
//! only; malformed and hostile parameters refused.

use std::time::Duration;

use serde_json::json;

use crate::common::api::{vehicle, Api};
use crate::common::dispatch::{Sse, SseEvent};

/// Event ids of types starting with `prefix`, in order, once nothing is staged.
async fn ids(db: &tokio_postgres::Client, prefix: &str) -> Vec<i64> {
    super::numbered(db, prefix).await
}

/// The next `n` `event` events (other events are skipped).
async fn take(sse: &mut Sse, n: usize) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(sse.expect("event").await);
    }
    out
}

fn id_of(e: &SseEvent) -> i64 {
    let id: i64 = e.id.as_deref().unwrap().parse().unwrap();
    assert_eq!(e.json()["id"], id, "{}", e.data);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_filters_and_resumes_exactly() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;

    // Live, from now: only vehicle events.
    let mut live = Sse::open(a, "/v1/stream?events=vehicle.*").await.unwrap();
    let (d, _) = crate::common::api::driver(&api, "st-driver").await;
    drop(d);
    for (n, v) in ["st-1", "st-2", "st-3"].iter().enumerate() {
        vehicle(a, v, n as u32 + 1).await;
    }
    let got = take(&mut live, 3).await;
    let seen: Vec<i64> = got.iter().map(id_of).collect();
    assert_eq!(seen, ids(&db, "vehicle.").await);
    for e in &got {
        assert_eq!(e.json()["type"], "vehicle.registered", "{}", e.data);
    }
    let last = *seen.last().unwrap();
    drop(live);

    // Missed while away: status changes (and a driver event the pattern leaves out).
    for v in ["st-1", "st-2"] {
        let r = a
            .post(
                &format!("/v1/vehicles/{v}/status"),
                json!({ "status": "under_maintenance" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let want: Vec<i64> = ids(&db, "vehicle.")
        .await
        .into_iter()
        .filter(|i| *i > last)
        .collect();
    assert_eq!(want.len(), 2);
    let mut resumed = Sse::open(a, &format!("/v1/stream?events=vehicle.*&after={last}"))
        .await
        .unwrap();
    let again: Vec<i64> = take(&mut resumed, 2).await.iter().map(id_of).collect();
    assert_eq!(again, want);
    // And on, live.
    vehicle(a, "st-4", 4).await;
    let next = id_of(&take(&mut resumed, 1).await[0]);
    assert_eq!(next, *ids(&db, "vehicle.").await.last().unwrap());
    drop(resumed);

    // Last-Event-ID (a reconnecting browser) wins over the URL's after.
    let mut browser = Sse::open_with(
        a,
        "/v1/stream?events=*.status_changed&after=0",
        &[("Last-Event-ID", &want[0].to_string())],
    )
    .await
    .unwrap();
    let first = take(&mut browser, 1).await;
    assert_eq!(id_of(&first[0]), want[1]);
    assert_eq!(first[0].json()["type"], "vehicle.status_changed");
    drop(browser);

    // A backlog longer than a page (500), then live again, in order, none twice.
    db.execute(
        "SELECT fleetd_emit('vehicle.status_changed', 'bulk-' || (i % 7),
                            jsonb_build_object('i', i))
           FROM generate_series(1, 1234) i",
        &[],
    )
    .await
    .unwrap();
    let all = ids(&db, "vehicle.").await;
    let mut backlog = Sse::open(a, "/v1/stream?events=vehicle.*&after=0")
        .await
        .unwrap();
    let streamed: Vec<i64> = take(&mut backlog, all.len())
        .await
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(streamed, all);
    vehicle(a, "st-5", 5).await;
    let tail = id_of(&take(&mut backlog, 1).await[0]);
    assert_eq!(tail, *ids(&db, "vehicle.").await.last().unwrap());
    // Nothing more, nothing twice.
    while let Some(e) = backlog.next(Duration::from_millis(300)).await {
        assert_ne!(e.event, "event", "unexpected {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_past_retention_says_resync_and_only_staff_may_stream_events() {
    let api = Api::start().await;
    let a = &api.admin;
    let db = api.db.client().await;
    for (n, v) in ["rs-1", "rs-2", "rs-3", "rs-4"].iter().enumerate() {
        vehicle(a, v, n as u32 + 1).await;
    }
    let all = ids(&db, "vehicle.").await;
    // As if the first two had passed events.retention_days.
    db.execute("DELETE FROM events WHERE id <= $1", &[&all[1]])
        .await
        .unwrap();
    let mut sse = Sse::open(a, "/v1/stream?events=vehicle.*&after=0")
        .await
        .unwrap();
    let first = sse.next(Duration::from_secs(30)).await.unwrap();
    assert_eq!(first.event, "resync", "{first:?}");
    assert_eq!(first.json()["reason"], "events_expired");
    assert_eq!(first.json()["oldest_event_id"], all[2]);
    let rest: Vec<i64> = take(&mut sse, 2).await.iter().map(id_of).collect();
    assert_eq!(rest, all[2..].to_vec());
    drop(sse);

    let (driver, _) = crate::common::api::driver(&api, "rs-driver").await;
    let (customer, _) = crate::common::api::customer(&api, "rs-customer").await;
    for c in [&driver, &customer] {
        let r = Sse::open(c, "/v1/stream?events=*").await.err().unwrap();
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let last = *all.last().unwrap();
    for (path, status) in [
        ("/v1/stream?events=rentl.*", 422),
        ("/v1/stream?events=rental", 422),
        ("/v1/stream?events=rental.*,,job.*", 422),
        ("/v1/stream?events=%27%3BDROP%20TABLE%20events", 422),
        ("/v1/stream?events=*&after=-1", 422),
        ("/v1/stream?events=*&after=x", 422),
        ("/v1/stream?after=1", 422),
        ("/v1/stream?jobs=false", 422),
    ] {
        let r = Sse::open(a, path)
            .await
            .err()
            .unwrap_or_else(|| panic!("{path} opened"));
        assert_eq!(r.status, status, "{path}: {}", r.body);
    }
    let future = format!("/v1/stream?events=*&after={}", last + 1_000);
    let r = Sse::open(a, &future).await.err().unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    for bad in ["abc", "-4", "1.5", "99999999999999999999999"] {
        let r = Sse::open_with(a, "/v1/stream?events=*", &[("Last-Event-ID", bad)])
            .await
            .err()
            .unwrap_or_else(|| panic!("Last-Event-ID {bad} accepted"));
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
    let long = vec!["rental.*"; 65].join(",");
    let r = Sse::open(a, &format!("/v1/stream?events={long}"))
        .await
        .err()
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
}
