//! `fleet-sim bench`: generation speed on one core without a broker, i.e. everything a
//! generator thread does per reading except handing the payload to rumqttc: motion model,
//! faults, encoding, batching and topic formatting.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::SimConfig;
use crate::payload;
use crate::publisher::epoch_ms;
use crate::shard::{Message, Shard};
use crate::stats::GenCounters;

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub format: String,
    pub vehicles: u32,
    pub readings: u64,
    pub payloads: u64,
    pub bytes: u64,
    /// Creating the vehicles.
    pub setup_s: f64,
    pub seconds: f64,
    pub readings_per_s: f64,
    pub megabytes_per_s: f64,
}

pub fn bench(sim: &SimConfig, readings: u64) -> BenchReport {
    let setup = Instant::now();
    let now = epoch_ms();
    let span_ms = (readings as f64 / sim.natural_rate() * 1000.0) as i64 + sim.max_period_ms();
    let mut shard = Shard::new(
        sim,
        0..sim.vehicles,
        now - span_ms,
        Arc::new(GenCounters::default()),
        false,
    );
    let setup_s = setup.elapsed().as_secs_f64();
    let width = payload::id_width(sim.vehicles);
    let (mut payloads, mut bytes) = (0u64, 0u64);
    let mut out: Vec<Message> = Vec::with_capacity(64);
    let mut consume = |out: &mut Vec<Message>| {
        for m in out.drain(..) {
            let topic =
                payload::vehicle_topic(&sim.prefix, &sim.id_prefix, width, m.vehicle, m.kind);
            payloads += 1;
            bytes += (m.payload.len() + topic.len()) as u64;
        }
    };
    let start = Instant::now();
    for _ in 0..readings {
        shard.step(now, &mut out);
        consume(&mut out);
    }
    shard.finish(now, &mut out);
    consume(&mut out);
    let seconds = start.elapsed().as_secs_f64();
    BenchReport {
        format: sim.format.as_str().to_string(),
        vehicles: sim.vehicles,
        readings,
        payloads,
        bytes,
        setup_s,
        seconds,
        readings_per_s: readings as f64 / seconds.max(1e-9),
        megabytes_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
    }
}

impl BenchReport {
    pub fn text(&self) -> String {
        format!(
            "fleet-sim bench: {} readings of {} vehicles as {} in {:.2} s on one core: {} readings/s, {} payloads, {:.1} MB/s (setup {:.2} s)\n",
            crate::report::thousands(self.readings),
            crate::report::thousands(u64::from(self.vehicles)),
            self.format,
            self.seconds,
            crate::report::thousands(self.readings_per_s as u64),
            crate::report::thousands(self.payloads),
            self.megabytes_per_s,
            self.setup_s,
        )
    }
}
