//! The people around the vehicles: [`users`] (accounts and roles), [`drivers`] (profiles, duty, the vehicle at the wheel),
//! [`assignments`] (a driver on a vehicle for a period) and [`customers`] (who rents).

pub mod assignments;
pub mod customers;
pub mod drivers;
pub mod users;

use crate::api::routes::Routes;

/// Users, drivers, assignments, then customers.
pub fn routes(r: Routes) -> Routes {
    customers::routes(assignments::routes(drivers::routes(users::routes(r))))
}
