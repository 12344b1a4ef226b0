//! Alert rules and alerts (docs/alerts.md): what to watch and for whom ([`params`],
//! [`scope`], [`rules`]), the alerts' life with its events ([`store`], [`model`]), and the
//! timer of the time-based rules ([`timer`] over [`conditions`]). The HTTP side is
//! `api::alerts`. The reading-based kinds (speeding, dtc, fuel, overheat, geofence) are
//! judged reading by reading by [`readings`] and raised by [`stream`] in the trip
//! segmenter's pass, through [`store::raise`] and [`store::clear`]. [`gauges`] counts the
//! unresolved alerts for `/metrics`.

pub mod conditions;
pub mod error;
pub mod gauges;
pub mod model;
pub mod params;
pub mod readings;
pub mod rules;
pub mod scope;
pub mod store;
pub mod stream;
pub mod timer;

pub use error::{AlertError, InvalidRule};
pub use model::{Alert, AlertStatus, Resolution, Subject};
pub use params::{Params, RuleKind, SubjectType};
pub use rules::Rule;
pub use scope::Scope;
pub use store::Raised;
pub use timer::AlertTimer;
