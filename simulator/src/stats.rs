//! Counters shared between the generator threads, the MQTT event loops and the progress
//! line. Each counter has one writer; `Relaxed` is enough because readers only want
//! eventually consistent totals, never an ordering between counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::config::Fault;
use crate::payload::{Format, Kind};

/// Written by one shard's generator.
#[derive(Debug, Default)]
pub struct GenCounters {
    /// Readings generated, by kind (every reading once, good or bad).
    pub readings: [AtomicU64; 2],
    /// Readings sent, by kind and encoding (`Format::index`); duplicate copies excluded.
    pub by_format: [[AtomicU64; 3]; 2],
    /// Readings that should be stored, by kind.
    pub expected: [AtomicU64; 2],
    pub faults: [AtomicU64; 6],
    pub duplicates_sent: AtomicU64,
}

impl GenCounters {
    pub fn reading(&self, kind: Kind) {
        self.readings[kind.index()].fetch_add(1, Relaxed);
    }

    /// Readings taken back after their payload could not be published.
    pub fn unexpect(&self, kind: Kind, n: u64) {
        self.expected[kind.index()].fetch_sub(n, Relaxed);
    }

    pub fn sent(&self, kind: Kind, format: Format, readings: u64, expected: u64) {
        self.by_format[kind.index()][format.index()].fetch_add(readings, Relaxed);
        self.expected[kind.index()].fetch_add(expected, Relaxed);
    }

    pub fn fault(&self, fault: Fault) {
        self.faults[fault.index()].fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> GenSnapshot {
        let load = |a: &AtomicU64| a.load(Relaxed);
        GenSnapshot {
            readings: self.readings.each_ref().map(load),
            by_format: self.by_format.each_ref().map(|k| k.each_ref().map(load)),
            expected: self.expected.each_ref().map(load),
            faults: self.faults.each_ref().map(load),
            duplicates_sent: load(&self.duplicates_sent),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenSnapshot {
    pub readings: [u64; 2],
    pub by_format: [[u64; 3]; 2],
    pub expected: [u64; 2],
    pub faults: [u64; 6],
    pub duplicates_sent: u64,
}

impl GenSnapshot {
    pub fn add(&mut self, o: &GenSnapshot) {
        for k in 0..2 {
            self.readings[k] += o.readings[k];
            self.expected[k] += o.expected[k];
            for f in 0..3 {
                self.by_format[k][f] += o.by_format[k][f];
            }
        }
        for f in 0..6 {
            self.faults[f] += o.faults[f];
        }
        self.duplicates_sent += o.duplicates_sent;
    }

    pub fn total_readings(&self) -> u64 {
        self.readings.iter().sum()
    }
}

/// Written by one connection: its generator thread (published) and its event loop (acks,
/// connection errors).
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// Payloads handed to the MQTT client.
    pub payloads: AtomicU64,
    /// Readings in those payloads, duplicate copies excluded.
    pub readings: AtomicU64,
    pub bytes: AtomicU64,
    /// QoS 1 PubAcks received.
    pub acked_payloads: AtomicU64,
    /// Readings in acknowledged payloads (duplicate copies excluded).
    pub acked_readings: AtomicU64,
    pub connection_errors: AtomicU64,
    /// Reconnects the broker answered without the session (CONNACK `session_present = 0`).
    pub sessions_lost: AtomicU64,
    /// Payloads in flight when the connection failed, published again as new after such a
    /// reconnect (the ones still queued are sent after it in any case).
    pub republished_payloads: AtomicU64,
    /// Publishes that found their packet id still in flight and waited for it (rumqttc's
    /// `AwaitAck`); see `resend.rs`.
    pub collisions: AtomicU64,
    /// Payloads that could not be handed over (the run gave up on the broker).
    pub publish_errors: AtomicU64,
    /// Readings in those payloads: never published, and taken out of the manifest.
    pub abandoned_readings: AtomicU64,
}

impl ConnCounters {
    pub fn snapshot(&self) -> ConnSnapshot {
        ConnSnapshot {
            payloads: self.payloads.load(Relaxed),
            readings: self.readings.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            acked_payloads: self.acked_payloads.load(Relaxed),
            acked_readings: self.acked_readings.load(Relaxed),
            connection_errors: self.connection_errors.load(Relaxed),
            sessions_lost: self.sessions_lost.load(Relaxed),
            republished_payloads: self.republished_payloads.load(Relaxed),
            collisions: self.collisions.load(Relaxed),
            publish_errors: self.publish_errors.load(Relaxed),
            abandoned_readings: self.abandoned_readings.load(Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnSnapshot {
    pub payloads: u64,
    pub readings: u64,
    pub bytes: u64,
    pub acked_payloads: u64,
    pub acked_readings: u64,
    pub connection_errors: u64,
    pub sessions_lost: u64,
    pub republished_payloads: u64,
    pub collisions: u64,
    pub publish_errors: u64,
    pub abandoned_readings: u64,
}

impl ConnSnapshot {
    pub fn add(&mut self, o: &ConnSnapshot) {
        self.payloads += o.payloads;
        self.readings += o.readings;
        self.bytes += o.bytes;
        self.acked_payloads += o.acked_payloads;
        self.acked_readings += o.acked_readings;
        self.connection_errors += o.connection_errors;
        self.sessions_lost += o.sessions_lost;
        self.republished_payloads += o.republished_payloads;
        self.collisions += o.collisions;
        self.publish_errors += o.publish_errors;
        self.abandoned_readings += o.abandoned_readings;
    }

    pub fn errors(&self) -> u64 {
        self.connection_errors + self.publish_errors
    }
}
