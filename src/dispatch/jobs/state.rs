//! The job state machine, pure: states, actions, the transitions they allow, and the reason
//! each event records.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Offered,
    Assigned,
    PickedUp,
    Completed,
    Cancelled,
    Unassigned,
}

pub const STATES: &[JobState] = &[
    JobState::Pending,
    JobState::Offered,
    JobState::Assigned,
    JobState::PickedUp,
    JobState::Completed,
    JobState::Cancelled,
    JobState::Unassigned,
];

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Offered => "offered",
            JobState::Assigned => "assigned",
            JobState::PickedUp => "picked_up",
            JobState::Completed => "completed",
            JobState::Cancelled => "cancelled",
            JobState::Unassigned => "unassigned",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        STATES.iter().copied().find(|st| st.as_str() == s)
    }

    /// Held by a driver: counts against "at most one open job".
    pub fn is_open(self) -> bool {
        matches!(
            self,
            JobState::Offered | JobState::Assigned | JobState::PickedUp
        )
    }
}

/// What happens to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Offer,
    Accept,
    Decline,
    Expire,
    /// A matching round found no candidate; the job waits for its next round.
    NoCandidate,
    GiveUp,
    PickUp,
    Complete,
    Cancel,
}

impl Action {
    /// The event's `reason`.
    pub fn reason(self) -> EventReason {
        match self {
            Action::Offer => EventReason::Offered,
            Action::Accept => EventReason::Accepted,
            Action::Decline => EventReason::Declined,
            Action::Expire => EventReason::OfferExpired,
            Action::NoCandidate => EventReason::NoCandidate,
            Action::GiveUp => EventReason::GaveUp,
            Action::PickUp => EventReason::PickedUp,
            Action::Complete => EventReason::Completed,
            Action::Cancel => EventReason::Cancelled,
        }
    }
}

crate::text_enum! {
    /// Why a job event happened: `created`, or the action that moved the job.
    pub enum EventReason {
        Created => "created",
        Offered => "offered",
        Accepted => "accepted",
        Declined => "declined",
        OfferExpired => "offer_expired",
        NoCandidate => "no_candidate",
        GaveUp => "gave_up",
        PickedUp => "picked_up",
        Completed => "completed",
        Cancelled => "cancelled",
    }
}

/// The state `action` leads to from `from`, or `None` when it is illegal (409).
pub fn next(from: JobState, action: Action) -> Option<JobState> {
    use Action::*;
    use JobState::*;
    match (from, action) {
        (Pending, Offer) => Some(Offered),
        (Pending, NoCandidate) => Some(Pending),
        (Pending, GiveUp) => Some(Unassigned),
        (Offered, Accept) => Some(Assigned),
        (Offered, Decline | Expire) => Some(Pending),
        (Assigned, PickUp) => Some(PickedUp),
        (PickedUp, Complete) => Some(Completed),
        (Pending | Offered | Assigned, Cancel) => Some(Cancelled),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIONS: &[Action] = &[
        Action::Offer,
        Action::Accept,
        Action::Decline,
        Action::Expire,
        Action::NoCandidate,
        Action::GiveUp,
        Action::PickUp,
        Action::Complete,
        Action::Cancel,
    ];

    #[test]
    fn the_state_machine_allows_exactly_the_documented_transitions() {
        use JobState::*;
        let allowed: Vec<(JobState, Action, JobState)> = vec![
            (Pending, Action::Offer, Offered),
            (Pending, Action::NoCandidate, Pending),
            (Pending, Action::GiveUp, Unassigned),
            (Pending, Action::Cancel, Cancelled),
            (Offered, Action::Accept, Assigned),
            (Offered, Action::Decline, Pending),
            (Offered, Action::Expire, Pending),
            (Offered, Action::Cancel, Cancelled),
            (Assigned, Action::PickUp, PickedUp),
            (Assigned, Action::Cancel, Cancelled),
            (PickedUp, Action::Complete, Completed),
        ];
        for &s in STATES {
            for &a in ACTIONS {
                let expected = allowed
                    .iter()
                    .find(|(f, act, _)| *f == s && *act == a)
                    .map(|t| t.2);
                assert_eq!(next(s, a), expected, "{s:?} {a:?}");
            }
        }
        for final_state in [Completed, Cancelled, Unassigned] {
            assert!(ACTIONS.iter().all(|&a| next(final_state, a).is_none()));
        }
    }

    #[test]
    fn every_action_records_its_own_reason() {
        for &a in ACTIONS {
            let r = a.reason();
            assert_eq!(EventReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn states_round_trip_and_open_states_are_the_claimed_ones() {
        for &s in STATES {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(JobState::parse("Pending"), None);
        let open: Vec<_> = STATES.iter().filter(|s| s.is_open()).collect();
        assert_eq!(
            open,
            [&JobState::Offered, &JobState::Assigned, &JobState::PickedUp]
        );
    }
}
