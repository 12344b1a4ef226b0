//! Logging in (`POST /v1/auth/token`, answered by [`super::grant`]), logging out
//! (`POST /v1/auth/logout`) and the first admin account.
//!
//! A login costs an argon2 verification (tens of milliseconds of one core), so it is the
//! cheapest way to load the daemon without an account. Logins are limited per client IP
//! (the rate-limit layer, which ignores any bearer token on this route) and per username
//! (`http.login_per_minute`); at most `http.login_concurrency` hashes run at once, on the
//! blocking pool, and no login holds a database connection while it hashes or waits.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::caller::{disabled, Caller};
use super::grant::{grant, Grantee, TokenResponse};
use super::password::{hash_password, verify_password, HashError};
use super::roles::{Role, ANY};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::ApiJson;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;

const ANY_ADMIN: &str = "SELECT 1 FROM users WHERE role = 'admin' LIMIT 1";
const INSERT_ADMIN: &str = "INSERT INTO users (id, username, password_hash, role)
                            VALUES ($1, 'admin', $2, 'admin') ON CONFLICT (username) DO NOTHING";
const CREDENTIALS: &str =
    "SELECT id, role, password_hash, active, token_version FROM users WHERE username = $1";
/// Revokes every token of `$1`.
const LOGOUT: &str = "UPDATE users SET token_version = token_version + 1 WHERE id = $1";

/// What [`username_ok`] accepts.
pub const USERNAME_PATTERN: &str = r"^[A-Za-z0-9._@-]{1,64}$";

/// 1-64 characters of `[A-Za-z0-9._@-]`.
pub fn username_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

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

async fn token(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    state.api.jwt.as_ref().ok_or_else(disabled)?;
    if req.password.len() > 1024 {
        return Err(bad_credentials());
    }
    let limited = state
        .api
        .login_limiter
        .take(&format!("login:{}", req.username), Instant::now());
    if let Err(wait) = limited {
        return Err(ApiError::rate_limited(
            wait,
            format!("too many logins for this username; retry in {wait} s"),
        ));
    }
    // Read, then give the connection back before hashing. A name no user can have (too
    // long, NUL, spaces...) is not looked up, but hashed all the same: the answer takes as
    // long as for a wrong password.
    let row = if username_ok(&req.username) {
        let client = state.pool.get().await?;
        client.query_opt(CREDENTIALS, &[&req.username]).await?
    } else {
        None
    };
    let hash = row.as_ref().map(|r| r.get::<_, String>(2));
    let verified = {
        let _slot = state.api.hashing_slot().await?;
        verify_password(req.password, hash).await
    };
    let row = match row {
        Some(row) if verified && row.get::<_, bool>(3) => row,
        _ => return Err(bad_credentials()),
    };
    let role: String = row.get(1);
    let who = Grantee {
        user_id: row.get(0),
        role: Role::parse(&role).ok_or_else(|| ApiError::internal("unknown role in users"))?,
        version: row.get(4),
        family: Uuid::new_v4(),
    };
    let client = state.pool.get().await?;
    grant(&state, &**client, who).await
}

/// Revokes every token of the caller (on every device). One statement, so no request
/// transaction (which lives in the middleware, above this module).
async fn logout(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.get().await?;
    client.execute(LOGOUT, &[&caller.user_id]).await?;
    Ok(StatusCode::NO_CONTENT)
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
    .add(
        RouteDoc {
            success: 204,
            ..RouteDoc::new(
                "POST",
                "/v1/auth/logout",
                "Revoke every token of the caller, access and refresh (all devices)",
                ANY,
            )
        },
        logout,
    )
}
