//! The browser reaches loopback and nothing else: from a page the daemon served on 127.0.0.1,
//! requests to the daemon work (same origin, and `localhost`), while requests to the outside,
//! by name or by raw IP address, over HTTP, HTTPS or WebSocket, all fail, and a navigation
//! there fails at the blocking proxy (not merely for want of a network: the error names the
//! proxy).

use serde_json::{json, Value};

use crate::common::api::Api;
use crate::common::browser::Browser;

/// Fetches `arguments[0]` without CORS (an opaque answer counts: it means the request went
/// out) and answers whether it got an answer.
const FETCH: &str = "const [url, done] = arguments;
fetch(url, {mode: 'no-cors', cache: 'no-store'}).then(
  r => done({ok: true, type: r.type, status: r.status}),
  e => done({ok: false, error: String(e)}));";

/// Opens a WebSocket to `arguments[0]`: "open" or "error".
const WEBSOCKET: &str = "const [url, done] = arguments;
const ws = new WebSocket(url);
ws.onopen = () => { ws.close(); done('open'); };
ws.onerror = () => done('error');";

async fn fetch(b: &Browser, url: &str) -> Value {
    b.execute_async(FETCH, &[json!(url)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_loopback_is_reachable() {
    let api = Api::start().await;
    let b = Browser::start().await;
    let addr = api.daemon.addr;
    b.goto(&format!("http://{addr}/healthz")).await;

    let same_origin = fetch(&b, "/openapi.json").await;
    assert_eq!(same_origin["ok"], true, "{same_origin}");
    assert_eq!(same_origin["status"], 200, "{same_origin}");
    let by_name = fetch(&b, &format!("http://localhost:{}/healthz", addr.port())).await;
    assert_eq!(by_name["ok"], true, "localhost must resolve: {by_name}");

    for url in [
        "http://93.184.216.34/",
        "https://93.184.216.34/",
        "http://1.1.1.1/",
        "http://[2606:4700:4700::1111]/",
        "http://example.com/",
        "https://example.com/",
    ] {
        let r = fetch(&b, url).await;
        assert_eq!(r["ok"], false, "{url} must be blocked: {r}");
    }
    for url in ["ws://93.184.216.34/", "wss://example.com/"] {
        let r = b.execute_async(WEBSOCKET, &[json!(url)]).await;
        assert_eq!(r, "error", "{url} must be blocked");
    }
    // A navigation says why it failed: the request went to the blocking proxy, so a machine
    // with a network blocks it just the same.
    for url in ["http://93.184.216.34/", "http://example.com/"] {
        let e = b.try_goto(url).await.expect_err(url).to_string();
        assert!(e.contains("ERR_PROXY_CONNECTION_FAILED"), "{url}: {e}");
    }

    // And the daemon is still reachable afterwards.
    b.goto(&format!("http://{addr}/healthz")).await;
    assert_eq!(fetch(&b, "/healthz").await["status"], 200);
    api.daemon.shutdown().await;
}
