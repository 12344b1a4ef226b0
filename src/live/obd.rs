//! Every vehicle's latest OBD-II values, in memory, for `GET /v1/vehicles/{id}/position`:
//! fed by the writers after each commit like the position index, newest `ts` wins.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::ingest::reading::ObdReading;

/// The latest OBD values per vehicle.
#[derive(Debug, Default)]
pub struct LatestObd {
    // std RwLock: held only to look up, clone or replace one entry, never across an await.
    map: RwLock<HashMap<Arc<str>, ObdReading>>,
}

impl LatestObd {
    pub fn new() -> Arc<LatestObd> {
        Arc::new(LatestObd::default())
    }

    /// Keeps each reading that is newer than the vehicle's current one.
    pub fn offer<'a>(&self, readings: impl IntoIterator<Item = (&'a str, &'a ObdReading)>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for (id, r) in readings {
            match map.get_mut(id) {
                Some(old) if old.ts >= r.ts => {}
                Some(old) => *old = r.clone(),
                None => {
                    map.insert(Arc::from(id), r.clone());
                }
            }
        }
    }

    pub fn get(&self, vehicle_id: &str) -> Option<ObdReading> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(vehicle_id).cloned()
    }

    /// Forgets vehicles whose latest values are older than `cutoff_ts` (Unix µs).
    pub fn evict_older_than(&self, cutoff_ts: i64) -> usize {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let before = map.len();
        map.retain(|_, r| r.ts >= cutoff_ts);
        before - map.len()
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obd(ts: i64, fuel: f32) -> ObdReading {
        ObdReading {
            ts,
            rpm: None,
            speed_kmh: None,
            coolant_c: None,
            fuel_pct: Some(fuel),
            engine_load_pct: None,
            odometer_km: None,
            dtc: None,
        }
    }

    #[test]
    fn the_newest_reading_wins_whatever_the_order() {
        let l = LatestObd::default();
        l.offer([("v", &obd(20, 50.0)), ("w", &obd(5, 10.0))]);
        l.offer([("v", &obd(10, 60.0)), ("v", &obd(20, 70.0))]);
        assert_eq!(l.get("v").unwrap().fuel_pct, Some(50.0));
        l.offer([("v", &obd(30, 40.0))]);
        assert_eq!(l.get("v").unwrap().fuel_pct, Some(40.0));
        assert!(l.get("x").is_none());
        assert_eq!(l.evict_older_than(10), 1);
        assert!(l.get("w").is_none() && l.len() == 1);
    }
}
