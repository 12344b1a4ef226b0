//! The segmenter: a state machine fed one vehicle's readings in timestamp order that cuts
//! them into trips and stops (docs/trips.md has the rules in prose).
//!
//! Two properties make the incremental segmenter equal to a batch run over every stored
//! reading, which the property tests check:
//! - each emitted segment records `decided_us`, the timestamp of the reading whose arrival
//!   settled it; it depends on no reading after that, so a late reading at `d` can change
//!   only segments decided at or after `d`;
//! - each segment records `resume_us`, where a fresh machine (given the readings before it as
//!   context, see [`Motion`]) continues exactly as this one does after emitting it.

use serde::{Deserialize, Serialize};

use super::motion::Motion;
use super::{Fix, Params};
use crate::live::geo::haversine_m;

/// Trip or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Trip,
    Stop,
}

/// What a trip accumulated from its first reading up to some reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Readings counted.
    pub readings: u32,
    /// Sum of the steps between readings kept by the jitter filter.
    pub distance_m: f64,
    /// Time between consecutive readings whose later one was moving.
    pub moving_us: i64,
    /// Highest reported speed, or speed between kept readings when none is reported.
    pub max_speed_kmh: f64,
    /// The last reading the jitter filter kept.
    kept: Fix,
    /// The last reading counted.
    last: Fix,
    /// Whether it was moving.
    #[serde(default)]
    last_moving: bool,
}

impl Stats {
    fn new(f: Fix) -> Stats {
        Stats {
            readings: 1,
            distance_m: 0.0,
            moving_us: 0,
            max_speed_kmh: f.speed_kmh.map_or(0.0, f64::from),
            kept: f,
            last: f,
            last_moving: false,
        }
    }

    fn add(&mut self, p: &Params, f: Fix, moving: bool) {
        self.readings += 1;
        if moving {
            self.moving_us += f.ts_us - self.last.ts_us;
        }
        let step = haversine_m(self.kept.lat, self.kept.lon, f.lat, f.lon);
        // Where the vehicle comes to a halt counts whatever the step, so that a stop and turn
        // inside a trip does not cut the corner (and noise while it stands adds nothing).
        let halted = self.last_moving && !moving;
        if step > 0.0 && (step >= p.jitter_m || halted) {
            self.distance_m += step;
            let dt_s = (f.ts_us - self.kept.ts_us) as f64 / 1e6;
            if f.speed_kmh.is_none() && dt_s > 0.0 {
                self.max_speed_kmh = self.max_speed_kmh.max(step / dt_s * 3.6);
            }
            self.kept = f;
        }
        if let Some(v) = f.speed_kmh {
            self.max_speed_kmh = self.max_speed_kmh.max(f64::from(v));
        }
        self.last = f;
        self.last_moving = moving;
    }

    /// The distance up to `end`: the last step, shorter than the jitter, still leads there.
    fn distance_to(&self, end: &Fix) -> f64 {
        self.distance_m + haversine_m(self.kept.lat, self.kept.lon, end.lat, end.lon)
    }
}

/// A trip or stop the machine settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub kind: Kind,
    pub start: Fix,
    pub end: Fix,
    /// Trips only: what the readings from `start` to `end` add up to.
    pub stats: Option<Stats>,
    /// The timestamp of the reading that settled it (a gap's end: the last reading plus
    /// `max_gap`).
    pub decided_us: i64,
    /// Where a fresh machine resumes after it.
    pub resume_us: i64,
}

/// A movement that may become a trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Candidate {
    start: Fix,
    stats: Stats,
    /// The first reading of the current run of still readings, and the stats up to it.
    still: Option<(Fix, Stats)>,
}

impl Candidate {
    fn new(f: Fix) -> Candidate {
        Candidate {
            start: f,
            stats: Stats::new(f),
            still: None,
        }
    }

    fn add(&mut self, p: &Params, f: Fix, moving: bool) {
        self.stats.add(p, f, moving);
        if moving {
            self.still = None;
        } else if self.still.is_none() {
            self.still = Some((f, self.stats));
        }
    }

    /// Where the trip would end if it ended now, and its stats there.
    fn end(&self) -> (Fix, Stats) {
        self.still.unwrap_or((self.stats.last, self.stats))
    }

    /// Still long enough at `now` that the movement is over.
    fn stopped(&self, p: &Params, now: i64) -> bool {
        self.still
            .is_some_and(|(s, _)| now - s.ts_us >= p.min_stop_us)
    }

    fn is_trip(&self, p: &Params) -> bool {
        let (end, stats) = self.end();
        stats.distance_to(&end) >= p.min_trip_m || end.ts_us - self.start.ts_us >= p.min_trip_us
    }

    fn segment(&self, decided_us: i64) -> Segment {
        let (end, mut stats) = self.end();
        stats.distance_m = stats.distance_to(&end);
        Segment {
            kind: Kind::Trip,
            start: self.start,
            end,
            stats: Some(stats),
            decided_us,
            resume_us: end.ts_us,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Phase {
    /// Nothing seen yet.
    Empty,
    /// No trip since `start`, perhaps a movement that is not (yet) one.
    Rest {
        start: Fix,
        candidate: Option<Candidate>,
    },
    /// On a trip.
    Trip(Candidate),
}

/// One vehicle's segmenter; serialisable, so it can be kept between passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    motion: Motion,
    last: Option<Fix>,
    phase: Phase,
    /// The latest `decided_us` of a segment this machine emitted.
    settled_us: Option<i64>,
}

impl Machine {
    /// A machine that has seen nothing.
    pub fn new() -> Machine {
        Machine {
            motion: Motion::default(),
            last: None,
            phase: Phase::Empty,
            settled_us: None,
        }
    }

    /// A fresh machine that will resume after a segment: `context` are the readings before
    /// the resume point (at least those within `max_gap` of it), oldest first.
    pub fn resume<'a>(p: &Params, context: impl IntoIterator<Item = &'a Fix>) -> Machine {
        let mut m = Machine::new();
        for f in context {
            m.motion.remember(p, *f);
        }
        m
    }

    /// The timestamp of the last reading fed.
    pub fn watermark(&self) -> Option<i64> {
        self.last.map(|f| f.ts_us)
    }

    /// Whether a reading at `ts_us` can simply be fed next: it is after every reading fed
    /// and after every decision taken (a flush decides ahead of the last reading).
    pub fn accepts(&self, ts_us: i64) -> bool {
        self.watermark().is_none_or(|w| ts_us > w) && self.settled_us.is_none_or(|s| ts_us > s)
    }

    /// The trip in progress, if any: its start, and where it would end now.
    pub fn open_trip(&self) -> Option<Segment> {
        match &self.phase {
            Phase::Trip(c) => Some(c.segment(i64::MAX)),
            _ => None,
        }
    }

    /// Feeds the next reading (its timestamp after every one fed before); settled segments
    /// are appended to `out`, in order.
    pub fn push(&mut self, p: &Params, f: Fix, out: &mut Vec<Segment>) {
        let moving = self.motion.classify(p, &f);
        let prev = self.last.replace(f);
        if let Some(prev) = prev.filter(|prev| f.ts_us - prev.ts_us >= p.max_gap_us) {
            self.close_trip(prev.ts_us + p.max_gap_us, out);
            if let Phase::Rest { start, candidate } = &mut self.phase {
                *candidate = None;
                if haversine_m(prev.lat, prev.lon, f.lat, f.lon) > p.stop_radius_m {
                    let stop = stop(p, *start, prev, f.ts_us, f.ts_us);
                    out.extend(stop);
                    self.phase = Phase::Empty;
                }
            }
        }
        match &mut self.phase {
            Phase::Empty => {
                self.phase = Phase::Rest {
                    start: f,
                    candidate: moving.then(|| Candidate::new(f)),
                }
            }
            Phase::Rest { candidate, .. } => match candidate {
                Some(c) => c.add(p, f, moving),
                None if moving => *candidate = Some(Candidate::new(f)),
                None => {}
            },
            Phase::Trip(c) => c.add(p, f, moving),
        }
        self.settle(p, f.ts_us, out);
        self.note_settled(out);
    }

    fn note_settled(&mut self, out: &[Segment]) {
        if let Some(s) = out.last() {
            self.settled_us = Some(
                self.settled_us
                    .map_or(s.decided_us, |d| d.max(s.decided_us)),
            );
        }
    }

    /// Ends a trip the vehicle has been silent on for `max_gap`, as a later reading would.
    pub fn flush(&mut self, p: &Params, now_us: i64, out: &mut Vec<Segment>) {
        if let Some(last) = self.last {
            if now_us - last.ts_us >= p.max_gap_us {
                self.close_trip(last.ts_us + p.max_gap_us, out);
                self.note_settled(out);
            }
        }
    }

    fn close_trip(&mut self, decided_us: i64, out: &mut Vec<Segment>) {
        if let Phase::Trip(c) = &self.phase {
            let trip = c.segment(decided_us);
            self.phase = Phase::Rest {
                start: trip.end,
                candidate: None,
            };
            out.push(trip);
        }
    }

    /// After reading `now`: promote a movement to a trip, end a trip or drop a movement that
    /// stood still long enough.
    fn settle(&mut self, p: &Params, now: i64, out: &mut Vec<Segment>) {
        if let Phase::Rest {
            start,
            candidate: Some(c),
        } = &self.phase
        {
            if c.is_trip(p) {
                out.extend(stop(p, *start, c.start, now, c.start.ts_us));
                self.phase = Phase::Trip(c.clone());
            } else if c.stopped(p, now) {
                self.phase = Phase::Rest {
                    start: *start,
                    candidate: None,
                };
            }
        }
        if let Phase::Trip(c) = &self.phase {
            if c.stopped(p, now) {
                let trip = c.segment(now);
                self.phase = Phase::Rest {
                    start: trip.end,
                    candidate: None,
                };
                out.push(trip);
            }
        }
    }
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

/// The stop from `start` to `end`, if it lasted long enough.
fn stop(p: &Params, start: Fix, end: Fix, decided_us: i64, resume_us: i64) -> Option<Segment> {
    (end.ts_us - start.ts_us >= p.min_stop_us).then_some(Segment {
        kind: Kind::Stop,
        start,
        end,
        stats: None,
        decided_us,
        resume_us,
    })
}
