//! Readings and their payloads (docs/telemetry.md): JSON objects, JSON arrays, the binary `0xF1`
//! layout of `fleetd::wire`, and the deliberately broken variants fault injection sends.
//!
//! JSON is written by hand with `itoa`/`ryu` into a buffer sized once: generation must stay
//! far faster than any broker so the simulator is never the bottleneck.

use fleetd::wire::{self, GpsV1, ObdV1};

mod json;
use json::{degrees, float, int, key, ts};

/// How far ahead of the wall clock a `--fault-future-skew` reading is stamped: twice the
/// daemon's 5-minute acceptance window, so it must be rejected.
pub const FUTURE_SKEW_MS: i64 = 10 * 60 * 1000;

/// Diagnostic trouble codes the simulated vehicles report (all `^[PCBU][0-9A-F]{4}$`).
pub const DTC_CODES: [&str; 8] = [
    "P0301", "P0420", "P0171", "P0128", "C0035", "B1000", "U0100", "P0A80",
];

/// Which topic, and so which table, a reading belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Gps,
    Obd,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Gps, Kind::Obd];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gps => "gps",
            Kind::Obd => "obd",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A payload encoding; `--format` chooses the one used for good readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per payload.
    Json,
    /// A JSON array of up to 1,000 readings.
    JsonBatch,
    /// The `0xF1` binary layout holding up to 1,000 readings.
    Binary,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Json, Format::JsonBatch, Format::Binary];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::JsonBatch => "json-batch",
            Format::Binary => "binary",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One GPS reading, values already rounded to what a tracker reports (lat/lon to 1e-7°,
/// the rest to 0.1) so that the manifest's checksums survive `real` columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gps {
    pub ts_ms: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: f64,
    pub heading_deg: f64,
    pub alt_m: f64,
    pub accuracy_m: f64,
}

/// One OBD-II reading; `rpm` is whole, the rest rounded to 0.1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obd {
    pub ts_ms: i64,
    pub rpm: f64,
    pub speed_kmh: f64,
    pub coolant_c: f64,
    pub fuel_pct: f64,
    pub engine_load_pct: f64,
    pub odometer_km: f64,
    /// At most one active code; reported as `[]` when none.
    pub dtc: Option<&'static str>,
}

/// What the shard needs from either kind of reading.
pub trait Reading: Copy {
    const KIND: Kind;
    fn ts_ms(&self) -> i64;
    fn set_ts_ms(&mut self, ts_ms: i64);
    fn write_json(&self, out: &mut Vec<u8>);
    fn encode_binary<'a>(readings: impl Iterator<Item = &'a Self>) -> Vec<u8>
    where
        Self: 'a;
    /// Puts one value out of the range of docs/telemetry.md; `variant` picks which.
    fn break_range(&mut self, variant: u64);
    /// The manifest checksum of this reading's values.
    fn digest(&self) -> u64;
}

impl Reading for Gps {
    const KIND: Kind = Kind::Gps;

    fn ts_ms(&self) -> i64 {
        self.ts_ms
    }

    fn set_ts_ms(&mut self, ts_ms: i64) {
        self.ts_ms = ts_ms;
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        ts(out, self.ts_ms);
        key(out, "lat");
        degrees(out, self.lat);
        key(out, "lon");
        degrees(out, self.lon);
        key(out, "speed_kmh");
        float(out, self.speed_kmh);
        key(out, "heading_deg");
        float(out, self.heading_deg);
        key(out, "alt_m");
        float(out, self.alt_m);
        key(out, "accuracy_m");
        float(out, self.accuracy_m);
        out.push(b'}');
    }

    fn encode_binary<'a>(readings: impl Iterator<Item = &'a Self>) -> Vec<u8> {
        let v: Vec<GpsV1> = readings
            .map(|r| GpsV1 {
                ts_ms: r.ts_ms,
                lat: r.lat,
                lon: r.lon,
                speed_kmh: Some(r.speed_kmh as f32),
                heading_deg: Some(r.heading_deg as f32),
                alt_m: Some(r.alt_m as f32),
                accuracy_m: Some(r.accuracy_m as f32),
            })
            .collect();
        wire::encode_gps(&v)
    }

    fn break_range(&mut self, variant: u64) {
        match variant % 5 {
            0 => self.lat = 95.0,
            1 => self.lon = -190.0,
            2 => self.speed_kmh = 900.0,
            3 => self.alt_m = 12_000.0,
            _ => self.heading_deg = 360.0,
        }
    }

    fn digest(&self) -> u64 {
        crate::manifest::gps_digest(
            self.ts_ms,
            self.lat,
            self.lon,
            [
                Some(self.speed_kmh),
                Some(self.heading_deg),
                Some(self.alt_m),
                Some(self.accuracy_m),
            ],
        )
    }
}

impl Reading for Obd {
    const KIND: Kind = Kind::Obd;

    fn ts_ms(&self) -> i64 {
        self.ts_ms
    }

    fn set_ts_ms(&mut self, ts_ms: i64) {
        self.ts_ms = ts_ms;
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        ts(out, self.ts_ms);
        key(out, "rpm");
        int(out, self.rpm as i64);
        key(out, "speed_kmh");
        float(out, self.speed_kmh);
        key(out, "coolant_c");
        float(out, self.coolant_c);
        key(out, "fuel_pct");
        float(out, self.fuel_pct);
        key(out, "engine_load_pct");
        float(out, self.engine_load_pct);
        key(out, "odometer_km");
        float(out, self.odometer_km);
        key(out, "dtc");
        match self.dtc {
            Some(code) => {
                out.extend_from_slice(b"[\"");
                out.extend_from_slice(code.as_bytes());
                out.extend_from_slice(b"\"]");
            }
            None => out.extend_from_slice(b"[]"),
        }
        out.push(b'}');
    }

    fn encode_binary<'a>(readings: impl Iterator<Item = &'a Self>) -> Vec<u8> {
        let v: Vec<ObdV1<'static>> = readings
            .map(|r| ObdV1 {
                ts_ms: r.ts_ms,
                rpm: Some(r.rpm as f32),
                speed_kmh: Some(r.speed_kmh as f32),
                coolant_c: Some(r.coolant_c as f32),
                fuel_pct: Some(r.fuel_pct as f32),
                engine_load_pct: Some(r.engine_load_pct as f32),
                odometer_km: Some(r.odometer_km),
                dtc: Some(r.dtc.into_iter().collect()),
            })
            .collect();
        wire::encode_obd(&v)
    }

    fn break_range(&mut self, variant: u64) {
        match variant % 4 {
            0 => self.rpm = 25_000.0,
            1 => self.fuel_pct = 150.0,
            2 => self.coolant_c = 250.0,
            _ => self.engine_load_pct = -3.0,
        }
    }

    fn digest(&self) -> u64 {
        crate::manifest::obd_digest(
            self.ts_ms,
            [
                Some(self.rpm),
                Some(self.speed_kmh),
                Some(self.coolant_c),
                Some(self.fuel_pct),
                Some(self.engine_load_pct),
                Some(self.odometer_km),
            ],
            self.dtc.as_slice(),
        )
    }
}

/// Encodes readings of one vehicle and kind. `Format::Json` takes exactly one reading.
pub fn encode<'a, T, I>(format: Format, readings: I) -> Vec<u8>
where
    T: Reading + 'a,
    I: IntoIterator<Item = &'a T>,
    I::IntoIter: ExactSizeIterator,
{
    let readings = readings.into_iter();
    match format {
        Format::Json => {
            debug_assert_eq!(readings.len(), 1, "a JSON object holds one reading");
            let mut out = Vec::with_capacity(192);
            for r in readings.take(1) {
                r.write_json(&mut out);
            }
            out
        }
        Format::JsonBatch => {
            let mut out = Vec::with_capacity(2 + readings.len() * 192);
            out.push(b'[');
            for (i, r) in readings.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                r.write_json(&mut out);
            }
            out.push(b']');
            out
        }
        Format::Binary => T::encode_binary(readings),
    }
}

/// Breaks a payload so that it cannot be parsed at all: JSON is cut in half (no prefix of
/// a JSON object or array is valid JSON), binary keeps its `0xF1 0x01` header followed by
/// garbage that is an overlong varint (postcard's length prefix cannot decode).
pub fn malformed(format: Format, mut valid: Vec<u8>, noise: u64) -> Vec<u8> {
    match format {
        Format::Json | Format::JsonBatch => {
            let cut = (valid.len() / 2).max(1);
            valid.truncate(cut);
            valid
        }
        Format::Binary => {
            let mut out = vec![wire::MAGIC, wire::VERSION_1];
            out.extend_from_slice(&[0xFF; 11]);
            out.extend_from_slice(&noise.to_le_bytes());
            out
        }
    }
}

fn push_id(out: &mut String, id_prefix: &str, width: usize, index: u32) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(u64::from(index) + 1);
    out.push_str(id_prefix);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.push_str(digits);
}

/// `{id_prefix}{index + 1}`, zero-padded to `width` digits: `veh-000001`.
pub fn vehicle_id(id_prefix: &str, width: usize, index: u32) -> String {
    let mut id = String::with_capacity(id_prefix.len() + width);
    push_id(&mut id, id_prefix, width, index);
    id
}

/// Digits in the largest vehicle number, at least 6.
pub fn id_width(vehicles: u32) -> usize {
    vehicles.to_string().len().max(6)
}

/// `{prefix}/{vehicle_id}/{gps|obd}`.
pub fn topic(prefix: &str, vehicle_id: &str, kind: Kind) -> String {
    let mut t = String::with_capacity(prefix.len() + vehicle_id.len() + 6);
    t.push_str(prefix);
    t.push('/');
    t.push_str(vehicle_id);
    t.push('/');
    t.push_str(kind.as_str());
    t
}

/// The topic of vehicle `index`, built in one allocation (the publishing hot path).
pub fn vehicle_topic(
    prefix: &str,
    id_prefix: &str,
    width: usize,
    index: u32,
    kind: Kind,
) -> String {
    let mut t = String::with_capacity(prefix.len() + id_prefix.len() + width + 6);
    t.push_str(prefix);
    t.push('/');
    push_id(&mut t, id_prefix, width, index);
    t.push('/');
    t.push_str(kind.as_str());
    t
}

#[cfg(test)]
mod tests {
    use super::json::fixed;
    use super::*;
    use crate::spec::{check_payload, Checked};

    pub(crate) fn gps() -> Gps {
        Gps {
            ts_ms: 1_700_000_000_123,
            lat: 52.512_345_6,
            lon: 13.401_234_5,
            speed_kmh: 48.3,
            heading_deg: 359.9,
            alt_m: 34.5,
            accuracy_m: 4.2,
        }
    }

    pub(crate) fn obd() -> Obd {
        Obd {
            ts_ms: 1_700_000_000_456,
            rpm: 2150.0,
            speed_kmh: 48.3,
            coolant_c: 88.1,
            fuel_pct: 63.4,
            engine_load_pct: 31.0,
            odometer_km: 123_456.7,
            dtc: Some("P0301"),
        }
    }

    #[test]
    fn json_object_is_exact() {
        let p = encode(Format::Json, &[gps()]);
        assert_eq!(
            std::str::from_utf8(&p).unwrap(),
            r#"{"ts":1700000000123,"lat":52.5123456,"lon":13.4012345,"speed_kmh":48.3,"heading_deg":359.9,"alt_m":34.5,"accuracy_m":4.2}"#
        );
        let p = encode(Format::Json, &[Obd { dtc: None, ..obd() }]);
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["rpm"], 2150);
        assert_eq!(v["dtc"], serde_json::json!([]));
    }

    #[test]
    fn fixed_point_text_parses_back_to_the_same_value() {
        let text = |x: f64, d: u32| {
            let mut out = Vec::new();
            fixed(&mut out, x, d);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(52.1, 1), "52.1");
        assert_eq!(text(900.0, 1), "900");
        assert_eq!(text(-3.0, 1), "-3");
        assert_eq!(text(-0.04, 1), "0");
        assert_eq!(text(-12.5, 1), "-12.5");
        assert_eq!(text(52.500_000_1, 7), "52.5000001");
        assert_eq!(text(13.08, 7), "13.08");
        assert_eq!(text(1e300, 1), "1e300");
        let mut rng = crate::rng::SimRng::new(1, 1);
        for _ in 0..100_000 {
            for (d, lo, hi) in [(7, -180.0, 180.0), (1, -500.0, 200_000.0)] {
                let x = crate::vehicle::quantize(rng.range(lo, hi), 10f64.powi(d as i32));
                assert_eq!(text(x, d).parse::<f64>().unwrap(), x, "{x}");
            }
        }
    }

    #[test]
    fn every_format_round_trips_through_the_spec_checker() {
        for format in Format::ALL {
            let n = if format == Format::Json { 1 } else { 3 };
            let g: Vec<Gps> = (0..n)
                .map(|i| Gps {
                    ts_ms: gps().ts_ms + i,
                    ..gps()
                })
                .collect();
            let o: Vec<Obd> = (0..n)
                .map(|i| Obd {
                    ts_ms: obd().ts_ms + i,
                    ..obd()
                })
                .collect();
            let got = check_payload(Kind::Gps, &encode(format, &g)).unwrap();
            assert_eq!(got.len(), n as usize, "{format:?}");
            match &got[0] {
                Ok(Checked::Gps(c)) => {
                    assert_eq!((c.ts_ms, c.lat, c.lon), (g[0].ts_ms, g[0].lat, g[0].lon));
                    assert_eq!(c.speed_kmh.map(|s| (s * 10.0).round()), Some(483.0));
                }
                other => panic!("{format:?}: {other:?}"),
            }
            let got = check_payload(Kind::Obd, &encode(format, &o)).unwrap();
            match &got[0] {
                Ok(Checked::Obd(c)) => {
                    assert_eq!(c.odometer_km, Some(123_456.7));
                    assert_eq!(c.dtc.as_deref(), Some(&["P0301".to_string()][..]));
                }
                other => panic!("{format:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_payloads_do_not_parse() {
        for format in Format::ALL {
            for kind in Kind::ALL {
                let valid = match kind {
                    Kind::Gps => encode(format, &[gps()]),
                    Kind::Obd => encode(format, &[obd()]),
                };
                let bad = malformed(format, valid, 0xDEAD_BEEF);
                assert!(check_payload(kind, &bad).is_err(), "{format:?} {kind:?}");
                if format == Format::Binary {
                    assert_eq!(bad[0], 0xF1);
                }
            }
        }
    }

    #[test]
    fn every_out_of_range_variant_is_rejected_and_only_that_reading() {
        for variant in 0..5 {
            let mut bad = gps();
            bad.break_range(variant);
            for format in [Format::JsonBatch, Format::Binary] {
                let got = check_payload(Kind::Gps, &encode(format, &[gps(), bad])).unwrap();
                assert!(
                    got[0].is_ok() && got[1].is_err(),
                    "gps {variant} {format:?}"
                );
            }
        }
        for variant in 0..4 {
            let mut bad = obd();
            bad.break_range(variant);
            for format in [Format::Json, Format::Binary] {
                let got = check_payload(Kind::Obd, &encode(format, &[bad])).unwrap();
                assert!(got[0].is_err(), "obd {variant} {format:?}");
            }
        }
    }

    #[test]
    fn ids_and_topics() {
        assert_eq!(vehicle_id("veh-", 6, 0), "veh-000001");
        assert_eq!(id_width(1_000_000), 7);
        assert_eq!(
            vehicle_id("veh-", id_width(1_000_000), 999_999),
            "veh-1000000"
        );
        assert_eq!(
            topic("fleet", "veh-000001", Kind::Obd),
            "fleet/veh-000001/obd"
        );
        assert_eq!(
            vehicle_topic("fleet", "v", 6, 41, Kind::Gps),
            "fleet/v000042/gps"
        );
    }

    #[test]
    fn largest_batches_stay_under_the_payload_limit() {
        let g = vec![gps(); 1000];
        let o = vec![obd(); 1000];
        for format in [Format::JsonBatch, Format::Binary] {
            assert!(encode(format, &g).len() < crate::spec::MAX_PAYLOAD_BYTES);
            assert!(encode(format, &o).len() < crate::spec::MAX_PAYLOAD_BYTES);
        }
    }
}
