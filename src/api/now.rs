//! [`Now`]: the request's time, read once from the application's clock.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::state::AppState;

/// The application clock ([`AppState::clock`]) read once for the request, as PostgreSQL's
/// `now()` is once per transaction. Rules compare against it and pass it to SQL as a
/// parameter, so one request never sees two times and tests can move time.
#[derive(Debug, Clone, Copy)]
pub struct Now(pub DateTime<Utc>);

impl FromRequestParts<Arc<AppState>> for Now {
    type Rejection = Infallible;

    async fn from_request_parts(_: &mut Parts, state: &Arc<AppState>) -> Result<Now, Infallible> {
        Ok(Now(state.clock.now()))
    }
}
