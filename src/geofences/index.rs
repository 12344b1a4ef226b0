//! [`FenceIndex`]: every fence, by id and in an R-tree of its bounds on the unit sphere, and
//! the hysteresis rule that decides which fences a vehicle is inside after a reading.
//!
//! A fence's tree box is its shape's [`Shape::bounds`] grown by its hysteresis, so it holds
//! every point where the vehicle could be inside the fence after a reading: inside the shape
//! (entering) or within the hysteresis of it (staying). The fences a vehicle was inside are
//! evaluated by id as well, whatever the tree says, so that a box's correctness is never what
//! an exit depends on.

use std::collections::HashMap;
use std::sync::Arc;

use rstar::{RTree, RTreeObject, AABB};
use uuid::Uuid;

use super::point::Point;
use super::selector::{Selector, Subject};
use super::shape::Shape;

/// The largest hysteresis, in metres.
pub const MAX_HYSTERESIS_M: f64 = 100_000.0;

/// Why a fence's engine settings were refused (HTTP 422).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FenceError {
    /// The hysteresis is not a finite number from 0 to [`MAX_HYSTERESIS_M`].
    #[error("hysteresis_m must be a number from 0 to {max}, got {got}", max = MAX_HYSTERESIS_M)]
    Hysteresis { got: f64 },
}

/// A fence as the engine sees it. Whatever else a fence has (name, speed limit) is kept
/// beside it by id.
#[derive(Debug, Clone, PartialEq)]
pub struct Fence {
    pub id: Uuid,
    pub shape: Shape,
    /// A vehicle inside leaves only when farther than this outside the shape (metres).
    pub hysteresis_m: f64,
    /// Inside for at least this many seconds raises one `Dwell` per visit.
    pub dwell_s: Option<u32>,
    /// The vehicles it applies to.
    pub selector: Selector,
}

impl Fence {
    /// A fence without hysteresis or dwell.
    pub fn new(id: Uuid, shape: Shape) -> Fence {
        Fence {
            id,
            shape,
            hysteresis_m: 0.0,
            dwell_s: None,
            selector: Selector::all(),
        }
    }

    /// Sets the hysteresis, checked.
    pub fn with_hysteresis(mut self, hysteresis_m: f64) -> Result<Fence, FenceError> {
        if !(0.0..=MAX_HYSTERESIS_M).contains(&hysteresis_m) {
            return Err(FenceError::Hysteresis { got: hysteresis_m });
        }
        self.hysteresis_m = hysteresis_m;
        Ok(self)
    }

    pub fn with_dwell(mut self, dwell_s: Option<u32>) -> Fence {
        self.dwell_s = dwell_s;
        self
    }

    pub fn with_selector(mut self, selector: Selector) -> Fence {
        self.selector = selector;
        self
    }

    /// Whether a vehicle is inside after a reading at `p`, given whether it was before: a
    /// vehicle inside stays until it is more than the hysteresis outside; one outside enters
    /// when the shape contains the point.
    pub fn inside_after(&self, p: Point, inside_before: bool) -> bool {
        if inside_before {
            self.shape.distance_outside_m(p) <= self.hysteresis_m
        } else {
            self.shape.contains(p)
        }
    }
}

/// An R-tree leaf: a fence and its box (shape bounds grown by the hysteresis).
#[derive(Debug, Clone)]
struct Entry {
    envelope: AABB<[f64; 3]>,
    fence: Arc<Fence>,
}

impl Entry {
    fn new(fence: Arc<Fence>) -> Entry {
        let (min, max) = fence.shape.bounds_expanded(fence.hysteresis_m);
        Entry {
            envelope: AABB::from_corners(min, max),
            fence,
        }
    }
}

/// Same fence (by id and box), as `RTree::remove` needs to find the leaf.
impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.fence.id == other.fence.id && self.envelope == other.envelope
    }
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 3]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// Every fence, by id and by place.
#[derive(Debug, Default)]
pub struct FenceIndex {
    tree: RTree<Entry>,
    by_id: HashMap<Uuid, Entry>,
}

impl FenceIndex {
    pub fn new() -> FenceIndex {
        FenceIndex::default()
    }

    /// An index of these fences, the R-tree bulk-loaded (later duplicates of an id win).
    pub fn load(fences: impl IntoIterator<Item = Arc<Fence>>) -> FenceIndex {
        let by_id: HashMap<Uuid, Entry> =
            fences.into_iter().map(|f| (f.id, Entry::new(f))).collect();
        let tree = RTree::bulk_load(by_id.values().cloned().collect());
        FenceIndex { tree, by_id }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn get(&self, id: Uuid) -> Option<&Arc<Fence>> {
        self.by_id.get(&id).map(|e| &e.fence)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Fence>> {
        self.by_id.values().map(|e| &e.fence)
    }

    /// Adds a fence, or replaces the fence with its id (returned).
    pub fn insert(&mut self, fence: Arc<Fence>) -> Option<Arc<Fence>> {
        let previous = self.remove(fence.id);
        let entry = Entry::new(fence);
        self.tree.insert(entry.clone());
        self.by_id.insert(entry.fence.id, entry);
        previous
    }

    /// Removes a fence, returned if it was there.
    pub fn remove(&mut self, id: Uuid) -> Option<Arc<Fence>> {
        let entry = self.by_id.remove(&id)?;
        self.tree.remove(&entry);
        Some(entry.fence)
    }

    /// The fences whose box contains `p`: a superset of those that `p` can be inside of.
    pub fn candidates(&self, p: Point) -> impl Iterator<Item = &Fence> {
        let at = AABB::from_point(p.xyz());
        self.tree
            .locate_in_envelope_intersecting(at)
            .map(|e| &*e.fence)
    }

    /// The fences a vehicle is inside after a reading at `p`, sorted, given the fences it was
    /// inside before (see [`Fence::inside_after`]). Every fence in `inside_before` is checked
    /// by id; a fence that is no longer in the index is left. Selectors are not consulted:
    /// see [`evaluate_for`](Self::evaluate_for).
    pub fn evaluate(&self, p: Point, inside_before: &[Uuid]) -> Vec<Uuid> {
        self.evaluate_where(p, inside_before, |_| true)
    }

    /// [`evaluate`](Self::evaluate) for one vehicle: only the fences whose selector applies
    /// to it; a fence it was inside that no longer applies is left.
    pub fn evaluate_for(
        &self,
        p: Point,
        inside_before: &[Uuid],
        subject: Subject<'_>,
    ) -> Vec<Uuid> {
        self.evaluate_where(p, inside_before, |f| f.selector.applies(subject))
    }

    fn evaluate_where(
        &self,
        p: Point,
        inside_before: &[Uuid],
        applies: impl Fn(&Fence) -> bool,
    ) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = inside_before
            .iter()
            .filter(|id| {
                self.get(**id)
                    .is_some_and(|f| applies(f) && f.inside_after(p, true))
            })
            .copied()
            .collect();
        for fence in self.candidates(p) {
            if !inside_before.contains(&fence.id) && applies(fence) && fence.inside_after(p, false)
            {
                out.push(fence.id);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
