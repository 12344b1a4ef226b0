//! Rentals: [`plans`] (pricing plans), [`pricing`] (the pure quote), [`quote`] (the quote
//! route), [`booking`] (reserve, read, list), [`ends`] (origin and destination locations, the
//! one-way rule), [`flow`] (activate, complete, cancel), [`payments`] (record, capture, fail),
//! [`refunds`], [`ledger`] (charges, payments and refunds as the API shows them),
//! [`availability`] (vehicles free for a window, optionally parked at a location) and
//! [`no_show`] (reservations never collected).

pub mod availability;
pub mod booking;
pub mod ends;
pub mod flow;
pub mod ledger;
pub mod no_show;
pub mod payments;
pub mod plans;
pub mod pricing;
pub mod quote;
pub mod refunds;

use crate::api::routes::Routes;

/// Pricing plans, bookings, the rental flow, payments and refunds, then availability.
pub fn routes(r: Routes) -> Routes {
    let r = flow::routes(booking::routes(quote::routes(plans::routes(r))));
    availability::routes(refunds::routes(payments::routes(r)))
}
