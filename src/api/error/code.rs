//! Every error code fleetd answers with, each with its one HTTP status. The table in
//! `docs/http.md` lists them; `GET /openapi.json` lists the ones each status can carry.

use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;

/// The `code` of an error envelope: a stable snake_case string that programs act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not valid JSON (syntax, trailing bytes), or the body or query string
    /// cannot be read.
    MalformedRequest,
    /// 401: no `Authorization` header.
    MissingToken,
    /// 401: the header is not `Bearer <token>`, or the token is malformed, not HS256, or its
    /// signature does not match.
    InvalidToken,
    /// 401: the token's `exp` has passed.
    TokenExpired,
    /// 401: the token was revoked: its user logged out, was disabled or deleted, or had
    /// their role or password changed since it was issued.
    TokenRevoked,
    /// 401: `POST /v1/auth/token` with a wrong username or password.
    InvalidCredentials,
    /// 403: the caller's role may not call this route.
    Forbidden,
    /// 404: no such resource, or one the caller may not see; also an unknown route.
    NotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 409: a unique constraint refused the write.
    AlreadyExists,
    /// 409: the booking overlaps another commitment of the vehicle (or of the driver).
    Overlap,
    /// 409: the resource's current state does not allow this transition.
    IllegalTransition,
    /// 409: deleting or decommissioning a vehicle that is still booked.
    VehicleCommitted,
    /// 409: booking, assigning or taking a decommissioned vehicle.
    VehicleDecommissioned,
    /// 409: decommissioning or deleting a vehicle a driver has as their current vehicle.
    VehicleInUse,
    /// 409: a driver takes a vehicle with no assignment covering now.
    VehicleNotAssigned,
    /// 409: setting a vehicle back to `active` by hand while a maintenance job is in progress.
    MaintenanceInProgress,
    /// 409: activating a rental or starting a maintenance job after its window ended.
    WindowEnded,
    /// 409: reserving or assigning a vehicle that is out (rented or under maintenance) past
    /// everything it is booked for: nobody knows when it will be back.
    VehicleOverdue,
    /// 409: accepting a dispatch offer after it expired.
    OfferExpired,
    /// 409: another request with the same `Idempotency-Key` is still running.
    IdempotencyInProgress,
    /// 409: a concurrent request changed the same data (serialization failure, deadlock, lock
    /// timeout); retry.
    ConcurrentUpdate,
    /// 409: the change would leave no active admin.
    LastAdmin,
    /// 409: the customer has `dispatch.max_open_jobs_per_customer` unfinished jobs already.
    OpenJobsLimit,
    /// 409: deleting a location that rentals start or end at.
    LocationInUse,
    /// 409: capturing the payment would pay more than the rental's balance now is
    /// (overpayment is refused, never kept as credit).
    Overpayment,
    /// 409: the refund would take the payment's refunds beyond what was captured.
    RefundExceedsCaptured,
    /// 409: issuing an invoice for a rental whose charges are all on an invoice already.
    NothingToInvoice,
    /// 409: the entry would be posted into a closed period of the ledger (a month at or
    /// before the latest closed one); corrections go into the open period.
    PeriodClosed,
    /// 409: closing a month of the ledger that has not ended yet.
    PeriodNotEnded,
    /// 409: reversing a journal entry that has been reversed already.
    AlreadyReversed,
    /// 413: the body is larger than `http.max_body_bytes`.
    PayloadTooLarge,
    /// 422: a value is well-formed but not allowed; the message starts with the field.
    InvalidValue,
    /// 422: the `Idempotency-Key` was used before for a different request.
    IdempotencyKeyReused,
    /// 429: over the rate limit; `Retry-After` says how long to wait.
    RateLimited,
    /// 500: a bug; the details go to the log, never to the client.
    Internal,
    /// 503: PostgreSQL is unreachable, the API is disabled, or (from `/readyz`) not ready.
    Unavailable,
    /// 503: the broker's account administration is not configured (`broker.admin_username`)
    /// or did not answer within `broker.timeout_ms`; nothing was changed in fleetd.
    BrokerUnavailable,
}

impl ErrorCode {
    /// Every code, in the order of the documentation.
    pub const ALL: [ErrorCode; 38] = [
        ErrorCode::MalformedRequest,
        ErrorCode::MissingToken,
        ErrorCode::InvalidToken,
        ErrorCode::TokenExpired,
        ErrorCode::TokenRevoked,
        ErrorCode::InvalidCredentials,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::AlreadyExists,
        ErrorCode::Overlap,
        ErrorCode::IllegalTransition,
        ErrorCode::VehicleCommitted,
        ErrorCode::VehicleDecommissioned,
        ErrorCode::VehicleInUse,
        ErrorCode::VehicleNotAssigned,
        ErrorCode::MaintenanceInProgress,
        ErrorCode::WindowEnded,
        ErrorCode::VehicleOverdue,
        ErrorCode::OfferExpired,
        ErrorCode::IdempotencyInProgress,
        ErrorCode::ConcurrentUpdate,
        ErrorCode::LastAdmin,
        ErrorCode::OpenJobsLimit,
        ErrorCode::LocationInUse,
        ErrorCode::Overpayment,
        ErrorCode::RefundExceedsCaptured,
        ErrorCode::NothingToInvoice,
        ErrorCode::PeriodClosed,
        ErrorCode::PeriodNotEnded,
        ErrorCode::AlreadyReversed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidValue,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::BrokerUnavailable,
    ];

    /// The HTTP status this code is always sent with.
    pub const fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            MalformedRequest => StatusCode::BAD_REQUEST,
            MissingToken | InvalidToken | TokenExpired | TokenRevoked | InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AlreadyExists
            | Overlap
            | IllegalTransition
            | VehicleCommitted
            | VehicleDecommissioned
            | VehicleInUse
            | VehicleNotAssigned
            | MaintenanceInProgress
            | WindowEnded
            | VehicleOverdue
            | OfferExpired
            | IdempotencyInProgress
            | ConcurrentUpdate
            | LastAdmin
            | OpenJobsLimit
            | LocationInUse
            | Overpayment
            | RefundExceedsCaptured
            | NothingToInvoice => StatusCode::CONFLICT,
            PeriodClosed | PeriodNotEnded | AlreadyReversed => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            InvalidValue | IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable | BrokerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code as sent (`"invalid_value"`).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MalformedRequest => "malformed_request",
            MissingToken => "missing_token",
            InvalidToken => "invalid_token",
            TokenExpired => "token_expired",
            TokenRevoked => "token_revoked",
            InvalidCredentials => "invalid_credentials",
            Forbidden => "forbidden",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            AlreadyExists => "already_exists",
            Overlap => "overlap",
            IllegalTransition => "illegal_transition",
            VehicleCommitted => "vehicle_committed",
            VehicleDecommissioned => "vehicle_decommissioned",
            VehicleInUse => "vehicle_in_use",
            VehicleNotAssigned => "vehicle_not_assigned",
            MaintenanceInProgress => "maintenance_in_progress",
            WindowEnded => "window_ended",
            VehicleOverdue => "vehicle_overdue",
            OfferExpired => "offer_expired",
            IdempotencyInProgress => "idempotency_in_progress",
            ConcurrentUpdate => "concurrent_update",
            LastAdmin => "last_admin",
            OpenJobsLimit => "open_jobs_limit",
            LocationInUse => "location_in_use",
            PayloadTooLarge => "payload_too_large",
            InvalidValue => "invalid_value",
            IdempotencyKeyReused => "idempotency_key_reused",
            Overpayment => "overpayment",
            RefundExceedsCaptured => "refund_exceeds_captured",
            NothingToInvoice => "nothing_to_invoice",
            PeriodClosed => "period_closed",
            PeriodNotEnded => "period_not_ended",
            AlreadyReversed => "already_reversed",
            RateLimited => "rate_limited",
            Internal => "internal",
            Unavailable => "unavailable",
            BrokerUnavailable => "broker_unavailable",
        }
    }

    /// The codes sent with `status`, in documentation order.
    pub fn with_status(status: u16) -> impl Iterator<Item = ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .filter(move |c| c.status().as_u16() == status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_name_is_serdes_and_every_code_is_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
            assert!(seen.insert(code), "{code:?} listed twice");
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn the_documentation_lists_every_code_with_its_status() {
        let doc = include_str!("../../../docs/http.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.status().as_u16());
            assert!(doc.contains(&row), "docs/http.md lacks the row {row}");
        }
    }
}
