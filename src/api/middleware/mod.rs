//! The `/v1` API's middleware, outermost first: [`rate_limit`] (429 before anything else),
//! then [`transaction`]: one database transaction per request ([`txn`]), with an
//! `Idempotency-Key` claimed first ([`idempotency`]) and the audit record written last
//! ([`crate::api::audit`]). Request ids wrap every route, the probes included:
//! [`crate::api::request_id`].

pub mod idempotency;
pub mod rate_limit;
pub mod slots;
pub mod txn;

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use std::sync::atomic::Ordering;

use crate::api::audit;
use crate::api::auth::caller::authenticate;
use crate::api::auth::Role;
use crate::api::error::ApiError;
use crate::api::state::AppState;
use txn::Unit;
use uuid::Uuid;

/// The one `/v1` route `http.request_timeout_ms` does not apply to.
const STREAM_PATH: &str = "/v1/stream";

/// Middleware on the `/v1` routes: captures the audit record of a state-changing request
/// ([`crate::api::audit`]), gives each request its [`Unit`], lets [`idempotency`] claim a key
/// first, runs the handler within `http.request_timeout_ms` (then 503, its transaction
/// abandoned), and ends the transaction from the answer, with the audit record inside it
/// when the request succeeded, or on its own after.
pub async fn transaction(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    // The bearer token is read once here for both the audit record and the transaction's
    // scope (whether it may act is the handler's `Caller` check).
    let (parts, body) = request.into_parts();
    let caller = authenticate(&state, &parts).ok().map(|c| (c.sub, c.role));
    let request = Request::from_parts(parts, body);
    let (request, mut entry) = match capture(&state, request, caller).await {
        Ok(captured) => captured,
        Err(e) => return e.into_response(),
    };
    let mut audit = Audit {
        entry: entry.as_mut(),
        written: false,
    };
    let scope = txn::Scope {
        caller,
        as_api_role: state.api.as_api_role.load(Ordering::Relaxed),
    };
    let response = match handle(&state, request, next, scope, &mut audit).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let written = audit.written;
    if let (Some(entry), false) = (&entry, written) {
        audit::write_alone(&state, entry, response.status()).await;
    }
    response
}

/// The request's audit record, and whether it was written (or needs none, for a replay).
struct Audit<'e> {
    entry: Option<&'e mut audit::Entry>,
    written: bool,
}

/// Reads the body of an audited request (it is recorded) and captures its record.
async fn capture(
    state: &AppState,
    request: Request,
    caller: Option<(Uuid, Role)>,
) -> Result<(Request, Option<audit::Entry>), ApiError> {
    if !audit::audited(request.method(), request.uri().path()) {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, state.api.max_body_bytes)
        .await
        .map_err(|_| ApiError::too_large())?;
    let entry = audit::Entry::capture(caller, &parts, &bytes);
    Ok((Request::from_parts(parts, Body::from(bytes)), Some(entry)))
}

async fn handle(
    state: &AppState,
    request: Request,
    next: Next,
    scope: txn::Scope,
    audit: &mut Audit<'_>,
) -> Result<Response, ApiError> {
    let unit = Unit::scoped(scope);
    let (mut request, key) = match idempotency::claim(state, &unit, request).await? {
        idempotency::Claim::Replay(answer) => {
            audit.written = true; // the first request was recorded; a replay changes nothing
            return Ok(answer);
        }
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
                unit.lock().await.abandon(&state.pg).await;
                ApiError::unavailable(format!(
                    "the request took longer than http.request_timeout_ms ({} ms) and was \
                     rolled back; nothing was changed",
                    state.api.request_timeout.as_millis()
                ))
                .into_response()
            }
        }
    };
    let response = match audit.entry.as_deref_mut() {
        Some(entry) if entry.wants_id() && response.status().is_success() => {
            let (parts, body) = response.into_parts();
            let bytes = to_bytes(body, usize::MAX)
                .await
                .map_err(ApiError::internal)?;
            entry.created(&bytes);
            Response::from_parts(parts, Body::from(bytes))
        }
        _ => response,
    };
    let mut slot = unit.lock().await;
    match key {
        Some(key) => {
            let entry = audit.entry.as_deref();
            let (response, written) = idempotency::finish(&mut slot, &key, response, entry).await?;
            audit.written = written;
            Ok(response)
        }
        None => {
            let status = response.status();
            let ok = status.as_u16() < 400;
            if let (true, Some(entry), Some(tx)) = (ok, audit.entry.as_deref(), slot.client()) {
                entry.write(tx, status).await?;
                audit.written = true;
            }
            slot.end(if ok { "COMMIT" } else { "ROLLBACK" }).await?;
            Ok(response)
        }
    }
}
