//! Maintenance: [`jobs`] (schedule, read, list, overdue) and [`flow`] (start, complete with
//! parts and costs, cancel); preventive [`schedules`] (every N km and/or months, for a
//! vehicle or a type) and what is [`due`] of them.

pub mod due;
pub mod flow;
pub mod jobs;
pub mod schedules;

use crate::api::routes::Routes;

/// Jobs, then their flow, then the preventive schedules and what is due.
pub fn routes(r: Routes) -> Routes {
    due::routes(schedules::routes(flow::routes(jobs::routes(r))))
}
