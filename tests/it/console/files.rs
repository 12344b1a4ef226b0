//! The console's and Swagger UI's files as fleetd serves them: every embedded file with its
//! type, validator and policy; hostile paths; the console switched off; a tile server's origin
//! in the policy.

use crate::common::api::{raw, Api};
use fleetd::web::assets::ASSETS;

const POLICY_START: &str = "default-src 'none'; script-src 'self'; style-src 'self';";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_is_served_with_its_type_tag_and_strict_policy() {
    let api = Api::start().await;
    let anon = api.anonymous();
    for (path, asset) in [
        ("/console", "console/index.html"),
        ("/docs", "docs/index.html"),
    ] {
        let r = anon.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let body =
            std::fs::read_to_string(format!("{}/web/{asset}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(r.body, body);
        // No inline script or style in the pages: the policy would block them.
        assert!(!r.body.contains("<style"), "{path}");
        assert!(!r.body.contains(" style="), "{path}");
        for script in r.body.split("<script").skip(1) {
            assert!(
                script.trim_start().starts_with("src=") || script.contains(" src="),
                "{path}: inline script"
            );
        }
    }
    for a in ASSETS {
        let path = format!("/{}", a.path);
        let r = raw(api.daemon.addr, "GET", &path, &[], vec![]).await;
        assert_eq!(r.status, 200, "{path}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.starts_with(POLICY_START), "{path}: {csp}");
        assert!(!csp.contains("http"), "{path}: {csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        let etag = r.header("etag").unwrap().to_string();
        let cache = r.header("cache-control").unwrap();
        if a.path.starts_with("vendor/") {
            assert_eq!(cache, "public, max-age=31536000, immutable", "{path}");
        } else {
            assert_eq!(cache, "no-cache", "{path}");
        }
        let len: usize = r.header("content-length").unwrap().parse().unwrap();
        assert_eq!(len, a.body.len(), "{path}");
        // The validator: the same tag answers 304 without a body, another 200.
        let r = raw(
            api.daemon.addr,
            "GET",
            &path,
            &[("If-None-Match", &etag)],
            vec![],
        )
        .await;
        assert_eq!(r.status, 304, "{path}");
        assert!(r.body.is_empty());
        let r = raw(
            api.daemon.addr,
            "GET",
            &path,
            &[("If-None-Match", "\"other\"")],
            vec![],
        )
        .await;
        assert_eq!(r.status, 200, "{path}");
    }
    let types = [
        ("/console/js/main.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/vendor/leaflet-1.9.4/images/layers.png", "image/png"),
        (
            "/vendor/world-atlas-2.0.2/countries-50m.json",
            "application/json",
        ),
        ("/console/favicon.svg", "image/svg+xml"),
    ];
    for (path, want) in types {
        let r = anon.get(path).await;
        assert_eq!(r.header("content-type"), Some(want), "{path}");
    }
    // HEAD: the headers without the body.
    let r = raw(api.daemon.addr, "HEAD", "/console/js/main.js", &[], vec![]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_document_carries_no_secret() {
    let api = Api::start_with(|c| {
        c.dispatch.staleness_s = 90;
        c.trips.min_speed_kmh = 7.5;
    })
    .await;
    let r = api.anonymous().get("/console/config.json").await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["staleness_s"], 90);
    assert_eq!(j["moving_kmh"], 7.5);
    assert_eq!(j["tile_url"], "");
    assert_eq!(j["tile_max_zoom"], 19);
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "moving_kmh",
            "staleness_s",
            "tile_attribution",
            "tile_max_zoom",
            "tile_url",
            "version"
        ]
    );
    assert!(!r.body.contains(crate::common::api::SECRET));
    assert!(r.header("content-security-policy").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_hostile_paths_get_the_404_envelope() {
    let api = Api::start().await;
    let addr = api.daemon.addr;
    for path in [
        "/console/nope.js",
        "/console/js/",
        "/console/../Cargo.toml",
        "/console/%2e%2e/%2e%2e/Cargo.toml",
        "/vendor/../src/main.rs",
        "/vendor/leaflet-1.9.4/../../Cargo.toml",
        "/vendor/leaflet-1.9.4/leaflet.js%00.png",
        "/vendor/",
        "/docs/index.html/x",
        "/docs/..%2fconsole%2findex.html",
        "/console//etc/passwd",
        "/console/js/main.js?x=%3Cscript%3E",
    ] {
        let r = raw(addr, "GET", path, &[], vec![]).await;
        if path.ends_with("?x=%3Cscript%3E") {
            // A query on a file is ignored, not reflected.
            assert_eq!(r.status, 200, "{path}");
            assert!(!r.body.contains("<script>"), "{path}");
            continue;
        }
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.code(), "not_found", "{path}");
    }
    let long = format!("/console/{}", "a".repeat(6000));
    let r = raw(addr, "GET", &long, &[], vec![]).await;
    assert!(
        r.status == 404 || r.status == 414 || r.status == 431,
        "{}",
        r.status
    );
    // Static files take no writes.
    let r = raw(addr, "POST", "/console", &[], b"x".to_vec()).await;
    assert_eq!(r.status, 405);
    let r = raw(
        addr,
        "DELETE",
        "/vendor/leaflet-1.9.4/leaflet.js",
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_off_the_console_and_docs_are_404() {
    let api = Api::start_with(|c| c.console.enabled = false).await;
    for path in [
        "/console",
        "/docs",
        "/console/config.json",
        "/vendor/leaflet-1.9.4/leaflet.js",
    ] {
        let r = api.anonymous().get(path).await;
        assert_eq!(r.status, 404, "{path}");
    }
    // The API is unaffected.
    assert_eq!(api.admin.get("/v1/positions").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tile_server_adds_only_its_origin_to_img_src() {
    let api = Api::start_with(|c| {
        c.console.tile_url = "https://{s}.tiles.example.org/osm/{z}/{x}/{y}.png".into();
        c.console.tile_attribution = "<b>© Example</b>".into();
    })
    .await;
    let r = api.anonymous().get("/console").await;
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("img-src 'self' data: blob: https://*.tiles.example.org;"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("connect-src 'self';"), "{csp}");
    let j = api.anonymous().get("/console/config.json").await.json();
    assert_eq!(
        j["tile_url"],
        "https://{s}.tiles.example.org/osm/{z}/{x}/{y}.png"
    );
    // Served as data; the console puts it on the page as text.
    assert_eq!(j["tile_attribution"], "<b>© Example</b>");
}
