//! Rentals: [`plans`] (pricing plans), [`pricing`] (the pure quote), [`quote`] (the quote
//! route), [`booking`] (reserve, read, list), [`ends`] (origin and destination locations, the
//! one-way rule), [`flow`] (activate, complete, cancel, payments), [`ledger`] (charges and
//! payments), [`availability`] (vehicles free for a window, optionally parked at a location)
//! and [`no_show`] (reservations never collected).

pub mod availability;
pub mod booking;
pub mod ends;
pub mod flow;
pub mod ledger;
pub mod no_show;
pub mod plans;
pub mod pricing;
pub mod quote;

use crate::api::routes::Routes;

/// Pricing plans, bookings, the rental flow, then availability.
pub fn routes(r: Routes) -> Routes {
    let r = booking::routes(quote::routes(plans::routes(r)));
    availability::routes(flow::routes(r))
}
