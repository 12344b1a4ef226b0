//! Where each generated reading goes: fault injection, batching, outages, duplicates.
//! `Shard` (shard.rs) decides which reading comes next; `Ctx` decides what is published.

use std::collections::VecDeque;

use crate::config::{Fault, SimConfig};
use crate::manifest::{TickSet, VehicleExpect};
use crate::payload::{encode, malformed, Format, Gps, Kind, Obd, Reading, FUTURE_SKEW_MS};
use crate::spec::MAX_BATCH;
use crate::stats::GenCounters;
use crate::vehicle::Vehicle;

/// A duplicate is re-published after this many further payloads of its shard.
const DUPLICATE_DELAY: u64 = 32;

/// One payload to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Vehicle index (0-based; `veh-000001` is 0).
    pub vehicle: u32,
    pub kind: Kind,
    pub payload: Vec<u8>,
    /// Readings in the payload.
    pub readings: u32,
    /// A `--fault-duplicate` copy of an earlier payload.
    pub duplicate: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending<T> {
    pub(crate) r: T,
    pub(crate) expect: bool,
}

#[derive(Debug)]
pub(crate) struct Lane<T> {
    pub(crate) buf: Vec<Pending<T>>,
    pub(crate) first_ms: i64,
}

/// What few vehicles need at any moment, boxed to keep a million slots small.
#[derive(Debug, Default)]
pub(crate) struct Rare {
    held_gps: Option<Gps>,
    held_obd: Option<Obd>,
    off_gps: Vec<Pending<Gps>>,
    off_obd: Vec<Pending<Obd>>,
}

#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) index: u32,
    pub(crate) model: Vehicle,
    pub(crate) model_ts: Option<i64>,
    pub(crate) gps: Lane<Gps>,
    pub(crate) obd: Lane<Obd>,
    pub(crate) offline_left: u32,
    pub(crate) rare: Option<Box<Rare>>,
}

impl Slot {
    pub(crate) fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
}

/// Per-kind access to a slot's state, so routing is written once.
pub(crate) trait Laned: Reading + std::fmt::Debug {
    fn lane(s: &mut Slot) -> &mut Lane<Self>;
    fn held(r: &mut Rare) -> &mut Option<Self>;
    fn offline(r: &mut Rare) -> &mut Vec<Pending<Self>>;
    fn set(e: &mut VehicleExpect) -> &mut Option<TickSet>;
}

impl Laned for Gps {
    fn lane(s: &mut Slot) -> &mut Lane<Self> {
        &mut s.gps
    }
    fn held(r: &mut Rare) -> &mut Option<Self> {
        &mut r.held_gps
    }
    fn offline(r: &mut Rare) -> &mut Vec<Pending<Self>> {
        &mut r.off_gps
    }
    fn set(e: &mut VehicleExpect) -> &mut Option<TickSet> {
        &mut e.gps
    }
}

impl Laned for Obd {
    fn lane(s: &mut Slot) -> &mut Lane<Self> {
        &mut s.obd
    }
    fn held(r: &mut Rare) -> &mut Option<Self> {
        &mut r.held_obd
    }
    fn offline(r: &mut Rare) -> &mut Vec<Pending<Self>> {
        &mut r.off_obd
    }
    fn set(e: &mut VehicleExpect) -> &mut Option<TickSet> {
        &mut e.obd
    }
}

pub(crate) struct Ctx<'a> {
    pub(crate) cfg: &'a SimConfig,
    pub(crate) counters: &'a GenCounters,
    pub(crate) expect: Option<&'a mut VehicleExpect>,
    pub(crate) out: &'a mut Vec<Message>,
    pub(crate) dups: &'a mut VecDeque<(u64, Message)>,
    pub(crate) emitted: &'a mut u64,
    pub(crate) q_offline: f64,
    pub(crate) now_ms: i64,
}

impl Ctx<'_> {
    fn fault(&mut self, f: Fault) {
        self.counters.fault(f);
        if let Some(e) = self.expect.as_deref_mut() {
            e.faults[f.index()] += 1;
        }
    }

    pub(crate) fn route<T: Laned>(&mut self, slot: &mut Slot, mut r: T) {
        self.counters.reading(T::KIND);
        if slot.offline_left == 0 && self.q_offline > 0.0 && slot.model.rng().chance(self.q_offline)
        {
            // A tracker sends what it has before it loses the connection.
            self.flush::<Gps>(slot);
            self.flush::<Obd>(slot);
            slot.offline_left = 10 + slot.model.rng().below(101) as u32;
        }
        if slot.offline_left > 0 {
            slot.offline_left -= 1;
            self.fault(Fault::Offline);
            let rare = slot.rare();
            T::offline(rare).push(Pending { r, expect: true });
            if let Some(h) = T::held(rare).take() {
                T::offline(rare).push(Pending { r: h, expect: true });
                self.fault(Fault::OutOfOrder);
            }
            if slot.offline_left == 0 || T::offline(slot.rare()).len() >= MAX_BATCH {
                self.end_outage(slot);
            }
            return;
        }
        let fault = if self.cfg.faults.per_reading_sum() > 0.0 {
            self.cfg.faults.pick(slot.model.rng().range(0.0, 100.0))
        } else {
            None
        };
        let format = self.cfg.format;
        match fault {
            Some(Fault::Malformed) => {
                self.fault(Fault::Malformed);
                let noise = slot.model.rng().next_u64();
                let payload = malformed(format, encode(format, [&r]), noise);
                self.counters.sent(T::KIND, format, 1, 0);
                self.emit(slot.index, T::KIND, payload, 1);
            }
            Some(Fault::Duplicate) => {
                self.fault(Fault::Duplicate);
                self.send(slot.index, format, &[Pending { r, expect: true }]);
                if let Some(last) = self.out.last() {
                    let copy = Message {
                        duplicate: true,
                        ..last.clone()
                    };
                    self.dups.push_back((*self.emitted + DUPLICATE_DELAY, copy));
                }
            }
            Some(Fault::OutOfOrder) if slot.rare.as_mut().is_none_or(|x| T::held(x).is_none()) => {
                *T::held(slot.rare()) = Some(r);
                return;
            }
            Some(Fault::OutOfRange) => {
                self.fault(Fault::OutOfRange);
                r.break_range(slot.model.rng().next_u64());
                self.push(slot, r, false);
            }
            Some(Fault::FutureSkew) => {
                self.fault(Fault::FutureSkew);
                r.set_ts_ms(self.now_ms + FUTURE_SKEW_MS);
                self.push(slot, r, false);
            }
            _ => self.push(slot, r, true),
        }
        if let Some(h) = slot.rare.as_mut().and_then(|x| T::held(x).take()) {
            self.fault(Fault::OutOfOrder);
            self.push(slot, h, true);
        }
    }

    /// Sends a reading in the run's format: at once for `json`, else through the batch.
    fn push<T: Laned>(&mut self, slot: &mut Slot, r: T, expect: bool) {
        if self.cfg.format == Format::Json {
            self.send(slot.index, Format::Json, &[Pending { r, expect }]);
            return;
        }
        let lane = T::lane(slot);
        if lane.buf.is_empty() {
            lane.first_ms = self.now_ms;
        }
        lane.buf.push(Pending { r, expect });
        if lane.buf.len() >= self.cfg.batch {
            self.flush::<T>(slot);
        }
    }

    fn flush<T: Laned>(&mut self, slot: &mut Slot) {
        let mut buf = std::mem::take(&mut T::lane(slot).buf);
        if !buf.is_empty() {
            self.send(slot.index, self.cfg.format, &buf);
            buf.clear();
        }
        // Keep the allocation: the next batch needs the same room.
        T::lane(slot).buf = buf;
    }

    /// End of run: an offline vehicle comes back, held readings go out (they have no
    /// successor, so they are not out of order), partial batches are sent.
    pub(crate) fn finish_slot(&mut self, slot: &mut Slot) {
        self.end_outage(slot);
        if let Some(h) = slot.rare.as_mut().and_then(|r| r.held_gps.take()) {
            self.push(slot, h, true);
        }
        if let Some(h) = slot.rare.as_mut().and_then(|r| r.held_obd.take()) {
            self.push(slot, h, true);
        }
        self.flush::<Gps>(slot);
        self.flush::<Obd>(slot);
    }

    pub(crate) fn linger(&mut self, slot: &mut Slot) {
        let linger = self.cfg.batch_linger_ms;
        if linger <= 0 || self.cfg.format == Format::Json {
            return;
        }
        if !slot.gps.buf.is_empty() && self.now_ms - slot.gps.first_ms >= linger {
            self.flush::<Gps>(slot);
        }
        if !slot.obd.buf.is_empty() && self.now_ms - slot.obd.first_ms >= linger {
            self.flush::<Obd>(slot);
        }
    }

    /// Back online: what was buffered goes out as one JSON array per kind.
    fn end_outage(&mut self, slot: &mut Slot) {
        slot.offline_left = 0;
        let Some(rare) = slot.rare.as_mut() else {
            return;
        };
        let (gps, obd) = (
            std::mem::take(&mut rare.off_gps),
            std::mem::take(&mut rare.off_obd),
        );
        if !gps.is_empty() {
            self.send(slot.index, Format::JsonBatch, &gps);
        }
        if !obd.is_empty() {
            self.send(slot.index, Format::JsonBatch, &obd);
        }
    }

    fn send<T: Laned>(&mut self, vehicle: u32, format: Format, items: &[Pending<T>]) {
        let payload = encode(format, items.iter().map(|p| &p.r));
        let mut expected = 0;
        for p in items.iter().filter(|p| p.expect) {
            expected += 1;
            if let Some(set) = self.expect.as_deref_mut().and_then(|e| T::set(e).as_mut()) {
                let inserted = set.insert(p.r.ts_ms(), p.r.digest());
                debug_assert!(inserted, "reading {:?} is on its grid and sent once", p.r);
            }
        }
        self.counters
            .sent(T::KIND, format, items.len() as u64, expected);
        self.emit(vehicle, T::KIND, payload, items.len() as u32);
    }

    fn emit(&mut self, vehicle: u32, kind: Kind, payload: Vec<u8>, readings: u32) {
        self.out.push(Message {
            vehicle,
            kind,
            payload,
            readings,
            duplicate: false,
        });
        *self.emitted += 1;
    }

    pub(crate) fn release_duplicates(&mut self, all: bool) {
        while let Some((due, _)) = self.dups.front() {
            if !all && *due > *self.emitted {
                break;
            }
            if let Some((_, m)) = self.dups.pop_front() {
                self.counters
                    .duplicates_sent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.out.push(m);
            }
        }
    }
}
