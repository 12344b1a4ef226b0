//! Rentals: [`pricing`] (plans and the pure quote), [`booking`] (quote, reserve, read, list),
//! [`flow`] (activate, complete, cancel, payments), [`ledger`] (charges and payments) and
//! [`availability`] (vehicles free for a window).

pub mod availability;
pub mod booking;
pub mod flow;
pub mod ledger;
pub mod pricing;

use crate::api::routes::Routes;

/// Pricing plans, bookings, the rental flow, then availability.
pub fn routes(r: Routes) -> Routes {
    availability::routes(flow::routes(booking::routes(pricing::routes(r))))
}
