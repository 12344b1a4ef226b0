//! Per-client rate limiting: a token bucket per user (by token subject) or, for requests
//! without a valid token, per client IP. Buckets live in memory, so each daemon limits on
//! its own ([`crate::limiter`]). Over budget: 429 with `Retry-After` in whole seconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::auth::caller::{authenticate, Verified};
use crate::api::auth::refresh::REFRESH_PATH;
use crate::api::error::ApiError;
use crate::api::state::AppState;

/// The login route, limited by address only (as is [`REFRESH_PATH`]).
const LOGIN_PATH: &str = "/v1/auth/token";

/// Middleware on the `/v1` routes.
pub async fn layer(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if !state.api.limiter.enabled() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    // Logins are counted per address whatever token they carry: otherwise each account an
    // attacker holds would add a budget for guessing others' passwords.
    let login = matches!(parts.uri.path(), LOGIN_PATH | REFRESH_PATH);
    let client = match authenticate(&state, &parts).ok().filter(|_| !login) {
        Some(claims) => {
            let client = format!("user:{}", claims.sub);
            parts.extensions.insert(Verified(claims));
            client
        }
        None => match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
            None => "ip:unknown".to_string(),
        },
    };
    if let Err(wait) = state.api.limiter.take(&client, Instant::now()) {
        return ApiError::rate_limited(wait, format!("too many requests; retry in {wait} s"))
            .into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
