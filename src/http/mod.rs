//! The HTTP server (hyper 1 through axum): health, readiness and metrics here; the `/v1`
//! API builds on the same router, error envelope and request ids.

mod error;
mod request_id;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use deadpool_postgres::Pool;
use serde_json::json;

pub use error::{ApiError, ODOMETER_COLUMN};
pub use request_id::current_request_id;

use crate::api::{RouteDoc, Routes};
use crate::ingest::PipelineStatus;
use crate::metrics::Metrics;

/// What handlers share.
pub struct AppState {
    pub pool: Pool,
    pub metrics: Arc<Metrics>,
    pub pipeline: PipelineStatus,
    /// Set once shutdown starts: readiness fails so load balancers stop sending traffic.
    pub stopping: AtomicBool,
    /// The `/v1` API's keys, limits and settings.
    pub api: crate::api::ApiState,
    /// Latest durable position per vehicle, for position and dispatch queries.
    pub live: crate::live::SharedLiveIndex,
    /// Drivers, job matching and the push streams.
    pub dispatch: Arc<crate::dispatch::Dispatch>,
}

/// The whole router.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    crate::api::router(state.clone(), unversioned(Routes::new()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}

/// The routes outside `/v1`, each added with its documentation, so `/openapi.json` lists
/// exactly what is served (no API middleware: probes are neither rate limited nor need a
/// database transaction).
pub fn unversioned(r: Routes) -> Routes {
    r.add(
        RouteDoc::new("GET", "/healthz", "Process is up", &[]),
        healthz,
    )
    .add(
        RouteDoc {
            errors: &[503],
            ..RouteDoc::new(
                "GET",
                "/readyz",
                "PostgreSQL and the broker are reachable",
                &[],
            )
        },
        readyz,
    )
    .add(
        RouteDoc::new("GET", "/metrics", "Prometheus metrics (text format)", &[]),
        metrics,
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    if state.stopping.load(Ordering::Relaxed) {
        return Err(ApiError::unavailable("shutting down"));
    }
    let db = tokio::time::timeout(Duration::from_secs(2), async {
        let client = state.pool.get().await.map_err(|e| e.to_string())?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let db_ok = matches!(db, Ok(Ok(_)));
    let mqtt_ok = state.pipeline.mqtt_connected();
    if !db_ok || !mqtt_ok {
        let mut down = Vec::new();
        if !db_ok {
            down.push("postgresql");
        }
        if !mqtt_ok {
            down.push("mqtt broker");
        }
        return Err(ApiError::unavailable(format!(
            "not ready: {} unreachable",
            down.join(" and ")
        )));
    }
    Ok(Json(json!({
        "status": "ready",
        "checks": { "postgresql": "ok", "mqtt": "ok" },
        "mqtt_sessions": state.pipeline.mqtt_sessions(),
    })))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.pipeline.refresh_gauges();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}
