//! The one place errors become SPEC 3's envelope:
//! `{"error": {"code", "message", "request_id"}}`. Internal details never reach the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::request_id::current_request_id;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The same error under a more specific code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// 503: a dependency is down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 400: the request is not well-formed (bad JSON syntax, unreadable header).
    pub fn malformed(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_request", message)
    }

    /// 401: no usable credentials.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: authenticated, but this role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such resource (or not one the caller may see).
    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409: a conflict with the current state (double booking, illegal transition).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// 413: the body is larger than `http.max_body_bytes`.
    pub fn too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is too large",
        )
    }

    /// 422: well-formed but invalid; `field` names the offending field.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            format!("{field}: {message}"),
        )
    }

    /// 500: a bug; the detail goes to the log, never to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        tracing::warn!(%error, "no database connection");
        ApiError::unavailable("database unavailable")
    }
}

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
            ApiError::conflict("already_exists", format!("{constraint}: already exists"))
        } else if *code == SqlState::EXCLUSION_VIOLATION {
            ApiError::conflict(
                "overlap",
                format!("{constraint}: overlaps an existing commitment"),
            )
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            ApiError::invalid(constraint, "refers to something that does not exist")
        } else if *code == SqlState::CHECK_VIOLATION && constraint == "odometer_never_decreases" {
            ApiError::invalid("odometer_km", db.message())
        } else if *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE
            || *code == SqlState::DATETIME_FIELD_OVERFLOW
        {
            // No constraint names these; PostgreSQL's own words ("timestamp out of range")
            // say which kind of value was too large, and reveal nothing internal.
            ApiError::invalid(db.constraint().unwrap_or("value"), db.message())
        } else if *code == SqlState::CHECK_VIOLATION || *code == SqlState::NOT_NULL_VIOLATION {
            ApiError::invalid(constraint, "value not allowed")
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE
        {
            ApiError::conflict(
                "concurrent_update",
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
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "request_id": current_request_id().unwrap_or_default(),
            }
        });
        (self.status, Json(body)).into_response()
    }
}
