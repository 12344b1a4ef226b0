//! A real daemon's pages in the browser: what Chromium renders is what the daemon served.

use std::time::Duration;

use serde_json::Value;

use crate::common::api::Api;
use crate::common::browser::Browser;

/// The JSON document the browser shows (Chromium renders JSON as text in a `<pre>`).
async fn shown_json(b: &Browser) -> Value {
    let text = b
        .wait_for(
            "document.querySelector('pre')?.textContent",
            Duration::from_secs(10),
        )
        .await;
    serde_json::from_str(text.as_str().unwrap()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_the_openapi_document_load() {
    let api = Api::start().await;
    let b = Browser::start().await;
    eprintln!("browser started in {:?}", b.startup());
    let base = format!("http://{}", api.daemon.addr);

    b.goto(&format!("{base}/healthz")).await;
    assert_eq!(b.url().await, format!("{base}/healthz"));
    assert_eq!(shown_json(&b).await, serde_json::json!({"status": "ok"}));
    let ct = b.execute("return document.contentType", &[]).await;
    assert_eq!(ct, "application/json");

    b.goto(&format!("{base}/openapi.json")).await;
    let doc = shown_json(&b).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(
        doc["paths"]["/healthz"]["get"].is_object(),
        "{}",
        doc["paths"]
    );
    assert!(doc["paths"]["/v1/vehicles"].is_object());
    api.daemon.shutdown().await;
}
