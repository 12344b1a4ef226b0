//! Preventive maintenance: when a schedule ("every N km and/or every N months", for a vehicle
//! or a vehicle type) falls due for each vehicle it applies to. Depends on nothing else of
//! fleetd but the database, so the API and a time-based alert rule share it.
//!
//! # Layout
//! - [`due`]: the rule, pure: [`due::baseline`] (where counting starts and the odometer
//!   then) and [`due::due_state`] (due km and date, what remains, `ok`/`due`/`overdue`).
//! - [`list`]: [`list::due_list`], every (schedule, vehicle) pair with its state from one
//!   query (`due.sql`), most urgent first; the integration tests hold it to [`due`].

pub mod due;
pub mod list;

pub use due::{due_state, DueState, DueStatus};
pub use list::{due_list, DueFilter, DueItem, DueKey};
