//! A budget of reject rows per vehicle (`ingest.rejects_per_minute`, bursts of
//! `ingest.rejects_burst`), so a tracker (or whoever holds its account) flooding bad payloads
//! cannot fill `telemetry_rejects`: over the budget, a message's reject rows are not written
//! (the message is still acknowledged, its good readings still stored) and are counted in
//! `fleetd_rejects_unrecorded_total` instead. The budget is per vehicle id level of the topic
//! (`{prefix}/{vehicle_id}/...`), so varying the rest of the topic does not buy a new one.

use std::time::Instant;

use crate::limiter::Limiter;

/// Messages whose topic has no vehicle id level share this key.
const NO_VEHICLE: &str = "";

/// Reject rows allowed per vehicle.
pub struct RejectBudget {
    prefix: Box<str>,
    limiter: Limiter,
}

impl RejectBudget {
    /// For topics under `prefix`; `None` when `per_minute` is 0 (every reject recorded).
    pub fn new(prefix: &str, per_minute: u32, burst: u32) -> Option<RejectBudget> {
        (per_minute > 0).then(|| RejectBudget {
            prefix: prefix.into(),
            limiter: Limiter::new(per_minute, burst),
        })
    }

    /// Spends one token for a message's reject rows: of `vehicle_id`, or of the topic's
    /// vehicle level when the topic did not parse. False when none is left.
    pub fn allows(&self, vehicle_id: Option<&str>, topic: &str, now: Instant) -> bool {
        let vehicle = vehicle_id.unwrap_or_else(|| key(&self.prefix, topic));
        self.limiter.take(vehicle, now).is_ok()
    }
}

/// The vehicle id level of `{prefix}/{vehicle_id}/...`, at most 64 bytes (longer ids are
/// invalid anyway and share a bucket by their first 64 bytes).
pub fn key<'a>(prefix: &str, topic: &'a str) -> &'a str {
    let Some(rest) = topic.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else {
        return NO_VEHICLE;
    };
    let level = rest.split('/').next().unwrap_or(NO_VEHICLE);
    let mut end = level.len().min(64);
    while !level.is_char_boundary(end) {
        end -= 1;
    }
    &level[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_per_vehicle_level() {
        assert_eq!(key("fleet", "fleet/veh-1/gps"), "veh-1");
        assert_eq!(key("fleet", "fleet/veh-1/anything/else"), "veh-1");
        assert_eq!(key("acme/fleet", "acme/fleet/v/obd"), "v");
        assert_eq!(key("fleet", "other/veh-1/gps"), NO_VEHICLE);
        assert_eq!(key("fleet", "fleetx/veh-1/gps"), NO_VEHICLE);
        assert_eq!(
            key("fleet", &format!("fleet/{}/gps", "é".repeat(40))).len(),
            64
        );
    }
}
