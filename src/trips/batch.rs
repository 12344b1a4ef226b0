//! The reference segmentation: every reading, oldest first, through one fresh machine.

use super::machine::{Machine, Segment};
use super::{Fix, Params};

/// The segments of `readings` (sorted by timestamp), as settled by `now_us`.
pub fn segment(p: &Params, readings: &[Fix], now_us: i64) -> Vec<Segment> {
    let mut m = Machine::new();
    let mut out = Vec::new();
    for f in readings {
        m.push(p, *f, &mut out);
    }
    m.flush(p, now_us, &mut out);
    out
}
