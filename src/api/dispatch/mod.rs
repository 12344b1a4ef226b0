//! Dispatch over HTTP: [`jobs`] (dispatch jobs and their transitions), [`positions`] (live
//! position, nearest drivers, stored track) and [`stream`] (Server-Sent Events).

pub mod jobs;
pub mod positions;
pub mod stream;

use crate::api::routes::Routes;

/// Positions, jobs, then the stream.
pub fn routes(r: Routes) -> Routes {
    stream::routes(jobs::routes(positions::routes(r)))
}
