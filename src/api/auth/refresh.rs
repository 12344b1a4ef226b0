//! `POST /v1/auth/refresh`: a refresh token for a new access token and the next refresh
//! token, so access tokens can be short-lived without asking for the password again.
//!
//! Rotating and revocable: a token is used once. Presenting a used one again means two
//! parties hold it (a stolen copy, or a client that retried blindly), so the whole family
//! (every token descended from the same login) is revoked and the user must log in again. A
//! token whose user was disabled, deleted, logged out or had their role or password changed
//! since it was issued is refused too. Rows are locked (`FOR UPDATE`), so two concurrent
//! refreshes with one token cannot both succeed.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::caller::disabled;
use super::grant::{digest, grant, Grantee, TokenResponse};
use super::roles::Role;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::ApiJson;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;

/// The route, limited per client address like logins (the rate-limit layer).
pub const REFRESH_PATH: &str = "/v1/auth/refresh";

const FIND: &str = "SELECT r.id, r.user_id, r.family, r.token_version, r.expires_at, r.used_at,
                           r.revoked_at, u.role, u.active, u.token_version
                      FROM refresh_tokens r JOIN users u ON u.id = r.user_id
                     WHERE r.token_hash = $1
                       FOR UPDATE OF r";
const USE: &str = "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1";
const REVOKE_FAMILY: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL";

/// `POST /v1/auth/refresh` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The `refresh_token` of the last login or refresh.
    #[schemars(length(min = 1, max = 256))]
    pub refresh_token: String,
}

fn refused(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(code, message)
}

async fn refresh(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    state.api.jwt.as_ref().ok_or_else(disabled)?;
    if state.api.refresh_ttl_s == 0 {
        return Err(refused(
            ErrorCode::InvalidToken,
            "refresh tokens are disabled (jwt.refresh_ttl_s = 0)",
        ));
    }
    if req.refresh_token.is_empty() || req.refresh_token.len() > 256 {
        return Err(refused(ErrorCode::InvalidToken, "unknown refresh token"));
    }
    let now = state.clock.now();
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(FIND, &[&digest(&req.refresh_token)])
        .await?
        .ok_or_else(|| refused(ErrorCode::InvalidToken, "unknown refresh token"))?;
    let (id, user_id, family): (Uuid, Uuid, Uuid) = (row.get(0), row.get(1), row.get(2));
    let (issued_version, expires_at): (i32, DateTime<Utc>) = (row.get(3), row.get(4));
    let (used_at, revoked_at): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        (row.get(5), row.get(6));
    let (role, active, version): (String, bool, i32) = (row.get(7), row.get(8), row.get(9));
    if revoked_at.is_some() {
        return Err(refused(
            ErrorCode::TokenRevoked,
            "refresh token revoked; log in again",
        ));
    }
    if used_at.is_some() || !active || version != issued_version {
        tx.execute(REVOKE_FAMILY, &[&family, &now]).await?;
        tx.commit().await?;
        let why = if used_at.is_some() {
            "refresh token already used: every token of its login is revoked; log in again"
        } else {
            "refresh token revoked (the user logged out, was disabled or changed); log in again"
        };
        return Err(refused(ErrorCode::TokenRevoked, why));
    }
    if expires_at <= now {
        return Err(refused(ErrorCode::TokenExpired, "refresh token expired"));
    }
    tx.execute(USE, &[&id, &now]).await?;
    let who = Grantee {
        user_id,
        role: Role::parse(&role).ok_or_else(|| ApiError::internal("unknown role in users"))?,
        version,
        family,
    };
    let response = grant(&state, &*tx, who).await?;
    tx.commit().await?;
    Ok(response)
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            request: Some(|g| g.subschema_for::<RefreshRequest>()),
            response: Some(|g| g.subschema_for::<TokenResponse>()),
            errors: &[400, 401, 413, 422, 429, 503],
            ..RouteDoc::new(
                "POST",
                REFRESH_PATH,
                "Exchange a refresh token (once) for a new access token and refresh token; \
                 a token used twice revokes every token of its login",
                &[],
            )
        },
        refresh,
    )
}
