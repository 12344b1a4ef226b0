//! The operator's console (`/console`) and Swagger UI (`/docs`): static files embedded in
//! the binary ([`assets`]), served with a strict Content-Security-Policy ([`headers`]), and
//! the console's settings (`/console/config.json`, [`settings`]). No CDN, no tile server
//! unless one is configured (`console.tile_url`): the console works on a machine with no
//! internet. The console itself talks to the `/v1` API like any client (docs/console.md).
//!
//! This module knows nothing of the API: the API's router merges it in
//! ([`crate::api::router`]) and says how an unknown file is answered.

pub mod assets;
pub mod headers;
pub mod settings;

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::Config;
use assets::Served;
use settings::Settings;

/// What the handlers share: the policy, the settings document, the 404.
struct Site {
    not_found: fn() -> Response,
    csp: HeaderValue,
    settings: Arc<Settings>,
}

/// The console's routes, or none when `console.enabled` is off (404 like any unknown path).
/// `not_found`: the answer for a path under `/console/`, `/docs/` or `/vendor/` that names no
/// file.
pub fn router<S: Clone + Send + Sync + 'static>(
    config: &Config,
    not_found: fn() -> Response,
) -> Router<S> {
    if !config.console.enabled {
        return Router::new();
    }
    let origin = config.console.tile_origin();
    let csp = HeaderValue::from_str(&headers::content_security_policy(origin.as_deref()))
        .expect("the policy is built from validated parts");
    let site = Arc::new(Site {
        not_found,
        csp,
        settings: Arc::new(Settings::from_config(config)),
    });
    let page = |path: &'static str, site: &Arc<Site>| {
        let site = site.clone();
        get(move |h: HeaderMap| async move { serve(&site, path, &h) })
    };
    let files = |prefix: &'static str, site: &Arc<Site>| {
        let site = site.clone();
        get(move |Path(rest): Path<String>, h: HeaderMap| async move {
            serve(&site, &format!("{prefix}/{rest}"), &h)
        })
    };
    let config_site = site.clone();
    Router::new()
        .route("/console", page("console/index.html", &site))
        .route("/console/", page("console/index.html", &site))
        .route(
            "/console/config.json",
            get(move || async move {
                with_headers(
                    axum::Json(&*config_site.settings).into_response(),
                    &config_site.csp,
                )
            }),
        )
        .route("/console/{*rest}", files("console", &site))
        .route("/docs", page("docs/index.html", &site))
        .route("/docs/{*rest}", files("docs", &site))
        .route("/vendor/{*rest}", files("vendor", &site))
}

/// One embedded file, or 404; 304 when the client's copy is current.
fn serve(site: &Site, path: &str, request: &HeaderMap) -> Response {
    let Some(file) = assets::get(path) else {
        return (site.not_found)();
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == file.etag || t.trim() == "*")
        });
    let response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            )],
            file.asset.body,
        )
            .into_response()
    };
    with_headers(cached(response, file), &site.csp)
}

fn cached(mut response: Response, file: &Served) -> Response {
    let h = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&file.etag) {
        h.insert(header::ETAG, tag);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if file.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    response
}

fn with_headers(mut response: Response, csp: &HeaderValue) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    for (name, value) in headers::HARDENING {
        h.insert(name, value);
    }
    response
}
