//! Rules several domains share: [`commitments`] (a vehicle is booked by at most one
//! assignment, rental or maintenance job at a time: the exclusion constraint's 409) and
//! [`cas`] (compare-and-set status transitions).

pub mod cas;
pub mod commitments;
