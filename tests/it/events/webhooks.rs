//! Webhooks against a real daemon, PostgreSQL and real HTTP receivers: deliveries are
//! signed, each aggregate's arrive in order, failures are retried and duplicates carry the
//! same event id; a receiver failing past `webhooks.max_retry_hours` dead-letters its
//! deliveries, and replay sends them again; a slow receiver holds up no other subscription;
//! redirects are not followed; the SSRF guard refuses private hosts at delivery. The
//! routes' refusals are in `webhook_routes.rs`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::common::api::{vehicle, Api, Client};
use crate::common::dispatch::eventually;
use crate::common::receiver::{Hit, Mode, Receiver};

use super::numbered;

/// The signature as docs/webhooks.md tells a receiver to compute it.
pub(super) fn expected_signature(secret: &str, hit: &Hit) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", hit.header("fleetd-timestamp"), hit.body).as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v1={hex}")
}

/// Waits until `rx` has accepted every event of `ids`.
async fn accepted_all(rx: &Receiver, ids: &BTreeSet<i64>) {
    eventually("every event accepted by the receiver", || async {
        let got: BTreeSet<i64> = rx.accepted().iter().map(Hit::event_id).collect();
        ids.is_subset(&got).then_some(())
    })
    .await;
}

pub(super) async fn subscribe(a: &Client, url: &str, events: Value) -> (String, String) {
    let r = a
        .post("/v1/webhooks", json!({ "url": url, "events": events }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let w = r.json();
    (
        w["id"].as_str().unwrap().to_string(),
        w["secret"].as_str().unwrap().to_string(),
    )
}

async fn churn(a: &Client, vehicles: &[&str], rounds: usize) {
    for _ in 0..rounds {
        for status in ["under_maintenance", "active"] {
            for v in vehicles {
                let r = a
                    .post(
                        &format!("/v1/vehicles/{v}/status"),
                        json!({ "status": status }),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.body);
            }
        }
    }
}

fn fast_retries(c: &mut fleetd::config::Config) {
    c.webhooks.allow_private = true;
    c.webhooks.retry_min_ms = 50;
    c.webhooks.retry_max_ms = 200;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_in_order_per_aggregate() {
    let api = Api::start_with(fast_retries).await;
    let a = &api.admin;
    let db = api.db.client().await;
    let rx = Receiver::start(Mode::FailFirstOfEvery(3)).await;
    let (hook, secret) =
        subscribe(a, &rx.url("/fleet/hook?src=fleetd"), json!(["vehicle.*"])).await;
    // Another subscription's types never reach this one.
    let other = Receiver::start(Mode::Ok).await;
    subscribe(a, &other.url("/drivers"), json!(["driver.*"])).await;

    let names = ["wh-1", "wh-2", "wh-3", "wh-4"];
    for (n, v) in names.iter().enumerate() {
        vehicle(a, v, n as u32 + 1).await;
    }
    churn(a, &names, 3).await;
    let ids: BTreeSet<i64> = numbered(&db, "vehicle.").await;
    assert_eq!(ids.len(), 4 + 4 * 6, "{ids:?}");
    accepted_all(&rx, &ids).await;

    let hits = rx.hits();
    let mut bodies: HashMap<i64, String> = HashMap::new();
    let mut first: HashMap<String, Vec<i64>> = HashMap::new();
    for hit in &hits {
        assert_eq!(hit.path, "/fleet/hook");
        assert_eq!(hit.header("content-type"), "application/json");
        assert_eq!(
            hit.header("fleetd-signature"),
            expected_signature(&secret, hit)
        );
        let body = hit.json();
        let id = hit.event_id();
        assert_eq!(body["id"], id, "{}", hit.body);
        assert_eq!(body["type"], hit.header("fleetd-event-type"));
        assert!(body["type"].as_str().unwrap().starts_with("vehicle."));
        assert_eq!(body["version"], 1);
        assert_eq!(body["actor"].as_str().unwrap().len(), 36, "{}", hit.body);
        // A retry sends the very same bytes.
        if let Some(earlier) = bodies.insert(id, hit.body.clone()) {
            assert_eq!(earlier, hit.body, "event {id} changed between attempts");
        } else {
            first
                .entry(body["aggregate_id"].as_str().unwrap().to_string())
                .or_default()
                .push(id);
        }
    }
    // Each aggregate's events first arrived in id order.
    for (aggregate, order) in &first {
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, &sorted, "{aggregate} out of order");
    }
    // Every third event failed once (503) and was sent again as attempt 2.
    let retried: BTreeSet<i64> = hits
        .iter()
        .filter(|h| h.header("fleetd-delivery-attempt") == "2")
        .map(Hit::event_id)
        .collect();
    let failing: BTreeSet<i64> = ids.iter().copied().filter(|i| i % 3 == 0).collect();
    assert_eq!(retried, failing);
    assert!(hits.iter().any(|h| h.answered == 503));
    assert!(other.hits().is_empty(), "{:?}", other.hits());

    // The deliveries say the same.
    let r = a
        .get(&format!("/v1/webhooks/{hook}/deliveries?limit=200"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), ids.len());
    for d in &items {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["response_status"], 200);
        let id = d["event_id"].as_i64().unwrap();
        let tries = if id % 3 == 0 { 2 } else { 1 };
        assert_eq!(d["attempts"], tries, "{d}");
    }
    let w = a.get(&format!("/v1/webhooks/{hook}")).await.json();
    assert_eq!(
        (w["pending"].as_i64(), w["failed"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(w.get("secret").is_none(), "{w}");
    assert_eq!(w["secret_hint"], secret[secret.len() - 4..]);

    let (_, _, metrics) = crate::common::http_get(api.daemon.addr, "/metrics", &[])
        .await
        .unwrap();
    assert!(
        metrics.contains("fleetd_webhook_deliveries_total{outcome=\"retry\"}"),
        "{metrics}"
    );
}

/// Two daemons on one database share the deliveries: every event arrives, each
/// aggregate's in order, none twice (the receiver is healthy but for a first failure of
/// every fourth event), whichever daemon made the change or delivered it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_share_the_deliveries_without_doubles_or_disorder() {
    let api = Api::start_with(fast_retries).await;
    let mut cfg = crate::common::config(&api.db, &api.broker);
    cfg.jwt.secret = fleetd::config::Secret::new(crate::common::api::SECRET);
    fast_retries(&mut cfg);
    let second = crate::common::InProcess::start(cfg).await;
    let b = api.admin.with_addr(second.addr);
    let a = &api.admin;
    let db = api.db.client().await;
    let rx = Receiver::start(Mode::FailFirstOfEvery(4)).await;
    let (hook, secret) = subscribe(a, &rx.url("/both"), json!(["vehicle.*"])).await;
    let names: Vec<String> = (1..=8).map(|i| format!("two-{i}")).collect();
    for (n, v) in names.iter().enumerate() {
        vehicle(if n % 2 == 0 { a } else { &b }, v, n as u32 + 1).await;
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (left, right) = refs.split_at(4);
    tokio::join!(churn(a, left, 4), churn(&b, right, 4));
    let ids: BTreeSet<i64> = numbered(&db, "vehicle.").await;
    assert_eq!(ids.len(), 8 + 8 * 8);
    accepted_all(&rx, &ids).await;

    let accepted = rx.accepted();
    let mut seen = BTreeSet::new();
    let mut last: HashMap<String, i64> = HashMap::new();
    for hit in &accepted {
        assert_eq!(
            hit.header("fleetd-signature"),
            expected_signature(&secret, hit)
        );
        let id = hit.event_id();
        assert!(seen.insert(id), "event {id} accepted twice");
        let aggregate = hit.json()["aggregate_id"].as_str().unwrap().to_string();
        let previous = last.insert(aggregate.clone(), id).unwrap_or(0);
        assert!(previous < id, "{aggregate}: {id} after {previous}");
    }
    assert_eq!(seen, ids);
    let w = a.get(&format!("/v1/webhooks/{hook}")).await.json();
    assert_eq!(
        (w["pending"].as_i64(), w["failed"].as_i64()),
        (Some(0), Some(0))
    );
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_past_the_retry_period_dead_letters_and_replay_sends_again() {
    let (api, hand) = Api::start_at_with(chrono::Utc::now(), |c| {
        fast_retries(c);
        c.webhooks.max_retry_hours = 1;
        c.jwt.ttl_s = 86_400;
    })
    .await;
    let a = &api.admin;
    let db = api.db.client().await;
    let rx = Receiver::start(Mode::Status(500)).await;
    let (hook, _) = subscribe(a, &rx.url("/down"), json!(["vehicle.registered"])).await;
    vehicle(a, "dl-1", 1).await;
    vehicle(a, "dl-2", 2).await;
    let ids: BTreeSet<i64> = numbered(&db, "vehicle.registered").await;
    let deliveries = |status: &'static str| {
        let (a, hook) = (a.clone(), hook.clone());
        async move {
            let r = a
                .get(&format!("/v1/webhooks/{hook}/deliveries?status={status}"))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["items"].as_array().unwrap().clone()
        }
    };
    // Tried and failing, but within the hour: pending, not dead.
    eventually("both tried", || async {
        let p = deliveries("pending").await;
        (p.len() == 2 && p.iter().all(|d| d["attempts"].as_i64() >= Some(1))).then_some(())
    })
    .await;
    assert!(deliveries("failed").await.is_empty());
    hand.advance(chrono::Duration::minutes(61));
    let dead = eventually("dead-lettered", || async {
        let f = deliveries("failed").await;
        (f.len() == 2).then_some(f)
    })
    .await;
    for d in &dead {
        assert_eq!(d["response_status"], 500, "{d}");
        assert_eq!(d["last_error"], "HTTP 500", "{d}");
        assert!(d["done_at"].is_string());
    }
    let w = a.get(&format!("/v1/webhooks/{hook}")).await.json();
    assert_eq!(
        (w["pending"].as_i64(), w["failed"].as_i64()),
        (Some(0), Some(2))
    );
    assert!(rx.accepted().is_empty());
    // The gauges say so too (refreshed every 5 s): two dead letters, nothing pending.
    let dead = format!("fleetd_webhook_dead_letters{{webhook=\"{hook}\"}} 2");
    let lag = format!("fleetd_webhook_oldest_pending_seconds{{webhook=\"{hook}\"}} 0");
    eventually("the webhook gauges", || async {
        let (_, _, m) = crate::common::http_get(api.daemon.addr, "/metrics", &[])
            .await
            .unwrap();
        (m.contains(&dead) && m.contains(&lag)).then_some(())
    })
    .await;

    // The receiver is back: replay from the first event sends both again.
    rx.set(Mode::Ok);
    let first = *ids.iter().next().unwrap();
    let r = a
        .post(
            &format!("/v1/webhooks/{hook}/replay"),
            json!({ "from_event_id": first }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["queued"], 2, "{}", r.body);
    assert!(r.json()["next_from_event_id"].is_null(), "{}", r.body);
    accepted_all(&rx, &ids).await;
    eventually("delivered", || async {
        (deliveries("delivered").await.len() == 2).then_some(())
    })
    .await;
    // By time: everything since before the first event, delivered again (same ids).
    let r = a
        .post(
            &format!("/v1/webhooks/{hook}/replay"),
            json!({ "from": "2000-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["queued"], 2, "{}", r.body);
    eventually("sent twice", || async {
        (rx.accepted().len() == 4).then_some(())
    })
    .await;
    let twice: Vec<i64> = rx.accepted().iter().map(Hit::event_id).collect();
    assert_eq!(twice.iter().collect::<BTreeSet<_>>().len(), 2, "{twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_holds_up_no_other_subscription() {
    let api = Api::start_with(|c| {
        fast_retries(c);
        c.webhooks.timeout_ms = 120_000;
        c.webhooks.concurrency = 2;
    })
    .await;
    let a = &api.admin;
    let db = api.db.client().await;
    let slow = Receiver::start(Mode::Sleep(Duration::from_secs(3_600))).await;
    let fast = Receiver::start(Mode::Ok).await;
    let (slow_hook, _) = subscribe(a, &slow.url("/slow"), json!(["*"])).await;
    let (fast_hook, _) = subscribe(a, &fast.url("/fast"), json!(["*"])).await;
    let names = ["sl-1", "sl-2", "sl-3", "sl-4", "sl-5"];
    for (n, v) in names.iter().enumerate() {
        vehicle(a, v, n as u32 + 1).await;
    }
    churn(a, &names, 2).await;
    let ids: BTreeSet<i64> = numbered(&db, "").await;
    accepted_all(&fast, &ids).await;
    // The slow subscription holds both its places (two aggregates' first events are at its
    // receiver, unanswered) while the other got everything.
    eventually("the slow receiver holding both places", || async {
        (slow.arrivals() == 2).then_some(())
    })
    .await;
    assert!(slow.hits().is_empty());
    // Its lag gauge grows with its oldest pending delivery; the healthy one's stays 0.
    let (slow_id, fast_id) = (slow_hook, fast_hook);
    eventually("the lag gauges", || async {
        let (_, _, m) = crate::common::http_get(api.daemon.addr, "/metrics", &[])
            .await
            .unwrap();
        let gauge = |id: &str| -> Option<f64> {
            let prefix = format!("fleetd_webhook_oldest_pending_seconds{{webhook=\"{id}\"}} ");
            m.lines()
                .find_map(|l| l.strip_prefix(&prefix))?
                .parse()
                .ok()
        };
        (gauge(&slow_id)? > 0.0 && gauge(&fast_id)? == 0.0).then_some(())
    })
    .await;
    // The API is not held up either.
    vehicle(a, "sl-6", 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_private_hosts_are_refused_at_delivery() {
    let api = Api::start_with(fast_retries).await;
    let a = &api.admin;
    let rx = Receiver::start(Mode::Ok).await;
    rx.set(Mode::Redirect(rx.url("/elsewhere")));
    let (hook, _) = subscribe(a, &rx.url("/moved"), json!(["vehicle.registered"])).await;
    vehicle(a, "rd-1", 1).await;
    let d = eventually("the redirect recorded", || async {
        let r = a.get(&format!("/v1/webhooks/{hook}/deliveries")).await;
        let items = r.json()["items"].as_array().unwrap().clone();
        items
            .into_iter()
            .find(|d| d["attempts"].as_i64() >= Some(1))
    })
    .await;
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["response_status"], 302, "{d}");
    assert!(
        d["last_error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{d}"
    );
    assert!(rx.hits().iter().all(|h| h.path == "/moved"));

    // A daemon without webhooks.allow_private refuses a private receiver even when the
    // row got past the API (as after a DNS change, or written by hand).
    let strict = Api::start().await;
    let db = strict.db.client().await;
    let target = Receiver::start(Mode::Ok).await;
    db.execute(
        "INSERT INTO webhooks (id, url, events, secret, scanned_to, created_at, updated_at)
         SELECT gen_random_uuid(), $1, '{vehicle.*}', 'whsec_0123456789abcdef', last_id,
                now(), now() FROM event_counter",
        &[&target.url("/private")],
    )
    .await
    .unwrap();
    vehicle(&strict.admin, "ssrf-1", 1).await;
    let error: String = eventually("the refusal recorded", || async {
        db.query_opt(
            "SELECT last_error FROM webhook_deliveries WHERE attempts > 0",
            &[],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
    })
    .await;
    assert!(error.contains("webhooks.allow_private"), "{error}");
    assert!(target.hits().is_empty());
}
