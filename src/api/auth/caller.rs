//! The [`Caller`] extractor every authenticated handler takes: the bearer token checked,
//! then the route's allowed roles.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use uuid::Uuid;

use super::roles::{Role, STAFF};
use super::token::{Claims, TokenError};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::state::AppState;

/// The roles a route allows (from its [`crate::api::routes::RouteDoc`]), set on each request.
#[derive(Debug, Clone, Copy)]
pub struct Allowed(pub &'static [Role]);

/// The authenticated caller of a `/v1` route, in one of the route's allowed roles.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
    /// The token the caller came with (its expiry and version, for long-lived answers).
    pub token: Claims,
}

impl Caller {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "role {} may not do this",
                self.role.as_str()
            )))
        }
    }

    pub fn is_staff(&self) -> bool {
        STAFF.contains(&self.role)
    }
}

/// The bearer token's claims, or the 401 to answer.
/// Claims of a token an earlier layer of the same request verified, so that it is checked
/// once per request. Only fleetd's own middleware can set request extensions.
#[derive(Debug, Clone)]
pub struct Verified(pub Claims);

/// The bearer token's claims if it is well-formed, signed by us and within its lifetime; the
/// user's current state is not checked (see [`authorize`]).
pub fn authenticate(state: &AppState, parts: &Parts) -> Result<Claims, ApiError> {
    let keys = state.api.jwt.as_ref().ok_or_else(disabled)?;
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::new(ErrorCode::MissingToken, "Authorization: Bearer required"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidToken,
                "Authorization must be Bearer <token>",
            )
        })?;
    keys.verify(token.trim(), state.clock.now_s(), state.api.max_ttl_s)
        .map_err(|e| {
            let code = if e == TokenError::Expired {
                ErrorCode::TokenExpired
            } else {
                ErrorCode::InvalidToken
            };
            ApiError::new(code, e.to_string())
        })
}

/// [`authenticate`], then the user's current state: 401 `token_revoked` for a token whose
/// user is gone, disabled, changed or logged out since.
pub async fn authorize(state: &AppState, parts: &Parts) -> Result<Claims, ApiError> {
    let claims = authenticate(state, parts)?;
    state.api.accounts.check(&state.pool, &claims).await?;
    Ok(claims)
}

pub(super) fn disabled() -> ApiError {
    ApiError::unavailable("the API is disabled: jwt.secret is not set")
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // The rate limiter verified the token already when it is on (and left the claims).
        let claims = match parts.extensions.get::<Verified>() {
            Some(Verified(claims)) => *claims,
            None => authenticate(state, parts)?,
        };
        state.api.accounts.check(&state.pool, &claims).await?;
        let caller = Caller {
            user_id: claims.sub,
            role: claims.role,
            token: claims,
        };
        match parts.extensions.get::<Allowed>() {
            Some(Allowed(roles)) => caller.require(roles)?,
            // Every routed handler has its roles; a handler outside the table is a bug.
            None => return Err(ApiError::internal("route without allowed roles")),
        }
        Ok(caller)
    }
}
