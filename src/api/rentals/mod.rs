//! Rentals: [`plans`] (pricing plans), [`pricing`] (the pure quote), [`booking`] (quote, reserve, read, list),
//! [`flow`] (activate, complete, cancel, payments), [`ledger`] (charges and payments),
//! [`availability`] (vehicles free for a window) and [`no_show`] (reservations never collected).

pub mod availability;
pub mod booking;
pub mod flow;
pub mod ledger;
pub mod no_show;
pub mod plans;
pub mod pricing;

use crate::api::routes::Routes;

/// Pricing plans, bookings, the rental flow, then availability.
pub fn routes(r: Routes) -> Routes {
    availability::routes(flow::routes(booking::routes(plans::routes(r))))
}
