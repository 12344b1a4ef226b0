//! An independent check of payloads against docs/telemetry.md, used by the tests (unit and
//! integration) to prove that what the simulator sends is what it claims: every good
//! reading within the ranges of docs/telemetry.md, every deliberately bad one outside them.
//!
//! It is deliberately not the daemon's decoder: a second reading of the contract.

use fleetd::wire::{GpsV1, ObdV1, MAGIC, VERSION_1};
use serde_json::{Map, Value};

use crate::payload::Kind;

/// Payloads over this size are rejected whole.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Most readings in one JSON array or binary payload.
pub const MAX_BATCH: usize = 1000;
/// How far in the future a reading may be.
pub const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// A GPS reading that satisfies the field rules of docs/telemetry.md.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedGps {
    pub ts_ms: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: Option<f64>,
    pub heading_deg: Option<f64>,
    pub alt_m: Option<f64>,
    pub accuracy_m: Option<f64>,
}

/// An OBD reading that satisfies the field rules of docs/telemetry.md.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedObd {
    pub ts_ms: i64,
    pub rpm: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub coolant_c: Option<f64>,
    pub fuel_pct: Option<f64>,
    pub engine_load_pct: Option<f64>,
    pub odometer_km: Option<f64>,
    pub dtc: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    Gps(CheckedGps),
    Obd(CheckedObd),
}

impl Checked {
    pub fn ts_ms(&self) -> i64 {
        match self {
            Checked::Gps(g) => g.ts_ms,
            Checked::Obd(o) => o.ts_ms,
        }
    }

    /// The manifest checksum of this reading, as `verify` computes it from a stored row.
    pub fn digest(&self) -> u64 {
        match self {
            Checked::Gps(g) => crate::manifest::gps_digest(
                g.ts_ms,
                g.lat,
                g.lon,
                [g.speed_kmh, g.heading_deg, g.alt_m, g.accuracy_m],
            ),
            Checked::Obd(o) => crate::manifest::obd_digest(
                o.ts_ms,
                [
                    o.rpm,
                    o.speed_kmh,
                    o.coolant_c,
                    o.fuel_pct,
                    o.engine_load_pct,
                    o.odometer_km,
                ],
                o.dtc.as_deref().unwrap_or(&[]),
            ),
        }
    }
}

/// Checks one payload. `Err` when the whole payload is rejected; otherwise one result per
/// reading, in payload order (good readings of a batch are stored, bad ones rejected).
pub fn check_payload(kind: Kind, payload: &[u8]) -> Result<Vec<Result<Checked, String>>, String> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "payload of {} bytes is over 256 KiB",
            payload.len()
        ));
    }
    if payload.first() == Some(&MAGIC) {
        return check_binary(kind, payload);
    }
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| format!("malformed json: {e}"))?;
    let items = match value {
        Value::Object(o) => vec![Value::Object(o)],
        Value::Array(a) if a.is_empty() => return Err("empty batch".into()),
        Value::Array(a) if a.len() > MAX_BATCH => return Err("batch over 1000".into()),
        Value::Array(a) => a,
        _ => return Err("neither an object nor an array".into()),
    };
    Ok(items
        .iter()
        .map(|item| match item {
            Value::Object(o) => match kind {
                Kind::Gps => json_gps(o).map(Checked::Gps),
                Kind::Obd => json_obd(o).map(Checked::Obd),
            },
            _ => Err("batch item is not an object".into()),
        })
        .collect())
}

/// Whether a reading's `ts` is inside the acceptance window at `now_ms`.
pub fn in_window(ts_ms: i64, now_ms: i64, max_age_ms: i64) -> bool {
    ts_ms <= now_ms + MAX_FUTURE_MS && ts_ms >= now_ms - max_age_ms
}

fn check_binary(kind: Kind, payload: &[u8]) -> Result<Vec<Result<Checked, String>>, String> {
    if payload.get(1) != Some(&VERSION_1) {
        return Err("unsupported binary version".into());
    }
    let body = &payload[2..];
    let readings: Vec<Result<Checked, String>> = match kind {
        Kind::Gps => {
            let (v, rest) = postcard::take_from_bytes::<Vec<GpsV1>>(body)
                .map_err(|e| format!("bad binary: {e}"))?;
            if !rest.is_empty() {
                return Err("trailing bytes after binary readings".into());
            }
            v.into_iter().map(|g| gps_values(binary_gps(g))).collect()
        }
        Kind::Obd => {
            let (v, rest) = postcard::take_from_bytes::<Vec<ObdV1<'_>>>(body)
                .map_err(|e| format!("bad binary: {e}"))?;
            if !rest.is_empty() {
                return Err("trailing bytes after binary readings".into());
            }
            v.into_iter().map(|o| obd_values(binary_obd(o))).collect()
        }
    };
    match readings.len() {
        0 => Err("empty batch".into()),
        n if n > MAX_BATCH => Err("batch over 1000".into()),
        _ => Ok(readings),
    }
}

fn binary_gps(g: GpsV1) -> CheckedGps {
    CheckedGps {
        ts_ms: g.ts_ms,
        lat: g.lat,
        lon: g.lon,
        speed_kmh: g.speed_kmh.map(f64::from),
        heading_deg: g.heading_deg.map(f64::from),
        alt_m: g.alt_m.map(f64::from),
        accuracy_m: g.accuracy_m.map(f64::from),
    }
}

fn binary_obd(o: ObdV1<'_>) -> CheckedObd {
    CheckedObd {
        ts_ms: o.ts_ms,
        rpm: o.rpm.map(f64::from),
        speed_kmh: o.speed_kmh.map(f64::from),
        coolant_c: o.coolant_c.map(f64::from),
        fuel_pct: o.fuel_pct.map(f64::from),
        engine_load_pct: o.engine_load_pct.map(f64::from),
        odometer_km: o.odometer_km,
        dtc: o.dtc.map(|d| d.into_iter().map(str::to_string).collect()),
    }
}

fn ts(o: &Map<String, Value>) -> Result<i64, String> {
    match o.get("ts") {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| "ts is not an integer".into()),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("ts: {e}")),
        Some(_) => Err("ts has the wrong type".into()),
        None => Err("ts is missing".into()),
    }
}

fn num(o: &Map<String, Value>, name: &str) -> Result<Option<f64>, String> {
    match o.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{name}: bad number")),
        Some(_) => Err(format!("{name} is not a number")),
    }
}

fn json_gps(o: &Map<String, Value>) -> Result<CheckedGps, String> {
    let g = CheckedGps {
        ts_ms: ts(o)?,
        lat: num(o, "lat")?.ok_or("lat is missing")?,
        lon: num(o, "lon")?.ok_or("lon is missing")?,
        speed_kmh: num(o, "speed_kmh")?,
        heading_deg: num(o, "heading_deg")?,
        alt_m: num(o, "alt_m")?,
        accuracy_m: num(o, "accuracy_m")?,
    };
    gps_values(g).map(|c| match c {
        Checked::Gps(g) => g,
        Checked::Obd(_) => unreachable!("gps_values returns gps"),
    })
}

fn json_obd(o: &Map<String, Value>) -> Result<CheckedObd, String> {
    let dtc = match o.get("dtc") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|c| {
                    c.as_str()
                        .map(str::to_string)
                        .ok_or("dtc item is not a string")
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err("dtc is not an array".into()),
    };
    let c = CheckedObd {
        ts_ms: ts(o)?,
        rpm: num(o, "rpm")?,
        speed_kmh: num(o, "speed_kmh")?,
        coolant_c: num(o, "coolant_c")?,
        fuel_pct: num(o, "fuel_pct")?,
        engine_load_pct: num(o, "engine_load_pct")?,
        odometer_km: num(o, "odometer_km")?,
        dtc,
    };
    obd_values(c).map(|c| match c {
        Checked::Obd(o) => o,
        Checked::Gps(_) => unreachable!("obd_values returns obd"),
    })
}

fn range(name: &str, v: Option<f64>, lo: f64, hi: f64, hi_open: bool) -> Result<(), String> {
    let Some(x) = v else { return Ok(()) };
    let above = if hi_open { x >= hi } else { x > hi };
    if !x.is_finite() || x < lo || above {
        return Err(format!("{name} {x} out of range"));
    }
    Ok(())
}

fn gps_values(g: CheckedGps) -> Result<Checked, String> {
    range("lat", Some(g.lat), -90.0, 90.0, false)?;
    range("lon", Some(g.lon), -180.0, 180.0, false)?;
    range("speed_kmh", g.speed_kmh, 0.0, 400.0, false)?;
    range("heading_deg", g.heading_deg, 0.0, 360.0, true)?;
    range("alt_m", g.alt_m, -500.0, 9000.0, false)?;
    range("accuracy_m", g.accuracy_m, 0.0, f64::MAX, false)?;
    Ok(Checked::Gps(g))
}

/// `^[PCBU][0-9A-F]{4}$`
pub fn valid_dtc(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5
        && matches!(b[0], b'P' | b'C' | b'B' | b'U')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
}

fn obd_values(o: CheckedObd) -> Result<Checked, String> {
    range("rpm", o.rpm, 0.0, 20_000.0, false)?;
    range("speed_kmh", o.speed_kmh, 0.0, 400.0, false)?;
    range("coolant_c", o.coolant_c, -60.0, 200.0, false)?;
    range("fuel_pct", o.fuel_pct, 0.0, 100.0, false)?;
    range("engine_load_pct", o.engine_load_pct, 0.0, 100.0, false)?;
    range("odometer_km", o.odometer_km, 0.0, f64::MAX, false)?;
    if let Some(bad) = o.dtc.iter().flatten().find(|c| !valid_dtc(c)) {
        return Err(format!("dtc {bad:?} is not a trouble code"));
    }
    let any = [
        o.rpm,
        o.speed_kmh,
        o.coolant_c,
        o.fuel_pct,
        o.engine_load_pct,
        o.odometer_km,
    ]
    .iter()
    .any(Option::is_some)
        || o.dtc.is_some();
    if !any {
        return Err("obd reading without values".into());
    }
    Ok(Checked::Obd(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_enforces_the_rules_it_is_trusted_with() {
        let ok = |k, s: &str| check_payload(k, s.as_bytes()).map(|v| v.iter().all(Result::is_ok));
        assert_eq!(ok(Kind::Gps, r#"{"ts":1,"lat":90,"lon":-180}"#), Ok(true));
        assert_eq!(
            ok(
                Kind::Gps,
                r#"{"ts":"2024-01-01T00:00:00Z","lat":0,"lon":0}"#
            ),
            Ok(true)
        );
        assert_eq!(ok(Kind::Gps, r#"{"ts":1,"lat":90.1,"lon":0}"#), Ok(false));
        assert_eq!(
            ok(Kind::Gps, r#"{"ts":1,"lat":0,"lon":0,"heading_deg":360}"#),
            Ok(false)
        );
        assert_eq!(ok(Kind::Gps, r#"{"lat":0,"lon":0}"#), Ok(false));
        assert_eq!(ok(Kind::Obd, r#"{"ts":1}"#), Ok(false));
        assert_eq!(ok(Kind::Obd, r#"{"ts":1,"dtc":["P0A8F"]}"#), Ok(true));
        assert_eq!(ok(Kind::Obd, r#"{"ts":1,"dtc":["X0000"]}"#), Ok(false));
        assert!(check_payload(Kind::Gps, b"[]").is_err());
        assert!(check_payload(Kind::Gps, b"{\"ts\":1,").is_err());
        assert!(check_payload(Kind::Gps, &[0xF1, 2, 0]).is_err());
    }

    #[test]
    fn window() {
        assert!(in_window(1_000, 1_000, 10));
        assert!(in_window(1_000 + MAX_FUTURE_MS, 1_000, 10));
        assert!(!in_window(1_001 + MAX_FUTURE_MS, 1_000, 10));
        assert!(!in_window(989, 1_000, 10));
    }
}
