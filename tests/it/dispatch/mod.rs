//! Dispatch: jobs and matching over HTTP, live positions, the event stream, contention, and
//! the matcher on virtual time.

mod budget;
mod concurrency;
mod job_requests;
mod jobs;
mod live;
mod matcher;
mod stream;
