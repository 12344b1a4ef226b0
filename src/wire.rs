//! The compact binary payload (docs/telemetry.md): the simulator's fast path.
//!
//! Layout, version 1:
//!
//! | bytes | content |
//! |---|---|
//! | 0 | `0xF1` (magic; never the first byte of JSON text) |
//! | 1 | layout version, `1` |
//! | 2.. | a [postcard] 1.x encoding of `Vec<GpsV1>` on a `gps` topic, `Vec<ObdV1>` on an `obd` topic |
//!
//! postcard's format is specified and stable within 1.x: integers are varints (`i64` zigzag),
//! `f32`/`f64` little-endian IEEE 754, `Option` a `0`/`1` byte then the value, `Vec` and `str`
//! a varint length then the items. Trailing bytes after the vector are an error. The same
//! validation rules as JSON apply to every reading.
//!
//! [postcard]: https://docs.rs/postcard

use serde::{Deserialize, Serialize};

/// First byte of every binary payload.
pub const MAGIC: u8 = 0xF1;
/// The only layout version this build writes and reads.
pub const VERSION_1: u8 = 1;

/// One GPS reading in layout version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpsV1 {
    /// Unix epoch milliseconds, UTC.
    pub ts_ms: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: Option<f32>,
    pub heading_deg: Option<f32>,
    pub alt_m: Option<f32>,
    pub accuracy_m: Option<f32>,
}

/// One OBD-II reading in layout version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObdV1<'a> {
    /// Unix epoch milliseconds, UTC.
    pub ts_ms: i64,
    pub rpm: Option<f32>,
    pub speed_kmh: Option<f32>,
    pub coolant_c: Option<f32>,
    pub fuel_pct: Option<f32>,
    pub engine_load_pct: Option<f32>,
    pub odometer_km: Option<f64>,
    #[serde(borrow)]
    pub dtc: Option<Vec<&'a str>>,
}

/// Encodes GPS readings as a version 1 binary payload.
pub fn encode_gps(readings: &[GpsV1]) -> Vec<u8> {
    encode(readings)
}

/// Encodes OBD readings as a version 1 binary payload.
pub fn encode_obd(readings: &[ObdV1<'_>]) -> Vec<u8> {
    encode(readings)
}

fn encode<T: Serialize>(readings: &[T]) -> Vec<u8> {
    let mut out = vec![MAGIC, VERSION_1];
    // Serializing plain structs into a Vec cannot fail.
    out.extend(postcard::to_allocvec(readings).expect("postcard encoding into a Vec"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_in_docs_telemetry_is_what_encode_gps_writes() {
        let doc = include_str!("../docs/telemetry.md");
        let start = doc
            .find("**Example.**")
            .expect("docs/telemetry.md has the example");
        let end = start + doc[start..].find("## Rejects").expect("the example ends");
        let documented: Vec<u8> = doc[start..end]
            .lines()
            .filter(|l| l.starts_with("| `"))
            .flat_map(|l| {
                let hex = l.split('`').nth(1).expect("a backticked byte list");
                hex.split(' ')
                    .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
                    .collect::<Vec<_>>()
            })
            .collect();
        let encoded = encode_gps(&[GpsV1 {
            ts_ms: 1_700_000_000_000,
            lat: 52.52,
            lon: 13.405,
            speed_kmh: Some(42.5),
            heading_deg: None,
            alt_m: None,
            accuracy_m: None,
        }]);
        assert_eq!(documented, encoded);
    }
}
