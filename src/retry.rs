//! What to do after a database error: a pure function over the SQLSTATE, so the policy is
//! tested without a database (vector's `is_retriable_error` does the same for its sinks).

use std::time::Duration;

use tokio_postgres::error::SqlState;

/// The writer's next step after a failed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The batch holds a `(vehicle_id, ts)` already stored: write it again through a staging
    /// table with `ON CONFLICT DO NOTHING`, at once.
    Deduplicate,
    /// A row fell outside every partition: create the partitions and write again, at once.
    CreatePartitions,
    /// The database or the network is briefly unavailable: wait and write the same batch again.
    Backoff,
    /// The database refuses the data itself: split the batch to find the row and reject it.
    Isolate,
}

/// Classifies an error by SQLSTATE (`None` for I/O, closed connections and pool time-outs).
pub fn classify(code: Option<&SqlState>, message: &str) -> Action {
    let Some(code) = code else {
        return Action::Backoff;
    };
    if *code == SqlState::UNIQUE_VIOLATION {
        return Action::Deduplicate;
    }
    if *code == SqlState::CHECK_VIOLATION && message.contains("no partition of relation") {
        return Action::CreatePartitions;
    }
    match &code.code()[..2] {
        // connection exception, transaction rollback (serialization, deadlock), insufficient
        // resources (disk full, too many connections), operator intervention (shutdown,
        // cannot connect now), system error (I/O), internal error.
        "08" | "40" | "53" | "57" | "58" | "XX" => Action::Backoff,
        // An object missing or locked: a concurrent DDL (e.g. a partition being dropped)
        // or a migration not yet applied by another daemon; both clear up.
        "42" if *code == SqlState::UNDEFINED_TABLE => Action::Backoff,
        "55" => Action::Backoff,
        _ => Action::Isolate,
    }
}

/// Exponential backoff: `min`, `2·min`, … capped at `max`, with up to 25% jitter so that
/// several writers do not retry in lockstep.
pub fn backoff(attempt: u32, min: Duration, max: Duration, jitter: f64) -> Duration {
    let base = min.saturating_mul(1u32 << attempt.min(20)).min(max);
    base.mul_f64(1.0 + 0.25 * jitter.clamp(0.0, 1.0)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let c = |s: &SqlState| classify(Some(s), "");
        assert_eq!(c(&SqlState::UNIQUE_VIOLATION), Action::Deduplicate);
        assert_eq!(
            classify(
                Some(&SqlState::CHECK_VIOLATION),
                "no partition of relation \"gps_readings\" found for row"
            ),
            Action::CreatePartitions
        );
        assert_eq!(c(&SqlState::CHECK_VIOLATION), Action::Isolate);
        assert_eq!(classify(None, "connection closed"), Action::Backoff);
        for s in [
            SqlState::CONNECTION_FAILURE,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::DISK_FULL,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::UNDEFINED_TABLE,
            SqlState::IO_ERROR,
        ] {
            assert_eq!(c(&s), Action::Backoff, "{s:?}");
        }
        for s in [
            SqlState::INVALID_TEXT_REPRESENTATION,
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            SqlState::NOT_NULL_VIOLATION,
            SqlState::CHARACTER_NOT_IN_REPERTOIRE,
            SqlState::INVALID_BINARY_REPRESENTATION,
        ] {
            assert_eq!(c(&s), Action::Isolate, "{s:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(backoff(0, min, max, 0.0), min);
        assert_eq!(backoff(1, min, max, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(3, min, max, 0.0), Duration::from_millis(800));
        assert_eq!(backoff(10, min, max, 0.0), max);
        assert_eq!(backoff(u32::MAX, min, max, 1.0), max);
        assert_eq!(backoff(0, min, max, 1.0), Duration::from_millis(125));
    }
}
