//! The value rules of docs/telemetry.md, shared by the JSON and the binary decoders.
//!
//! Both decoders first turn their input into a [`GpsInput`] or [`ObdInput`] (wire types
//! checked, numbers widened to `f64`, `ts` converted to microseconds), then call [`gps`] or
//! [`obd`] here, so a reading is judged the same way whatever its encoding.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::ingest::reading::{Dtc, GpsReading, ObdReading, RejectReason, Window};

/// Most diagnostic trouble codes in one OBD reading.
pub(crate) const MAX_DTC_CODES: usize = 64;

/// Longest piece of client input echoed into a rejection detail, in characters.
const ECHO_CHARS: usize = 40;

/// Why one reading is rejected; becomes a [`crate::ingest::reading::Rejection`] once the decoder
/// knows the reading's place in the payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub reason: RejectReason,
    pub detail: String,
}

impl Fault {
    pub(crate) fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Fault {
            reason,
            detail: detail.into(),
        }
    }

    pub(crate) fn missing(field: &str) -> Self {
        Fault::new(RejectReason::MissingField, format!("missing field {field}"))
    }
}

/// The allowed range of a number, printed in Rust range syntax.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// `lo..=hi`
    Closed(f64, f64),
    /// `lo..hi`
    HalfOpen(f64, f64),
    /// `lo..`
    AtLeast(f64),
}

impl Limit {
    fn contains(self, v: f64) -> bool {
        match self {
            Limit::Closed(lo, hi) => lo <= v && v <= hi,
            Limit::HalfOpen(lo, hi) => lo <= v && v < hi,
            Limit::AtLeast(lo) => lo <= v,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Closed(lo, hi) => write!(f, "{lo}..={hi}"),
            Limit::HalfOpen(lo, hi) => write!(f, "{lo}..{hi}"),
            Limit::AtLeast(lo) => write!(f, "{lo}.."),
        }
    }
}

pub(crate) const LAT: Limit = Limit::Closed(-90.0, 90.0);
pub(crate) const LON: Limit = Limit::Closed(-180.0, 180.0);
pub(crate) const SPEED_KMH: Limit = Limit::Closed(0.0, 400.0);
pub(crate) const HEADING_DEG: Limit = Limit::HalfOpen(0.0, 360.0);
pub(crate) const ALT_M: Limit = Limit::Closed(-500.0, 9000.0);
pub(crate) const ACCURACY_M: Limit = Limit::AtLeast(0.0);
pub(crate) const RPM: Limit = Limit::Closed(0.0, 20_000.0);
pub(crate) const COOLANT_C: Limit = Limit::Closed(-60.0, 200.0);
pub(crate) const PERCENT: Limit = Limit::Closed(0.0, 100.0);
pub(crate) const ODOMETER_KM: Limit = Limit::AtLeast(0.0);

/// A GPS reading whose wire types are right but whose values are not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GpsInput {
    /// Microseconds since the Unix epoch, UTC.
    pub ts: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: Option<f64>,
    pub heading_deg: Option<f64>,
    pub alt_m: Option<f64>,
    pub accuracy_m: Option<f64>,
}

/// An OBD reading whose wire types are right but whose values are not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObdInput {
    /// Microseconds since the Unix epoch, UTC.
    pub ts: i64,
    pub rpm: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub coolant_c: Option<f64>,
    pub fuel_pct: Option<f64>,
    pub engine_load_pct: Option<f64>,
    pub odometer_km: Option<f64>,
    /// Already parsed code by code (see [`dtc_code`]); the first bad one is kept as the
    /// fault so that it is reported after the range checks, like in field order.
    pub dtc: Option<Result<Vec<Dtc>, Fault>>,
}

/// Checks ranges, then the acceptance window.
pub(crate) fn gps(input: GpsInput, now_us: i64, window: &Window) -> Result<GpsReading, Fault> {
    let reading = GpsReading {
        ts: input.ts,
        lat: in_range_f64("lat", input.lat, LAT)?,
        lon: in_range_f64("lon", input.lon, LON)?,
        speed_kmh: opt_f32("speed_kmh", input.speed_kmh, SPEED_KMH)?,
        heading_deg: opt_f32("heading_deg", input.heading_deg, HEADING_DEG)?,
        alt_m: opt_f32("alt_m", input.alt_m, ALT_M)?,
        accuracy_m: opt_f32("accuracy_m", input.accuracy_m, ACCURACY_M)?,
    };
    check_window(reading.ts, now_us, window)?;
    Ok(reading)
}

/// Checks ranges, the codes, that some value is present, then the acceptance window.
pub(crate) fn obd(input: ObdInput, now_us: i64, window: &Window) -> Result<ObdReading, Fault> {
    let reading = ObdReading {
        ts: input.ts,
        rpm: opt_f32("rpm", input.rpm, RPM)?,
        speed_kmh: opt_f32("speed_kmh", input.speed_kmh, SPEED_KMH)?,
        coolant_c: opt_f32("coolant_c", input.coolant_c, COOLANT_C)?,
        fuel_pct: opt_f32("fuel_pct", input.fuel_pct, PERCENT)?,
        engine_load_pct: opt_f32("engine_load_pct", input.engine_load_pct, PERCENT)?,
        odometer_km: match input.odometer_km {
            Some(v) => Some(in_range_f64("odometer_km", v, ODOMETER_KM)?),
            None => None,
        },
        dtc: input.dtc.transpose()?,
    };
    let has_value = reading.rpm.is_some()
        || reading.speed_kmh.is_some()
        || reading.coolant_c.is_some()
        || reading.fuel_pct.is_some()
        || reading.engine_load_pct.is_some()
        || reading.odometer_km.is_some()
        || reading.dtc.is_some();
    if !has_value {
        return Err(Fault::new(
            RejectReason::NoObdValues,
            "obd reading has no value besides ts",
        ));
    }
    check_window(reading.ts, now_us, window)?;
    Ok(reading)
}

#[inline]
fn in_range_f64(field: &'static str, v: f64, limit: Limit) -> Result<f64, Fault> {
    if v.is_finite() && limit.contains(v) {
        Ok(v)
    } else {
        Err(range_fault(field, v, limit))
    }
}

/// The columns are `real`: the value is checked before and after narrowing, so that e.g. a
/// heading of 359.999999999 (360 as `f32`) cannot slip past `< 360`, nor an accuracy of
/// 1e39 (infinite as `f32`) past `>= 0`.
#[inline]
fn opt_f32(field: &'static str, v: Option<f64>, limit: Limit) -> Result<Option<f32>, Fault> {
    let Some(v) = v else { return Ok(None) };
    let narrow = v as f32;
    if v.is_finite() && limit.contains(v) && narrow.is_finite() && limit.contains(f64::from(narrow))
    {
        Ok(Some(narrow))
    } else {
        Err(range_fault(field, v, limit))
    }
}

/// Kept out of line: the checks above run for every value, this only for bad ones.
#[cold]
#[inline(never)]
fn range_fault(field: &str, v: f64, limit: Limit) -> Fault {
    let detail = if !v.is_finite() {
        format!("{field} {v} is not finite")
    } else if !limit.contains(v) {
        match limit {
            // "is outside 0.." would read as a sentence with trailing dots.
            Limit::AtLeast(lo) => format!("{field} {v} is below {lo}"),
            _ => format!("{field} {v} is outside {limit}"),
        }
    } else if !(v as f32).is_finite() {
        format!("{field} {v} is outside the range of a 32-bit float")
    } else {
        // In range as f64, rounds onto an excluded bound as f32.
        format!("{field} {v} is outside {limit} as a 32-bit float")
    };
    Fault::new(RejectReason::OutOfRange, detail)
}

/// The instants chrono can represent, in epoch milliseconds.
const MIN_MS: i64 = DateTime::<Utc>::MIN_UTC.timestamp_millis();
const MAX_MS: i64 = DateTime::<Utc>::MAX_UTC.timestamp_millis();

/// Unix epoch milliseconds to microseconds, refusing instants chrono cannot represent.
#[inline]
pub(crate) fn ts_from_millis(ms: i64) -> Result<i64, Fault> {
    if (MIN_MS..=MAX_MS).contains(&ms) {
        // Cannot overflow: chrono's range is about ±262,000 years, i64 micros ±292,000.
        Ok(ms * 1000)
    } else {
        Err(ts_range_fault(ms))
    }
}

#[cold]
#[inline(never)]
fn ts_range_fault(ms: i64) -> Fault {
    Fault::new(
        RejectReason::BadTimestamp,
        format!("ts {ms} is outside the supported range of epoch milliseconds"),
    )
}

/// `ts > now + max_future` or `ts < now - max_age` is refused; the bounds themselves pass.
#[inline]
pub(crate) fn check_window(ts: i64, now_us: i64, window: &Window) -> Result<(), Fault> {
    let too_new = ts > now_us.saturating_add(micros(window.max_future));
    let too_old = ts < now_us.saturating_sub(micros(window.max_age));
    if too_new || too_old {
        Err(window_fault(ts, too_new, window))
    } else {
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn window_fault(ts: i64, too_new: bool, window: &Window) -> Fault {
    if too_new {
        Fault::new(
            RejectReason::TsInFuture,
            format!(
                "ts {} is more than {:?} ahead of the daemon clock",
                fmt_ts(ts),
                window.max_future
            ),
        )
    } else {
        Fault::new(
            RejectReason::TsTooOld,
            format!(
                "ts {} is older than the retention of {:?}",
                fmt_ts(ts),
                window.max_age
            ),
        )
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn fmt_ts(ts: i64) -> String {
    match DateTime::from_timestamp_micros(ts) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => format!("{ts}us"),
    }
}

/// Parses the code at `index` of a `dtc` list: `^[PCBU][0-9A-F]{4}$`, nothing else.
pub(crate) fn dtc_code(index: usize, code: &str) -> Result<Dtc, Fault> {
    if let Ok(bytes) = <[u8; 5]>::try_from(code.as_bytes()) {
        let system_ok = matches!(bytes[0], b'P' | b'C' | b'B' | b'U');
        let digits_ok = bytes[1..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'));
        if system_ok && digits_ok {
            return Ok(Dtc(bytes));
        }
    }
    Err(Fault::new(
        RejectReason::BadDtc,
        format!(
            "dtc[{index}] {} does not match [PCBU][0-9A-F]{{4}}",
            echo(code)
        ),
    ))
}

pub(crate) fn too_many_dtcs(count: usize) -> Fault {
    Fault::new(
        RejectReason::BadDtc,
        format!("dtc has {count} codes, at most {MAX_DTC_CODES} allowed"),
    )
}

/// Quotes client text for a detail, cut to a few dozen characters so that a hostile
/// megabyte-long string does not end up in logs and reject rows verbatim.
pub(crate) fn echo(s: &str) -> String {
    match s.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests;
