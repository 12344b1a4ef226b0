//! Alert rules and alerts (docs/alerts.md): what to watch and for whom ([`params`],
//! [`scope`], [`rules`]), the alerts' life with its events ([`store`], [`model`]), and the
//! timer of the time-based rules ([`timer`] over [`conditions`]). The HTTP side is
//! `api::alerts`; the reading-based kinds (speeding, dtc, fuel, overheat, geofence) are
//! raised through [`store::raise`] and [`store::clear`] by the telemetry evaluator.

pub mod conditions;
pub mod error;
pub mod model;
pub mod params;
pub mod rules;
pub mod scope;
pub mod store;
pub mod timer;

pub use error::{AlertError, InvalidRule};
pub use model::{Alert, AlertStatus, Resolution, Subject};
pub use params::{Params, RuleKind, SubjectType};
pub use rules::Rule;
pub use scope::Scope;
pub use store::Raised;
pub use timer::AlertTimer;
