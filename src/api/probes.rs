//! Probes outside `/v1`: `/healthz` (the process is up), `/readyz` (PostgreSQL and the
//! broker are reachable, and the daemon is not stopping) and `/metrics` (Prometheus text);
//! and the answers for unknown routes and methods. With `http.internal_addr`, `/readyz` and
//! `/metrics` are served there instead ([`internal`]), `/healthz` on both.
//!
//! The read replica (`database.replica_url`) is reported in `/readyz`'s `checks.replica` but
//! never fails it: it is optional, and its routes read the primary without it.
//!
//! `/readyz` asks PostgreSQL at most once a second ([`super::readiness`]), whoever calls it and
//! how often: concurrent callers wait for the one query in flight and share its answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::{ApiError, ErrorCode};
use super::routes::{RouteDoc, Routes};
use super::state::AppState;

/// The routes outside `/v1`, each added with its documentation, so `/openapi.json` lists
/// exactly what is served (no API middleware: probes are neither rate limited nor need a
/// database transaction): `/healthz`, and [`internal`]'s unless they have their own address.
pub fn unversioned(r: Routes, with_internal: bool) -> Routes {
    let r = r.add(
        RouteDoc::new("GET", "/healthz", "Process is up", &[]),
        healthz,
    );
    if with_internal {
        internal(r)
    } else {
        r
    }
}

/// `/readyz` and `/metrics`: on `http.internal_addr` when set (with `/healthz`), else on
/// `http.addr`.
pub fn internal(r: Routes) -> Routes {
    r.add(
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
    let db_ok = state
        .readiness
        .database(&state.pool, &state.metrics.readiness_checks)
        .await;
    let (source, source_ok) = state.pipeline.source_connected();
    if !db_ok || !source_ok {
        let mut down = Vec::new();
        if !db_ok {
            down.push("postgresql");
        }
        if !source_ok {
            down.push(match source {
                "jetstream" => "nats",
                _ => "mqtt broker",
            });
        }
        return Err(ApiError::unavailable(format!(
            "not ready: {} unreachable",
            down.join(" and ")
        )));
    }
    let mut checks = json!({ "postgresql": "ok", source: "ok" });
    if let Some(replica) = &state.replica {
        checks["replica"] = replica_check(replica);
    }
    Ok(Json(json!({
        "status": "ready",
        "checks": checks,
        "mqtt_sessions": state.pipeline.mqtt_sessions(),
    })))
}

/// The read replica, for information only: it is optional, and its routes read the primary
/// when it is not usable, so it never makes the daemon unready.
fn replica_check(replica: &crate::replica::Replica) -> serde_json::Value {
    let (state, lag) = replica.status();
    json!({
        "state": state.name(),
        "in_use": replica.usable(),
        "lag_s": lag.map(|l| l.as_secs_f64()),
    })
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

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}
