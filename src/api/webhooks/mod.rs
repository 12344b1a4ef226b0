//! `/v1/webhooks` (admin): [`subscriptions`] (which URL gets which events, with what
//! secret) and [`deliveries`] (what became of each event, dead letters, replay). The
//! delivery itself is [`crate::webhooks`]' work.

pub mod deliveries;
pub mod subscriptions;

use crate::api::routes::Routes;

/// Subscriptions, then their deliveries.
pub fn routes(r: Routes) -> Routes {
    deliveries::routes(subscriptions::routes(r))
}
