//! [`Point`]: a WGS84 position, and its place on the unit sphere.

use crate::live::geo;

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    pub fn new(lat: f64, lon: f64) -> Point {
        Point { lat, lon }
    }

    /// The point on the unit sphere (see [`geo::unit_vector`]).
    pub fn xyz(self) -> [f64; 3] {
        geo::unit_vector(self.lat, self.lon)
    }
}
