//! Per-client rate limiting: a token bucket per user (by token subject) or, for requests
//! without a valid token, per client IP. Buckets live in memory, so each daemon limits on
//! its own ([`super::limiter`]). Over budget: 429 with `Retry-After` in whole seconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::auth::caller::{authenticate, Verified};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::state::AppState;

/// Middleware on the `/v1` routes.
pub async fn layer(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if !state.api.limiter.enabled() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let client = match authenticate(&state, &parts) {
        Ok(claims) => {
            let client = format!("user:{}", claims.sub);
            parts.extensions.insert(Verified(claims));
            client
        }
        Err(_) => match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
            None => "ip:unknown".to_string(),
        },
    };
    if let Err(wait) = state.api.limiter.take(&client, Instant::now()) {
        let mut r = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many requests; retry in {wait} s"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    next.run(Request::from_parts(parts, body)).await
}
