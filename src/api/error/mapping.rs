//! The shared rules' own errors as answers: the one place they meet the envelope.

use super::{ApiError, ErrorCode};
use crate::api::rules::cas::CasError;
use crate::api::rules::commitments::CommitmentError;
use crate::dispatch::jobs::TransitionError;
use crate::ledger::LedgerError;

impl From<CommitmentError> for ApiError {
    fn from(e: CommitmentError) -> Self {
        let message = e.to_string();
        match e {
            CommitmentError::Database(e) => e.into(),
            CommitmentError::NoSuchVehicle => ApiError::invalid("vehicle_id", message),
            CommitmentError::Decommissioned(_) => {
                ApiError::new(ErrorCode::VehicleDecommissioned, message)
            }
            CommitmentError::Overlap { conflict, .. } => {
                let error = ApiError::new(ErrorCode::Overlap, message);
                match conflict {
                    Some(c) => error.with_detail(
                        "conflict",
                        serde_json::to_value(c).expect("a conflict serializes"),
                    ),
                    None => error,
                }
            }
            CommitmentError::WindowEnded { .. } => ApiError::new(ErrorCode::WindowEnded, message),
            CommitmentError::Overdue { .. } => ApiError::new(ErrorCode::VehicleOverdue, message),
            CommitmentError::StillCommitted { .. } => {
                ApiError::new(ErrorCode::VehicleCommitted, message)
            }
            CommitmentError::Missing { .. } => ApiError::internal(message),
        }
    }
}

impl From<CasError> for ApiError {
    fn from(e: CasError) -> Self {
        match e {
            CasError::Database(e) => e.into(),
            CasError::NotFound(what) => ApiError::not_found(what),
            e @ CasError::Illegal { .. } => {
                ApiError::new(ErrorCode::IllegalTransition, e.to_string())
            }
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Database(e) => e.into(),
            e @ LedgerError::Overflow => ApiError::invalid("amount", e),
            e @ (LedgerError::Unbalanced(_) | LedgerError::NoSuchEntry(_)) => ApiError::internal(e),
        }
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::NotFound => ApiError::not_found("job"),
            e @ TransitionError::Illegal { .. } => {
                ApiError::new(ErrorCode::IllegalTransition, e.to_string())
            }
            TransitionError::Db(e) => e.into(),
            TransitionError::Pool(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn rules_keep_their_codes_and_messages() {
        let id = Uuid::nil();
        let e: ApiError = CommitmentError::Overlap {
            message: "vehicle v is already committed to rental x in that window".into(),
            conflict: Some(crate::api::rules::commitments::Conflict {
                kind: "rental".into(),
                id,
            }),
        }
        .into();
        assert_eq!(e.code, ErrorCode::Overlap);
        assert_eq!(e.details["conflict"]["kind"], "rental");
        let e: ApiError = CommitmentError::NoSuchVehicle.into();
        assert_eq!(e.message, "vehicle_id: no such vehicle");
        let e: ApiError = CommitmentError::Decommissioned("v".into()).into();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                ErrorCode::VehicleDecommissioned,
                "vehicle v is decommissioned"
            )
        );
        let e: ApiError = CasError::Illegal {
            what: "rental",
            status: "completed".into(),
            to: "active".into(),
        }
        .into();
        assert_eq!(e.message, "rental is completed; cannot become active");
        let e: ApiError = CasError::NotFound("rental").into();
        assert_eq!(e.status, 404);
        let e: ApiError = TransitionError::NotFound.into();
        assert_eq!(e.code, ErrorCode::NotFound);
    }
}
