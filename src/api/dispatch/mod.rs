//! Dispatch over HTTP: [`jobs`] (dispatch jobs), [`job_flow`] (their transitions) and
//! [`positions`] (live position, nearest drivers, stored track). The push stream of jobs,
//! positions and events is [`crate::api::stream`].

pub mod job_flow;
pub mod jobs;
pub mod positions;

use crate::api::routes::Routes;

/// Positions, jobs and their transitions.
pub fn routes(r: Routes) -> Routes {
    job_flow::routes(jobs::routes(positions::routes(r)))
}
