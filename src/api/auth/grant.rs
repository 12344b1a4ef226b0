//! What a successful login or refresh answers: a short-lived access token (a JWT, `jwt.ttl_s`)
//! and, unless `jwt.refresh_ttl_s` is 0, a refresh token that gets a new pair once
//! (`POST /v1/auth/refresh`).
//!
//! A refresh token is 32 random bytes, base64url, prefixed `rt_`. Only its SHA-256 is stored
//! (`refresh_tokens`, migration 9), with the user's `token_version` at issue: whatever revokes
//! the user's access tokens (logout, a change of role or password, disabling) revokes their
//! refresh tokens too. Each refresh uses the token up and issues the next of the same family.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::roles::Role;
use super::token::Claims;
use crate::api::error::ApiError;
use crate::api::state::AppState;

const INSERT: &str = "INSERT INTO refresh_tokens
        (id, user_id, family, token_hash, token_version, issued_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// Up to `$2` refresh tokens expired at `$1`: useless, and gone from the table.
const DELETE_EXPIRED: &str = "DELETE FROM refresh_tokens
     WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)";

/// An access token, and a refresh token when they are enabled.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Exchange it once at `POST /v1/auth/refresh` for a new pair; absent when
    /// `jwt.refresh_ttl_s` is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<u64>,
}

/// Who the tokens are for.
#[derive(Debug, Clone, Copy)]
pub struct Grantee {
    pub user_id: Uuid,
    pub role: Role,
    /// The user's `token_version` now.
    pub version: i32,
    /// The refresh token's family: new at login, kept by a refresh.
    pub family: Uuid,
}

/// The SHA-256 of a refresh token, as stored.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues an access token and (when enabled) stores and returns a refresh token for `who`;
/// `client` may be the caller's transaction. The answer is never cached.
pub async fn grant<C: GenericClient>(
    state: &AppState,
    client: &C,
    who: Grantee,
) -> Result<Response, ApiError> {
    let keys = state.api.jwt.as_ref().ok_or_else(super::caller::disabled)?;
    let now = state.clock.now();
    let claims = Claims {
        sub: who.user_id,
        role: who.role,
        iat: now.timestamp(),
        exp: now.timestamp() + state.api.ttl_s as i64,
        ver: who.version,
    };
    let ttl = state.api.refresh_ttl_s;
    let refresh_token = match ttl {
        0 => None,
        ttl => Some(store(client, who, now, ttl).await?),
    };
    let mut response = Json(TokenResponse {
        access_token: keys.issue(&claims),
        token_type: "Bearer",
        expires_in: state.api.ttl_s,
        refresh_expires_in: refresh_token.is_some().then_some(ttl),
        refresh_token,
    })
    .into_response();
    // Credentials: never to be kept by a browser or proxy cache.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

async fn store<C: GenericClient>(
    client: &C,
    who: Grantee,
    now: DateTime<Utc>,
    ttl_s: u64,
) -> Result<String, ApiError> {
    let token = format!("rt_{}", B64.encode(rand::random::<[u8; 32]>()));
    let expires = now + chrono::Duration::seconds(ttl_s as i64);
    client
        .execute(
            INSERT,
            &[
                &Uuid::new_v4(),
                &who.user_id,
                &who.family,
                &digest(&token),
                &who.version,
                &now,
                &expires,
            ],
        )
        .await?;
    Ok(token)
}

/// Deletes up to `limit` refresh tokens expired at `now`; returns how many (the time rules).
pub async fn delete_expired(
    client: &tokio_postgres::Client,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<u64, tokio_postgres::Error> {
    client.execute(DELETE_EXPIRED, &[&now, &limit]).await
}
