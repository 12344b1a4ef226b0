//! Preventive maintenance: `/v1/maintenance-schedules` and `GET /v1/maintenance/due` against a
//! real daemon on a manual clock, and the due list's SQL against the reference rule on random
//! fleets.

mod due;
mod reference;
mod schedules;
