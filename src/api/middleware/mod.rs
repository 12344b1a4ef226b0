//! The `/v1` API's middleware, outermost first: [`rate_limit`] (429 before anything else),
//! then [`transaction`]: one database transaction per request ([`txn`]), with an
//! `Idempotency-Key` claimed first ([`idempotency`]). Request ids wrap every route, the probes
//! included: [`crate::api::request_id`].

pub mod idempotency;
pub mod rate_limit;
pub mod slots;
pub mod txn;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;
use crate::api::state::AppState;
use txn::Unit;

/// The one `/v1` route `http.request_timeout_ms` does not apply to.
const STREAM_PATH: &str = "/v1/stream";

/// Middleware on the `/v1` routes: gives each request its [`Unit`], lets
/// [`idempotency`] claim a key first, runs the handler within `http.request_timeout_ms`
/// (then 503, its transaction abandoned), and ends the transaction from the answer.
pub async fn transaction(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match handle(&state, request, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let unit = Unit::default();
    let (mut request, key) = match idempotency::claim(state, &unit, request).await? {
        idempotency::Claim::Replay(answer) => return Ok(answer),
        idempotency::Claim::Run { request, key } => (request, key),
    };
    request.extensions_mut().insert(unit.clone());
    let response = if request.uri().path() == STREAM_PATH {
        // The event stream is meant to last; its own checks end it.
        next.run(request).await
    } else {
        match tokio::time::timeout(state.api.request_timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                unit.lock().await.abandon().await;
                ApiError::unavailable(format!(
                    "the request took longer than http.request_timeout_ms ({} ms) and was \
                     rolled back; nothing was changed",
                    state.api.request_timeout.as_millis()
                ))
                .into_response()
            }
        }
    };
    let mut slot = unit.lock().await;
    match key {
        Some(key) => idempotency::finish(&mut slot, &key, response).await,
        None => {
            let end = if response.status().as_u16() < 400 {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            slot.end(end).await?;
            Ok(response)
        }
    }
}
