//! The one place errors become the envelope of docs/http.md:
//! `{"error": {"code", "message", "request_id"}}`. Internal details never reach the client.
//!
//! An error may add structured members next to those three with [`ApiError::with_detail`],
//! e.g. a 409 naming the commitment in the way:
//! `{"error": {"code": "overlap", ..., "conflict": {"kind": "rental", "id": "…"}}}`.

mod code;
mod mapping;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

pub use code::ErrorCode;

use super::request_id::current_request_id;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// Always `code.status()`.
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Extra members of the `error` object, after `code`, `message` and `request_id`
    /// (which they never replace); empty for most errors.
    pub details: Map<String, Value>,
    /// Seconds for the `Retry-After` header (a 429).
    pub retry_after: Option<u64>,
}

/// Members of the `error` object that [`ApiError::with_detail`] may not set.
const ENVELOPE_KEYS: [&str; 3] = ["code", "message", "request_id"];

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            code,
            message: message.into(),
            details: Map::new(),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After: wait`.
    pub fn rate_limited(wait: u64, message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(wait),
            ..ApiError::new(ErrorCode::RateLimited, message)
        }
    }

    /// The same error with `key: value` in the `error` object, for clients that act on more
    /// than the code (a 409's `"conflict": {"kind": "rental", "id": "…"}`). Setting a key
    /// twice keeps the last value. `key` must not be `code`, `message` or `request_id`.
    pub fn with_detail(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        // A programming error; in release builds the envelope's own value wins on output.
        debug_assert!(
            !ENVELOPE_KEYS.contains(&key),
            "{key} is part of the error envelope"
        );
        self.details.insert(key.into(), value.into());
        self
    }

    /// A 422 naming `column` (as the database's errors do) renamed to name `field`, the
    /// request's name for that value; any other error unchanged. For routes whose body calls
    /// a value differently from the column it is stored in (an odometer `reading_km` lands
    /// in `vehicles.odometer_km`).
    pub fn renaming_field(mut self, column: &str, field: &str) -> Self {
        if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            if let Some(rest) = self
                .message
                .strip_prefix(column)
                .and_then(|r| r.strip_prefix(": "))
            {
                self.message = format!("{field}: {rest}");
            }
        }
        self
    }

    /// The same error under a more specific code.
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self.status = code.status();
        self
    }

    /// 503: a dependency is down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unavailable, message)
    }

    /// 400: the request is not well-formed (bad JSON syntax, unreadable header).
    pub fn malformed(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::MalformedRequest, message)
    }

    /// 403: authenticated, but this role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// 404: no such resource (or not one the caller may see).
    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 413: the body is larger than `http.max_body_bytes`.
    pub fn too_large() -> Self {
        ApiError::new(ErrorCode::PayloadTooLarge, "request body is too large")
    }

    /// 422: well-formed but invalid; `field` names the offending field.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        ApiError::new(ErrorCode::InvalidValue, format!("{field}: {message}"))
    }

    /// 500: a bug; the detail goes to the log, never to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        tracing::warn!(%error, "no database connection");
        ApiError::unavailable("database unavailable")
    }
}

/// What a refused decreasing odometer reading names by default: the vehicle column the
/// `odometer_never_decreases` trigger guards (migrations/0002), which is also the body field
/// of rental activate/complete.
pub const ODOMETER_COLUMN: &str = "odometer_km";

/// Database errors by SQLSTATE: constraint violations are the client's (409/422), a lost
/// connection is 503, anything else is a bug.
impl From<tokio_postgres::Error> for ApiError {
    fn from(error: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let Some(db) = error.as_db_error() else {
            tracing::warn!(%error, "database connection failed");
            return ApiError::unavailable("database unavailable");
        };
        let constraint = db.constraint().unwrap_or("constraint");
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            ApiError::new(
                ErrorCode::AlreadyExists,
                format!("{constraint}: already exists"),
            )
        } else if *code == SqlState::EXCLUSION_VIOLATION {
            ApiError::new(
                ErrorCode::Overlap,
                format!("{constraint}: overlaps an existing commitment"),
            )
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            ApiError::invalid(constraint, "refers to something that does not exist")
        } else if *code == SqlState::CHECK_VIOLATION && constraint == "ledger_period_closed" {
            // migrations/0030: a posting into a closed month of the ledger.
            ApiError::new(ErrorCode::PeriodClosed, db.message())
        } else if *code == SqlState::CHECK_VIOLATION && constraint == "ledger_period_ended" {
            ApiError::new(ErrorCode::PeriodNotEnded, "the month has not ended yet")
        } else if *code == SqlState::CHECK_VIOLATION && constraint == "odometer_never_decreases" {
            // The trigger guards the vehicle's column; a route whose body names the reading
            // differently renames it with `renaming_field`.
            ApiError::invalid(ODOMETER_COLUMN, db.message())
        } else if *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE
            || *code == SqlState::DATETIME_FIELD_OVERFLOW
        {
            // No constraint names these; PostgreSQL's own words ("timestamp out of range")
            // say which kind of value was too large, and reveal nothing internal.
            ApiError::invalid(db.constraint().unwrap_or("value"), db.message())
        } else if *code == SqlState::UNTRANSLATABLE_CHARACTER
            || *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
        {
            // PostgreSQL text and jsonb cannot hold U+0000 (`\u0000` in JSON, `%00` in a query).
            ApiError::invalid(
                "value",
                "text with a NUL character (U+0000) cannot be stored",
            )
        } else if *code == SqlState::CHECK_VIOLATION || *code == SqlState::NOT_NULL_VIOLATION {
            ApiError::invalid(constraint, "value not allowed")
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE
        {
            ApiError::new(
                ErrorCode::ConcurrentUpdate,
                "a concurrent request changed this; retry",
            )
        } else if *code == SqlState::ADMIN_SHUTDOWN || *code == SqlState::CANNOT_CONNECT_NOW {
            ApiError::unavailable("database unavailable")
        } else {
            ApiError::internal(error)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.details;
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        error.insert(
            "request_id".into(),
            json!(current_request_id().unwrap_or_default()),
        );
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(wait) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: ApiError) -> (StatusCode, Value) {
        let response = e.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn the_envelope_has_exactly_code_message_and_request_id() {
        let (status, v) = body(ApiError::not_found("rental")).await;
        assert_eq!(status, 404);
        assert_eq!(
            v,
            json!({"error": {"code": "not_found", "message": "rental not found", "request_id": ""}})
        );
    }

    #[tokio::test]
    async fn details_sit_next_to_the_envelope_members() {
        let e = ApiError::new(ErrorCode::Overlap, "vehicle v1 is already committed")
            .with_detail("conflict", json!({"kind": "rental", "id": "r-1"}))
            .with_detail("retry", false);
        let (status, v) = body(e).await;
        assert_eq!(status, 409);
        assert_eq!(
            v,
            json!({"error": {
                "code": "overlap",
                "message": "vehicle v1 is already committed",
                "request_id": "",
                "conflict": {"kind": "rental", "id": "r-1"},
                "retry": false,
            }})
        );
    }

    #[test]
    #[should_panic(expected = "part of the error envelope")]
    fn details_cannot_replace_the_envelope() {
        let _ = ApiError::forbidden("no").with_detail("code", "other");
    }

    #[test]
    fn renaming_names_the_request_field_in_422_only() {
        let e = ApiError::invalid(
            "odometer_km",
            "odometer reading 9 km is below the current 10 km",
        )
        .renaming_field("odometer_km", "reading_km");
        assert_eq!(
            e.message,
            "reading_km: odometer reading 9 km is below the current 10 km"
        );
        // Only the leading field name, and only a whole one.
        let e = ApiError::invalid("odometer_km_max", "x").renaming_field("odometer_km", "r");
        assert_eq!(e.message, "odometer_km_max: x");
        let e =
            ApiError::new(ErrorCode::Overlap, "odometer_km: x").renaming_field("odometer_km", "r");
        assert_eq!(e.message, "odometer_km: x");
    }
}
