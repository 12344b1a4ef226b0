//! Passwords (argon2id), tokens (HS256 JWTs carrying the role) and the [`Caller`] extractor
//! that every authenticated handler takes.

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::extract::ApiJson;
use super::{RouteDoc, Routes};
use crate::http::{ApiError, AppState};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Dispatcher,
    Driver,
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Driver => "driver",
            Role::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Admin, Role::Dispatcher, Role::Driver, Role::Customer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Staff roles: they see every resource.
pub const STAFF: &[Role] = &[Role::Admin, Role::Dispatcher];
/// Everyone with a token.
pub const ANY: &[Role] = &[Role::Admin, Role::Dispatcher, Role::Driver, Role::Customer];
pub const ADMIN: &[Role] = &[Role::Admin];

/// The HS256 key.
pub struct Keys {
    mac: Hmac<Sha256>,
}

/// A token's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

/// Why a token was refused (all 401).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or the parts are not the JSON we issue.
    #[error("malformed token")]
    Malformed,
    /// The header names another algorithm than HS256.
    #[error("unsupported token algorithm")]
    Algorithm,
    /// The signature does not match (forged or signed with another secret).
    #[error("bad token signature")]
    Signature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys {
            mac: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let body = serde_json::to_vec(claims).expect("claims serialize");
        let input = format!("{}.{}", B64.encode(HEADER), B64.encode(body));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }

    /// Checks the algorithm, the signature (constant time), then the expiry.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Algorithm);
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(c.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

pub fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The roles a route allows (from its [`super::RouteDoc`]), set on each request.
#[derive(Debug, Clone, Copy)]
pub struct Allowed(pub &'static [Role]);

/// The authenticated caller of a `/v1` route, in one of the route's allowed roles.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
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

pub fn authenticate(state: &AppState, parts: &Parts) -> Result<Claims, ApiError> {
    let keys = state.api.jwt.as_ref().ok_or_else(disabled)?;
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing_token", "Authorization: Bearer required"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_token", "Authorization must be Bearer <token>")
        })?;
    keys.verify(token.trim(), now_s()).map_err(|e| {
        let code = if e == TokenError::Expired {
            "token_expired"
        } else {
            "invalid_token"
        };
        ApiError::unauthorized(code, e.to_string())
    })
}

fn disabled() -> ApiError {
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
            Some(Verified(claims)) => claims.clone(),
            None => authenticate(state, parts)?,
        };
        let caller = Caller {
            user_id: claims.sub,
            role: claims.role,
        };
        match parts.extensions.get::<Allowed>() {
            Some(Allowed(roles)) => caller.require(roles)?,
            // Every routed handler has its roles; a handler outside the table is a bug.
            None => return Err(ApiError::internal("route without allowed roles")),
        }
        Ok(caller)
    }
}

/// Hashes off the runtime: argon2 takes tens of milliseconds by design.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Verifies off the runtime. A missing user is checked against a dummy hash so that the
/// answer takes as long as for a wrong password.
async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let dummy;
        let hash = match hash {
            Some(h) => h,
            None => {
                dummy = SaltString::generate(&mut OsRng);
                let _ = Argon2::default().hash_password(password.as_bytes(), &dummy);
                return false;
            }
        };
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

const ANY_ADMIN: &str = "SELECT 1 FROM users WHERE role = 'admin' LIMIT 1";
const INSERT_ADMIN: &str = "INSERT INTO users (id, username, password_hash, role)
                            VALUES ($1, 'admin', $2, 'admin') ON CONFLICT (username) DO NOTHING";
const CREDENTIALS: &str = "SELECT id, role, password_hash FROM users WHERE username = $1";

/// Creates user `admin` with `password` when no admin exists. Returns whether it did.
pub async fn bootstrap_admin(
    client: &tokio_postgres::Client,
    password: &str,
) -> Result<bool, ApiError> {
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
    let now = now_s();
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
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong username or password",
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::nil(),
            role: Role::Dispatcher,
            iat: 0,
            exp,
        }
    }

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let k = Keys::new(b"0123456789abcdef0123456789abcdef");
        let t = k.issue(&claims(100));
        let c = k.verify(&t, 99).unwrap();
        assert_eq!(c.role, Role::Dispatcher);
        assert_eq!(k.verify(&t, 100).unwrap_err(), TokenError::Expired);
        let other = Keys::new(b"another secret, also 32 bytes long!");
        assert_eq!(other.verify(&t, 0).unwrap_err(), TokenError::Signature);
        // Promote oneself to admin without re-signing.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let forged = serde_json::to_vec(&Claims {
            role: Role::Admin,
            ..claims(100)
        })
        .unwrap();
        parts[1] = B64.encode(forged);
        assert_eq!(
            k.verify(&parts.join("."), 0).unwrap_err(),
            TokenError::Signature
        );
        // "alg": "none" is refused before any signature check.
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(k.verify(&none, 0).unwrap_err(), TokenError::Algorithm);
        assert_eq!(k.verify("a.b", 0).unwrap_err(), TokenError::Malformed);
    }
}
