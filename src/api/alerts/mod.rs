//! `/v1/alert-rules` and `/v1/alerts` (staff): [`model`] (the bodies and their schemas),
//! [`rules`] (rules' create, list, read, change, delete) and [`flow`] (alerts' list, read,
//! acknowledge, resolve). The rules' checks and the alerts' life are [`crate::alerts`]'.

pub mod flow;
pub mod model;
pub mod rules;

use crate::api::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    flow::routes(rules::routes(r))
}
