//! Maintenance: [`jobs`] (schedule, read, list, overdue) and [`flow`] (start, complete with
//! parts and costs, cancel).

pub mod flow;
pub mod jobs;

use crate::api::routes::Routes;

/// Jobs, then their flow.
pub fn routes(r: Routes) -> Routes {
    flow::routes(jobs::routes(r))
}
