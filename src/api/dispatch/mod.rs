//! Dispatch over HTTP: [`jobs`] (dispatch jobs), [`job_flow`] (their transitions), [`positions`] (live
//! position, nearest drivers, stored track) and [`stream`] (Server-Sent Events).

pub mod job_flow;
pub mod jobs;
pub mod positions;
pub mod stream;

use crate::api::routes::Routes;

/// Positions, jobs and their transitions, then the stream.
pub fn routes(r: Routes) -> Routes {
    stream::routes(job_flow::routes(jobs::routes(positions::routes(r))))
}
