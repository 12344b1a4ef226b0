//! The event delivery drills at small size (issue 15; `scripts/drills.sh events` runs them at
//! full size). A daemon runs as a child process; while API traffic changes a few vehicles, a
//! webhook subscription to `*` delivers to a receiver and a stream client follows
//! `GET /v1/stream?events=*`, resuming with `Last-Event-ID` whenever its connection ends. One
//! fault each: the receiver down for a few seconds, a kill -9 of the daemon in the middle of a
//! delivery (then started again), or every connection of the daemon to PostgreSQL terminated
//! (what a PostgreSQL restart does to it; the cluster itself is shared by the suite). Then,
//! against the database: every event received by the receiver, each with a valid signature and
//! the stored event's exact body (so a duplicate is identical), each aggregate's first receipts
//! in id order; and the stream client got every event exactly once, in id order.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::common::api::{try_raw, vehicle_body, Client, ADMIN_PASSWORD, SECRET};
use crate::common::dispatch::eventually;
use crate::common::receiver::{Hit, Mode, Receiver};
use crate::common::{admin_url, config, connect, Broker, ChildDaemon, TestDb};

use super::numbered;
use super::webhooks::{expected_signature, subscribe};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    ReceiverDown,
    KillDaemon,
    DatabaseConnectionsLost,
}

/// The daemon's address: a restarted daemon listens on another port. A std lock: only read
/// or replaced, never held across an await.
type Addr = Arc<Mutex<SocketAddr>>;

const VEHICLES: usize = 8;

/// The daemon's settings beyond [`config`]: the API's, and quick webhook retries and claims
/// (a killed daemon's claims expire after `timeout_ms` x 8 + 10 s = 14 s).
const ENV: &[(&str, &str)] = &[
    ("FLEETD_JWT_SECRET", SECRET),
    ("FLEETD_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ("FLEETD_HTTP_RATE_LIMIT_PER_MINUTE", "0"),
    ("FLEETD_HTTP_LOGIN_PER_MINUTE", "0"),
    ("FLEETD_WEBHOOKS_ALLOW_PRIVATE", "true"),
    ("FLEETD_WEBHOOKS_RETRY_MIN_MS", "50"),
    ("FLEETD_WEBHOOKS_RETRY_MAX_MS", "500"),
    ("FLEETD_WEBHOOKS_TIMEOUT_MS", "500"),
];

/// Registers the vehicles, then flips their status round robin until `stop`; a request
/// without an answer (the daemon away) or refused is let go. Returns the writes answered 2xx.
async fn traffic(addr: Addr, token: String, stop: CancellationToken) -> usize {
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut ok = 0;
    for k in 0.. {
        if stop.is_cancelled() {
            break;
        }
        let (v, round) = (k % VEHICLES, k / VEHICLES);
        let id = format!("drill-{v}");
        let (path, body) = match round {
            0 => ("/v1/vehicles".to_string(), vehicle_body(&id, v as u32 + 1)),
            r => {
                let to = if r % 2 == 1 {
                    "under_maintenance"
                } else {
                    "active"
                };
                (format!("/v1/vehicles/{id}/status"), json!({ "status": to }))
            }
        };
        let at = *addr.lock().unwrap();
        let body = serde_json::to_vec(&body).unwrap();
        if let Ok(r) = try_raw(at, "POST", &path, &headers, body).await {
            ok += usize::from((200..300).contains(&r.status));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ok
}

/// What the stream client got: (event id, data) in arrival order.
type Streamed = Arc<Mutex<Vec<(i64, String)>>>;

/// Follows `GET /v1/stream?events=*` from `after` until aborted, reconnecting (with
/// `Last-Event-ID`: the last id it got) whenever the connection ends or fails.
async fn follow(
    addr: Addr,
    token: String,
    after: i64,
    got: Streamed,
    reconnects: Arc<AtomicUsize>,
) {
    loop {
        let from = got.lock().unwrap().last().map_or(after, |e| e.0);
        let at = *addr.lock().unwrap();
        let _ = stream_once(at, &token, from, &got).await;
        reconnects.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One connection, HTTP/1.0 so that the body is plain (no chunks) and ends with the
/// connection. Ends at the first failure or when the server closes.
async fn stream_once(
    addr: SocketAddr,
    token: &str,
    from: i64,
    got: &Streamed,
) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    let head = format!(
        "GET /v1/stream?events=* HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\
         Authorization: Bearer {token}\r\nLast-Event-ID: {from}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await?;
    let mut lines = BufReader::new(s).lines();
    let status = lines.next_line().await?.unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(std::io::Error::other(status));
    }
    while !lines.next_line().await?.unwrap_or_default().is_empty() {}
    let (mut name, mut data, mut id) = (String::new(), String::new(), None);
    while let Some(line) = lines.next_line().await? {
        if line.is_empty() {
            if name == "event" {
                let id: i64 = id.take().and_then(|i: String| i.parse().ok()).unwrap();
                got.lock().unwrap().push((id, std::mem::take(&mut data)));
            }
            (name, data, id) = (String::new(), String::new(), None);
        } else if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_string());
        }
    }
    Ok(())
}

/// Ends every connection of the daemon to its database; returns how many there were.
async fn terminate_backends(db: &TestDb) -> i64 {
    let admin = connect(&admin_url()).await;
    admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .await
        .unwrap()
        .get(0)
}

async fn drill(fault: Fault) {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let cfg = config(&db, &broker);
    let mut daemon = ChildDaemon::start_with(&cfg, ENV).await;
    let addr: Addr = Arc::new(Mutex::new(daemon.addr));
    let admin = Client::anonymous(daemon.addr)
        .login("admin", ADMIN_PASSWORD)
        .await;
    let token = admin.token.clone().unwrap();
    let rx = Receiver::start(Mode::Ok).await;
    // Nothing changes yet: the subscription gets every event after this one.
    let after: i64 = db
        .client()
        .await
        .query_one("SELECT last_id FROM event_counter", &[])
        .await
        .unwrap()
        .get(0);
    let (_, secret) = subscribe(&admin, &rx.url("/drill"), json!(["*"])).await;
    let streamed: Streamed = Arc::default();
    let reconnects = Arc::new(AtomicUsize::new(0));
    let stream = tokio::spawn(follow(
        addr.clone(),
        token.clone(),
        after,
        streamed.clone(),
        reconnects.clone(),
    ));
    let stop = CancellationToken::new();
    let writes = tokio::spawn(traffic(addr.clone(), token, stop.clone()));
    eventually("deliveries before the fault", || async {
        (rx.accepted().len() >= 2 * VEHICLES).then_some(())
    })
    .await;

    let mut terminated = 0;
    match fault {
        Fault::ReceiverDown => {
            rx.down().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            rx.up().await;
        }
        Fault::KillDaemon => {
            // Deliveries take a while now: kill the daemon while one is in flight.
            rx.set(Mode::Sleep(Duration::from_millis(300)));
            eventually("a delivery in flight", || async {
                (rx.arrivals() > rx.hits().len()).then_some(())
            })
            .await;
            daemon.kill9();
            rx.set(Mode::Ok);
            daemon = ChildDaemon::start_with(&cfg, ENV).await;
            *addr.lock().unwrap() = daemon.addr;
        }
        Fault::DatabaseConnectionsLost => {
            for _ in 0..3 {
                terminated += terminate_backends(&db).await;
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let writes = writes.await.unwrap();
    assert!(writes > 4 * VEHICLES, "{fault:?}: only {writes} writes");

    // Against the database, once everything staged is numbered.
    let sql = db.client().await;
    let ids: Vec<i64> = numbered::<Vec<i64>>(&sql, "")
        .await
        .into_iter()
        .filter(|i| *i > after)
        .collect();
    let want: BTreeSet<i64> = ids.iter().copied().collect();
    eventually("every event received", || async {
        let got: BTreeSet<i64> = rx.accepted().iter().map(Hit::event_id).collect();
        want.is_subset(&got).then_some(())
    })
    .await;
    let last = *ids.last().unwrap();
    eventually("every event streamed", || async {
        let streamed = streamed.lock().unwrap();
        (streamed.last().map(|e| e.0) >= Some(last)).then_some(())
    })
    .await;
    stream.abort();
    let stored: HashMap<i64, (String, String)> = sql
        .query(
            "SELECT e.id, e.aggregate_type || ' ' || e.aggregate_id, event_body(e)
               FROM events e WHERE e.id > $1",
            &[&after],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();

    // Webhooks: none lost, each aggregate's first receipts in id order, every receipt signed
    // and the stored event byte for byte, so duplicates are identical.
    let hits = rx.accepted();
    let mut first: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut seen = BTreeSet::new();
    for hit in &hits {
        let id = hit.event_id();
        assert_eq!(
            hit.header("fleetd-signature"),
            expected_signature(&secret, hit),
            "{fault:?}: event {id}"
        );
        let (aggregate, body) = stored
            .get(&id)
            .unwrap_or_else(|| panic!("{fault:?}: event {id} was not due to this subscription"));
        assert_eq!(&hit.body, body, "{fault:?}: event {id} sent other bytes");
        if seen.insert(id) {
            first.entry(aggregate).or_default().push(id);
        }
    }
    assert_eq!(seen, want, "{fault:?}: events lost or stray");
    for (aggregate, order) in &first {
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{fault:?}: {aggregate} first received out of order: {order:?}"
        );
    }
    let duplicates = hits.len() - seen.len();

    // The stream: every event exactly once, in id order, as stored.
    let streamed = streamed.lock().unwrap().clone();
    let order: Vec<i64> = streamed.iter().map(|e| e.0).collect();
    assert_eq!(
        order, ids,
        "{fault:?}: the stream missed, repeated or reordered"
    );
    for (id, data) in &streamed {
        assert_eq!(
            data, &stored[id].1,
            "{fault:?}: event {id} streamed other bytes"
        );
    }

    // The fault happened where it should have.
    let retried = hits
        .iter()
        .filter(|h| h.header("fleetd-delivery-attempt") != "1")
        .count();
    let reconnects = reconnects.load(Ordering::SeqCst);
    eprintln!(
        "{fault:?}: {} events over {} aggregates, {} receipts ({duplicates} duplicates, \
         {retried} retries), {writes} writes, stream reconnects {reconnects}, backends \
         terminated {terminated}",
        ids.len(),
        first.len(),
        hits.len()
    );
    match fault {
        Fault::ReceiverDown => assert!(retried > 0, "nothing was retried"),
        Fault::KillDaemon => assert!(reconnects > 0, "the stream never lost the daemon"),
        Fault::DatabaseConnectionsLost => assert!(terminated > 0, "no connection terminated"),
    }
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_receiver_down_loses_no_event() {
    drill(Fault::ReceiverDown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_kill_9_mid_delivery_loses_no_event() {
    drill(Fault::KillDaemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_database_connections_lost_loses_no_event() {
    drill(Fault::DatabaseConnectionsLost).await;
}
