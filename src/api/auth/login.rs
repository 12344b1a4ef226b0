//! Logging in (`POST /v1/auth/token`) and the first admin account.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::caller::disabled;
use super::password::{hash_password, verify_password, HashError};
use super::roles::Role;
use super::token::Claims;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::ApiJson;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;

const ANY_ADMIN: &str = "SELECT 1 FROM users WHERE role = 'admin' LIMIT 1";
const INSERT_ADMIN: &str = "INSERT INTO users (id, username, password_hash, role)
                            VALUES ($1, 'admin', $2, 'admin') ON CONFLICT (username) DO NOTHING";
const CREDENTIALS: &str = "SELECT id, role, password_hash FROM users WHERE username = $1";

/// Why the first admin could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("database: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Creates user `admin` with `password` when no admin exists. Returns whether it did.
pub async fn bootstrap_admin(
    client: &tokio_postgres::Client,
    password: &str,
) -> Result<bool, BootstrapError> {
    if password.is_empty() {
        return Ok(false);
    }
    let exists = client.query_opt(ANY_ADMIN, &[]).await?;
    if exists.is_some() {
        return Ok(false);
    }
    let hash = hash_password(password.to_string()).await?;
    let n = client
        .execute(INSERT_ADMIN, &[&Uuid::new_v4(), &hash])
        .await?;
    Ok(n == 1)
}

/// `POST /v1/auth/token` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
}

/// An access token.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

async fn token(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let keys = state.api.jwt.as_ref().ok_or_else(disabled)?;
    if req.username.len() > 64 || req.password.len() > 1024 {
        return Err(bad_credentials());
    }
    let client = state.pool.get().await?;
    let row = client.query_opt(CREDENTIALS, &[&req.username]).await?;
    let hash = row.as_ref().map(|r| r.get::<_, String>(2));
    if !verify_password(req.password, hash).await {
        return Err(bad_credentials());
    }
    let row = row.expect("verified");
    let role: String = row.get(1);
    let now = state.clock.now_s();
    let claims = Claims {
        sub: row.get(0),
        role: Role::parse(&role).ok_or_else(|| ApiError::internal("unknown role in users"))?,
        iat: now,
        exp: now + state.api.ttl_s as i64,
    };
    Ok(Json(TokenResponse {
        access_token: keys.issue(&claims),
        token_type: "Bearer",
        expires_in: state.api.ttl_s,
    }))
}

fn bad_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "wrong username or password")
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            request: Some(|g| g.subschema_for::<TokenRequest>()),
            response: Some(|g| g.subschema_for::<TokenResponse>()),
            errors: &[400, 401, 413, 422, 429, 503],
            ..RouteDoc::new(
                "POST",
                "/v1/auth/token",
                "Exchange a username and password for a bearer token",
                &[],
            )
        },
        token,
    )
}
