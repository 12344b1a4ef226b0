//! Rules several domains share: [`commitments`] (a vehicle is booked by at most one
//! assignment, rental or maintenance job at a time: the exclusion constraint's 409) and
//! [`cas`] (compare-and-set status transitions) and [`seats`] (drivers leave a vehicle when
//! their shift ends or their licence expires).

pub mod cas;
pub mod commitments;
pub mod seats;
