//! Good readings written back as payloads, for the round-trip checks of [`crate::decoded`].
//!
//! JSON numbers are written with `{:e}` (Rust's shortest round-trip digits, with an exponent,
//! which docs/telemetry.md allows for every number but `ts`), so they parse back to the same
//! `f64`. The 32-bit values are widened first: the `f64` is then exactly the `f32`, and reading
//! it back narrows without a second rounding.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat};
use fleetd::ingest::reading::{GpsReading, ObdReading};
use fleetd::wire::{self, GpsV1, ObdV1};

/// `ts` as JSON: integer epoch milliseconds when it is a whole millisecond, else an RFC 3339
/// string with microseconds.
fn ts(out: &mut String, ts: i64) {
    if ts % 1000 == 0 {
        write!(out, "{}", ts / 1000).unwrap();
    } else {
        let t = DateTime::from_timestamp_micros(ts).expect("a decoded ts is representable");
        write!(
            out,
            "\"{}\"",
            t.to_rfc3339_opts(SecondsFormat::Micros, true)
        )
        .unwrap();
    }
}

fn field_f64(out: &mut String, name: &str, v: Option<f64>) {
    if let Some(v) = v {
        write!(out, ",\"{name}\":{v:e}").unwrap();
    }
}

fn field_f32(out: &mut String, name: &str, v: Option<f32>) {
    field_f64(out, name, v.map(f64::from));
}

/// A JSON array of `readings`.
pub fn gps_json(readings: &[GpsReading]) -> String {
    let mut out = String::from("[");
    for (i, r) in readings.iter().enumerate() {
        out.push_str(if i == 0 { "{\"ts\":" } else { ",{\"ts\":" });
        ts(&mut out, r.ts);
        field_f64(&mut out, "lat", Some(r.lat));
        field_f64(&mut out, "lon", Some(r.lon));
        field_f32(&mut out, "speed_kmh", r.speed_kmh);
        field_f32(&mut out, "heading_deg", r.heading_deg);
        field_f32(&mut out, "alt_m", r.alt_m);
        field_f32(&mut out, "accuracy_m", r.accuracy_m);
        out.push('}');
    }
    out.push(']');
    out
}

/// A JSON array of `readings`.
pub fn obd_json(readings: &[ObdReading]) -> String {
    let mut out = String::from("[");
    for (i, r) in readings.iter().enumerate() {
        out.push_str(if i == 0 { "{\"ts\":" } else { ",{\"ts\":" });
        ts(&mut out, r.ts);
        field_f32(&mut out, "rpm", r.rpm);
        field_f32(&mut out, "speed_kmh", r.speed_kmh);
        field_f32(&mut out, "coolant_c", r.coolant_c);
        field_f32(&mut out, "fuel_pct", r.fuel_pct);
        field_f32(&mut out, "engine_load_pct", r.engine_load_pct);
        field_f64(&mut out, "odometer_km", r.odometer_km);
        if let Some(codes) = &r.dtc {
            out.push_str(",\"dtc\":[");
            for (j, code) in codes.iter().enumerate() {
                let sep = if j == 0 { "" } else { "," };
                // A Dtc is 5 ASCII letters and digits: nothing to escape.
                write!(out, "{sep}\"{}\"", code.as_str()).unwrap();
            }
            out.push(']');
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// A binary payload of `readings`; each `ts` must be a whole millisecond.
pub fn gps_binary(readings: &[GpsReading]) -> Vec<u8> {
    let v1: Vec<GpsV1> = readings
        .iter()
        .map(|r| GpsV1 {
            ts_ms: whole_ms(r.ts),
            lat: r.lat,
            lon: r.lon,
            speed_kmh: r.speed_kmh,
            heading_deg: r.heading_deg,
            alt_m: r.alt_m,
            accuracy_m: r.accuracy_m,
        })
        .collect();
    wire::encode_gps(&v1)
}

/// A binary payload of `readings`; each `ts` must be a whole millisecond.
pub fn obd_binary(readings: &[ObdReading]) -> Vec<u8> {
    let v1: Vec<ObdV1<'_>> = readings
        .iter()
        .map(|r| ObdV1 {
            ts_ms: whole_ms(r.ts),
            rpm: r.rpm,
            speed_kmh: r.speed_kmh,
            coolant_c: r.coolant_c,
            fuel_pct: r.fuel_pct,
            engine_load_pct: r.engine_load_pct,
            odometer_km: r.odometer_km,
            dtc: r
                .dtc
                .as_ref()
                .map(|codes| codes.iter().map(|c| c.as_str()).collect()),
        })
        .collect();
    wire::encode_obd(&v1)
}

fn whole_ms(ts: i64) -> i64 {
    assert_eq!(ts % 1000, 0, "binary ts is whole milliseconds");
    ts / 1000
}
