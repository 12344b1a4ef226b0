//! The limits a shape is validated against and the tolerances of its predicates.

/// At most this many positions in a shape, every ring's closing position included.
pub const MAX_VERTICES: usize = 10_000;
/// The smallest circle radius, in metres.
pub const MIN_RADIUS_M: f64 = 1.0;
/// The largest circle radius, in metres.
pub const MAX_RADIUS_M: f64 = 1_000_000.0;
/// A point this close to the boundary (metres) counts as on it, hence inside.
pub const BOUNDARY_M: f64 = 0.001;
/// Two vertices closer than this are the same, and edges closer than this touch (metres).
pub const TOUCH_M: f64 = 0.001;
