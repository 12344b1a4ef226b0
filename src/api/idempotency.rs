//! `Idempotency-Key` on `POST`s: the first response to a (user, key) is stored in
//! PostgreSQL and replayed for every retry, which then changes nothing.
//!
//! The key is claimed with `INSERT … ON CONFLICT DO NOTHING` on the primary key, so of two
//! concurrent requests with the same key exactly one runs; the other gets 409
//! `idempotency_in_progress` (retry later) and, once the first finished, its stored answer.
//! Reusing a key for a different request (method, path or body) is 422
//! `idempotency_key_reused`. 5xx answers are not stored, so a retry after a failure really
//! retries. Keys are scoped per user: two users may use the same key. If the daemon dies
//! between the handler's commit and storing the answer, the key stays "in progress"; a
//! client then sees 409 and must check the resource itself. Keys are kept for
//! [`RETENTION`]; about one claim in [`SWEEP_EVERY`] deletes older ones, so the table stays
//! bounded without a timer.

use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth;
use crate::http::{ApiError, AppState};

pub const HEADER: &str = "idempotency-key";
/// Set on every answer to a request that carried a key: `true` when it is a replay.
pub const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;
/// How long a key is remembered (as long as Stripe's).
pub const RETENTION: &str = "24 hours";
/// One claim in this many also deletes expired keys.
pub const SWEEP_EVERY: u32 = 1024;

/// Middleware on the `/v1` routes.
pub async fn layer(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    match handle(&state, request, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    if request.method() != Method::POST {
        return Ok(next.run(request).await);
    }
    let Some(key) = request.headers().get(HEADER) else {
        return Ok(next.run(request).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| ApiError::invalid("Idempotency-Key", "1-255 visible ASCII characters"))?
        .to_string();
    let (parts, body) = request.into_parts();
    // Unauthenticated requests are not remembered: the handler answers them with 401.
    let Ok(claims) = auth::authenticate(state, &parts) else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let bytes = to_bytes(body, state.api.max_body_bytes)
        .await
        .map_err(|_| ApiError::too_large())?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let hash = hasher.finalize().to_vec();

    let client = state.pool.get().await?;
    let claimed = client
        .execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&claims.sub, &key, &hash],
        )
        .await?;
    if claimed == 0 {
        let row = client
            .query_opt(
                "SELECT request_hash, status, body FROM idempotency_keys
                 WHERE user_id = $1 AND key = $2",
                &[&claims.sub, &key],
            )
            .await?
            .ok_or_else(|| ApiError::conflict("idempotency_in_progress", "retry this request"))?;
        let stored_hash: Vec<u8> = row.get(0);
        if stored_hash != hash {
            return Err(ApiError::invalid(
                "Idempotency-Key",
                "already used for a different request",
            )
            .with_code("idempotency_key_reused"));
        }
        let status: Option<i32> = row.get(1);
        let Some(status) = status else {
            return Err(ApiError::conflict(
                "idempotency_in_progress",
                "the first request with this key is still running",
            ));
        };
        let body: Vec<u8> = row.get(2);
        let status = StatusCode::from_u16(status as u16).map_err(ApiError::internal)?;
        return Ok(json_response(status, body.into(), true));
    }
    if rand::random::<u32>() % SWEEP_EVERY == 0 {
        client
            .execute(
                &format!("DELETE FROM idempotency_keys WHERE created_at < now() - interval '{RETENTION}'"),
                &[],
            )
            .await?;
    }
    drop(client);

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(ApiError::internal)?;
    let client = state.pool.get().await?;
    if status.is_server_error() {
        client
            .execute(
                "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                &[&claims.sub, &key],
            )
            .await?;
    } else {
        client
            .execute(
                "UPDATE idempotency_keys SET status = $3, body = $4 WHERE user_id = $1 AND key = $2",
                &[&claims.sub, &key, &(status.as_u16() as i32), &body.to_vec()],
            )
            .await?;
    }
    Ok(json_response(status, body, false))
}

fn json_response(status: StatusCode, body: Bytes, replayed: bool) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        REPLAYED,
        HeaderValue::from_static(if replayed { "true" } else { "false" }),
    );
    r
}
