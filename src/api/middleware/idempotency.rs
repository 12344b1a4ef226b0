//! `Idempotency-Key` on `POST`s: the first answer to a (user, key) is stored in PostgreSQL
//! in the same transaction as what the request changed ([`super::txn`]), and replayed for
//! every retry, which then changes nothing.
//!
//! The key is claimed first thing in the request's transaction, with `INSERT … ON CONFLICT
//! DO NOTHING` on the primary key. A concurrent request with the same key waits on that
//! row until the first commits (then replays its answer) or rolls back (then runs itself);
//! after [`CLAIM_WAIT`] it gets 409 `idempotency_in_progress`. Since the claim, the effects
//! and the answer commit together, a daemon killed mid-request leaves no claim behind: the
//! retry simply runs. Reusing a key for a different request (method, path or body) is 422
//! `idempotency_key_reused`. Client errors (4xx) are stored, after rolling back to a
//! savepoint taken after the claim, so their partial effects never commit; server errors
//! (5xx) are not stored, so a retry after a failure really retries. Keys are scoped per
//! user. They are kept for [`RETENTION`]; about one claim in [`SWEEP_EVERY`] deletes older
//! ones, so the table stays bounded without a timer, and a claim first drops its own key when
//! older, so an expired answer is never replayed, swept or not.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::txn::{Slot, Unit};
use crate::api::audit;
use crate::api::auth::caller::authorize;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// Set on every answer to a request that carried a key: `true` when it is a replay.
pub const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;
/// What [`claim`] accepts as a key, as the OpenAPI document states it.
pub const KEY_PATTERN: &str = "^[!-~]([ -~]{0,253}[!-~])?$";
/// How long a key is remembered (as long as Stripe's).
pub const RETENTION: &str = "24 hours";
/// One claim in this many also deletes expired keys.
pub const SWEEP_EVERY: u32 = 1024;
/// How long a request waits for a concurrent one with the same key to finish.
pub const CLAIM_WAIT: &str = "10s";

const CLAIM: &str = "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING";
const STORED: &str =
    "SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2";
const STORE: &str =
    "UPDATE idempotency_keys SET status = $3, body = $4 WHERE user_id = $1 AND key = $2";
const SWEEP: &str = "DELETE FROM idempotency_keys WHERE created_at < now() - $1::text::interval";
/// This key's claim when it has expired (`$3`: [`RETENTION`]).
const EXPIRED: &str = "DELETE FROM idempotency_keys
                       WHERE user_id = $1 AND key = $2 AND created_at < now() - $3::text::interval";
/// Bounds the wait for a concurrent request's claim (this transaction only).
const WAIT_AT_MOST: &str = "SELECT set_config('lock_timeout', $1, true)";
/// After the claim: handler statements run with the usual lock waits, inside a savepoint
/// that a client error rolls back to.
const AFTER_CLAIM: &str = "SET LOCAL lock_timeout TO DEFAULT; SAVEPOINT handler";

/// A claimed key, to store the answer under.
pub struct Key {
    user: Uuid,
    key: String,
}

/// Drops this key's expired claim, then claims it; `Ok(false)` when a live claim exists.
async fn claim_fresh(
    tx: &tokio_postgres::Client,
    user: Uuid,
    key: &str,
    hash: &[u8],
) -> Result<bool, tokio_postgres::Error> {
    tx.execute(EXPIRED, &[&user, &key, &RETENTION]).await?;
    Ok(tx.execute(CLAIM, &[&user, &key, &hash]).await? == 1)
}

/// What the layer does with a request.
pub enum Claim {
    /// Run the handler; with `key`, store its answer.
    Run { request: Request, key: Option<Key> },
    /// A retry: this is the first request's answer (or why it cannot be had).
    Replay(Response),
}

/// Whether a request (or a route, by its path template) takes an `Idempotency-Key`: `POST`s,
/// except those answered with a credential (`/v1/auth/` tokens and tracker passwords, never
/// to be stored or replayed; logging out twice is harmless). The OpenAPI document offers the
/// header exactly where this holds.
pub fn honours_keys(method: &str, path: &str) -> bool {
    let credential = path.starts_with("/v1/auth/") || path.ends_with("/tracker-credentials");
    method == "POST" && !credential
}

/// Claims the request's key in `unit`'s transaction, or finds the answer stored for it.
/// Requests without a key, not `POST`, answered with a credential (`/v1/auth/` tokens and
/// tracker passwords, never to be stored or replayed; logging out twice is harmless), or
/// unauthenticated (the handler
/// answers those 401 and nothing is remembered or replayed) just run.
pub async fn claim(state: &AppState, unit: &Unit, request: Request) -> Result<Claim, ApiError> {
    if !honours_keys(request.method().as_str(), request.uri().path()) {
        return Ok(Claim::Run { request, key: None });
    }
    let Some(key) = request.headers().get(HEADER) else {
        return Ok(Claim::Run { request, key: None });
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| is_key(k))
        .ok_or_else(|| ApiError::invalid("Idempotency-Key", "1-255 visible ASCII characters"))?
        .to_string();
    let (parts, body) = request.into_parts();
    let Ok(claims) = authorize(state, &parts).await else {
        let request = Request::from_parts(parts, body);
        return Ok(Claim::Run { request, key: None });
    };
    let bytes = to_bytes(body, state.api.max_body_bytes)
        .await
        .map_err(|_| ApiError::too_large())?;
    let hash = request_hash(&parts, &bytes);
    let user = claims.sub;

    if rand::random::<u32>() % SWEEP_EVERY == 0 {
        let client = state.pool.get().await?;
        client.execute(SWEEP, &[&RETENTION]).await?;
    }
    let mut slot = unit.lock().await;
    let tx = slot.begin(&state.pool).await?;
    tx.execute(WAIT_AT_MOST, &[&CLAIM_WAIT]).await?;
    let claimed = match claim_fresh(tx, user, &key, &hash).await {
        Ok(claimed) => claimed,
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            slot.end("ROLLBACK").await?;
            return Err(in_progress());
        }
        Err(e) => return Err(e.into()),
    };
    if claimed {
        tx.batch_execute(AFTER_CLAIM).await?;
        let request = Request::from_parts(parts, Body::from(bytes));
        return Ok(Claim::Run {
            request,
            key: Some(Key { user, key }),
        });
    }
    let row = tx.query_opt(STORED, &[&user, &key]).await?;
    slot.end("ROLLBACK").await?;
    let row = row.ok_or_else(in_progress)?;
    let stored_hash: Vec<u8> = row.get(0);
    if stored_hash != hash {
        return Err(
            ApiError::invalid("Idempotency-Key", "already used for a different request")
                .with_code(ErrorCode::IdempotencyKeyReused),
        );
    }
    // A key claimed by a daemon from before answers were stored atomically.
    let status: i32 = row.get::<_, Option<i32>>(1).ok_or_else(in_progress)?;
    let body: Vec<u8> = row.get(2);
    let status = StatusCode::from_u16(status as u16).map_err(ApiError::internal)?;
    Ok(Claim::Replay(replay(status, body.into())))
}

/// Ends a keyed request's transaction: a success commits with its answer, a client error
/// keeps only the claim and the answer, a server error keeps nothing. The audit `entry` is
/// written in the transaction unless it is rolled back; returns whether it was.
pub async fn finish(
    slot: &mut Slot,
    key: &Key,
    response: Response,
    entry: Option<&audit::Entry>,
) -> Result<(Response, bool), ApiError> {
    let status = response.status();
    if status.is_server_error() {
        slot.end("ROLLBACK").await?;
        return Ok((response, false));
    }
    let (mut parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(ApiError::internal)?;
    let tx = slot
        .client()
        .ok_or_else(|| ApiError::internal("keyed request without its transaction"))?;
    if status.is_client_error() {
        tx.batch_execute("ROLLBACK TO SAVEPOINT handler").await?;
    }
    let code = status.as_u16() as i32;
    tx.execute(STORE, &[&key.user, &key.key, &code, &body.to_vec()])
        .await?;
    if let Some(entry) = entry {
        entry.write(tx, status).await?;
    }
    slot.end("COMMIT").await?;
    parts
        .headers
        .insert(REPLAYED, HeaderValue::from_static("false"));
    Ok((
        Response::from_parts(parts, Body::from(body)),
        entry.is_some(),
    ))
}

/// 1 to 255 printable ASCII characters (spaces inside, not at either end): [`KEY_PATTERN`].
/// HTTP drops a header value's outer spaces anyway; a tab or a byte outside ASCII is refused.
fn is_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_KEY_LEN
        && b.iter().all(|c| (b' '..=b'~').contains(c))
        && b[0] != b' '
        && b[b.len() - 1] != b' '
}

fn request_hash(parts: &axum::http::request::Parts, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().to_vec()
}

fn in_progress() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyInProgress,
        "the first request with this key is still running; retry later",
    )
}

/// A stored answer, replayed.
fn replay(status: StatusCode, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(REPLAYED, HeaderValue::from_static("true"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_what_the_documented_pattern_says() {
        assert_eq!(KEY_PATTERN, "^[!-~]([ -~]{0,253}[!-~])?$");
        let long = "k".repeat(255);
        for ok in ["a", "~", "a b", "k'; DROP TABLE x; --", &long] {
            assert!(is_key(ok), "{ok}");
        }
        for refused in ["", " ", " a", "a ", "a\tb", "\u{7f}", "é", &"k".repeat(256)] {
            assert!(!is_key(refused), "{refused:?}");
        }
    }
}
