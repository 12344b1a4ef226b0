//! The incremental protocol shared by the worker (against PostgreSQL) and the property tests
//! (against memory): what a pass over one vehicle does when readings from `dirty_from` on
//! have been committed since the last pass.
//!
//! - Readings all after what the saved machine has seen and decided: feed them to it.
//! - Otherwise (a late reading, or no saved machine): drop the segments decided at or after
//!   `dirty_from`, which are the only ones it can change, and re-run a fresh machine from
//!   the `resume_us` of the last segment kept (from the first reading when none is kept),
//!   with the readings within `max_gap` before that point as context.

use super::machine::{Machine, Segment};
use super::{Fix, Params};

/// How a pass starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// Feed the readings after the saved machine's watermark to it.
    Continue(Box<Machine>),
    /// Drop segments decided at or after `decided_from`, then resume after the last one kept.
    Redo { decided_from: i64 },
}

/// Decides how a pass starts.
pub fn start(saved: Option<Machine>, dirty_from: i64) -> Start {
    match saved {
        // A machine that has seen no reading (saved by an OBD-only pass) knows nothing.
        Some(m) if m.watermark().is_some() && m.accepts(dirty_from) => Start::Continue(Box::new(m)),
        _ => Start::Redo {
            decided_from: dirty_from,
        },
    }
}

/// Where a redo resumes: the latest `resume_us` among the kept segments (they are settled in
/// `decided_us` order, and `resume_us` never goes back within it).
pub fn anchor<'a>(kept: impl IntoIterator<Item = &'a Segment>) -> Option<i64> {
    kept.into_iter()
        .map(|s| (s.decided_us, s.resume_us))
        .max()
        .map(|(_, r)| r)
}

/// Feeds `readings` (sorted, all accepted by `m`) and flushes at `now_us`.
pub fn run(p: &Params, m: &mut Machine, readings: &[Fix], now_us: i64) -> Vec<Segment> {
    let mut out = Vec::new();
    for f in readings {
        m.push(p, *f, &mut out);
    }
    m.flush(p, now_us, &mut out);
    out
}

/// The whole protocol over readings and segments held in memory: what the worker does in
/// SQL, kept here as the executable statement of it (the property tests drive it).
#[derive(Debug, Default)]
pub struct Memory {
    /// Stored readings, sorted by timestamp, unique.
    pub readings: Vec<Fix>,
    pub segments: Vec<Segment>,
    pub machine: Option<Machine>,
}

impl Memory {
    /// Stores readings (a duplicate timestamp is stored once), returning the earliest new one.
    pub fn store(&mut self, batch: &[Fix]) -> Option<i64> {
        let mut dirty = None;
        for f in batch {
            if let Err(at) = self.readings.binary_search_by_key(&f.ts_us, |r| r.ts_us) {
                self.readings.insert(at, *f);
                dirty = Some(dirty.map_or(f.ts_us, |d: i64| d.min(f.ts_us)));
            }
        }
        dirty
    }

    /// One pass, as the worker runs it.
    pub fn pass(&mut self, p: &Params, dirty_from: i64, now_us: i64) {
        let (mut m, from) = match start(self.machine.take(), dirty_from) {
            Start::Continue(m) => {
                let m = *m;
                let w = m.watermark().unwrap_or(i64::MIN);
                (m, self.readings.partition_point(|r| r.ts_us <= w))
            }
            Start::Redo { decided_from } => {
                self.segments.retain(|s| s.decided_us < decided_from);
                match anchor(&self.segments) {
                    Some(a) => {
                        let ctx = self
                            .readings
                            .partition_point(|r| r.ts_us < a - p.max_gap_us);
                        let from = self.readings.partition_point(|r| r.ts_us < a);
                        (Machine::resume(p, &self.readings[ctx..from]), from)
                    }
                    None => (Machine::new(), 0),
                }
            }
        };
        let new = run(p, &mut m, &self.readings[from..], now_us);
        self.segments.extend(new);
        self.machine = Some(m);
    }
}
