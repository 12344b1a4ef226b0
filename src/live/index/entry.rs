//! What the index stores per vehicle: its [`Record`] in the slot table and its loose
//! [`TreeBox`] in the R-tree (see "Loose boxes" in the parent module).

use rstar::{PointDistance, RTreeObject, AABB};

use super::Position;
use crate::live::geo;

/// How far (metres, per axis) a vehicle may move before its R-tree entry is moved.
///
/// Larger: more updates skip the tree, but cubes overlap more and a query examines a few more
/// candidates. 50 m is several readings of city driving at 1 Hz, and well under the distances
/// dispatch asks about.
pub const LOOSE_M: f64 = 50.0;

/// An R-tree leaf: a cube on the unit sphere around the vehicle's anchor, and its slot number.
///
/// `f32` coordinates halve the tree's size; their rounding (≈ 0.4 m on the Earth's surface)
/// never reaches a result, because [`LiveIndex::nearest`] ranks by exact haversine of the
/// stored `f64` lat/lon and widens the tree search by `CHORD_SLACK` to cover it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TreeBox {
    min: [f32; 3],
    max: [f32; 3],
    pub(crate) slot: u32,
}

impl TreeBox {
    /// The cube around an anchor. Deterministic, so a record's anchor always gives back the
    /// exact entry to remove.
    pub(super) fn around(slot: u32, anchor: [f32; 3]) -> Self {
        let pad = geo::chord_for_distance(LOOSE_M) as f32;
        TreeBox {
            min: anchor.map(|c| c - pad),
            max: anchor.map(|c| c + pad),
            slot,
        }
    }

    pub(super) fn contains(&self, p: &[f32; 3]) -> bool {
        (0..3).all(|i| self.min[i] <= p[i] && p[i] <= self.max[i])
    }
}

/// How far (in unit-sphere chord) an `f32` tree distance may be from the exact one: points are
/// rounded by at most ~1e-7 each, plus the arithmetic. 1e-6 (≈ 6 m) is ample.
pub(crate) const CHORD_SLACK: f64 = 1e-6;

impl RTreeObject for TreeBox {
    type Envelope = AABB<[f32; 3]>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners(self.min, self.max)
    }
}

impl PointDistance for TreeBox {
    /// The squared distance to the cube: never more than to the vehicle inside it.
    fn distance_2(&self, p: &[f32; 3]) -> f32 {
        self.envelope().distance_2(p)
    }
}

/// The unit-sphere point of a position, in `f32`.
pub(crate) fn tree_xyz(lat: f64, lon: f64) -> [f32; 3] {
    let [x, y, z] = geo::unit_vector(lat, lon);
    [x as f32, y as f32, z as f32]
}

/// One vehicle's record in the slot table. Missing speed or heading is stored as NaN
/// (8 bytes saved against `Option<f32>` twice). The anchor is kept as `f32` lat/lon (8 bytes
/// rather than 12 for the point); the cube is recomputed from it. The id is a `Box<str>`, not
/// an `Arc<str>`: no reference counts on the heap (16 bytes a vehicle), at the price of
/// copying the id into each returned [`super::Hit`] (which the HTTP answer needed anyway).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) id: Box<str>,
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    pub(crate) ts: i64,
    speed_kmh: f32,
    heading_deg: f32,
    anchor: [f32; 2],
}

impl Record {
    /// A new vehicle's record, anchored where it is.
    pub(super) fn new(id: Box<str>, p: Position) -> Self {
        let mut r = Record {
            id,
            lat: 0.0,
            lon: 0.0,
            ts: 0,
            speed_kmh: f32::NAN,
            heading_deg: f32::NAN,
            anchor: [0.0; 2],
        };
        r.set(p);
        r.reanchor();
        r
    }

    /// Replaces the position; the anchor stays.
    pub(super) fn set(&mut self, p: Position) {
        self.lat = p.lat;
        self.lon = p.lon;
        self.ts = p.ts;
        self.speed_kmh = p.speed_kmh.unwrap_or(f32::NAN);
        self.heading_deg = p.heading_deg.unwrap_or(f32::NAN);
    }

    /// Moves the anchor (and so the tree cube) to the current position.
    pub(super) fn reanchor(&mut self) {
        self.anchor = [self.lat as f32, self.lon as f32];
    }

    /// The record's R-tree entry.
    pub(super) fn tree_box(&self, slot: u32) -> TreeBox {
        let [lat, lon] = self.anchor;
        TreeBox::around(slot, tree_xyz(f64::from(lat), f64::from(lon)))
    }

    pub(crate) fn position(&self) -> Position {
        let opt = |v: f32| (!v.is_nan()).then_some(v);
        Position {
            lat: self.lat,
            lon: self.lon,
            ts: self.ts,
            speed_kmh: opt(self.speed_kmh),
            heading_deg: opt(self.heading_deg),
        }
    }
}
