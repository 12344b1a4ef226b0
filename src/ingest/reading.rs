//! The readings fleetd ingests, after decoding and validation.
//!
//! Timestamps are microseconds since the Unix epoch (UTC): PostgreSQL's `timestamptz`
//! resolution, so `(vehicle_id, ts)` identity is the same in memory and in the table.

use std::time::Duration;

/// Which table a topic's readings go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Gps,
    Obd,
}

/// One validated GPS reading. The vehicle id comes from the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct GpsReading {
    /// Microseconds since the Unix epoch, UTC.
    pub ts: i64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: Option<f32>,
    pub heading_deg: Option<f32>,
    pub alt_m: Option<f32>,
    pub accuracy_m: Option<f32>,
}

/// A diagnostic trouble code such as `P0301`: always 5 ASCII bytes, `^[PCBU][0-9A-F]{4}$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dtc(pub [u8; 5]);

impl Dtc {
    pub fn as_str(&self) -> &str {
        // Only constructed from validated ASCII.
        std::str::from_utf8(&self.0).unwrap_or("?????")
    }
}

/// One validated OBD-II reading: `ts` and at least one value.
#[derive(Debug, Clone, PartialEq)]
pub struct ObdReading {
    /// Microseconds since the Unix epoch, UTC.
    pub ts: i64,
    pub rpm: Option<f32>,
    pub speed_kmh: Option<f32>,
    pub coolant_c: Option<f32>,
    pub fuel_pct: Option<f32>,
    pub engine_load_pct: Option<f32>,
    pub odometer_km: Option<f64>,
    /// `None` when absent; `Some(vec![])` when the tracker reported no codes.
    pub dtc: Option<Vec<Dtc>>,
}

/// The acceptance window for `ts` (docs/telemetry.md).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// How far ahead of the daemon's clock a reading may be.
    pub max_future: Duration,
    /// How old a reading may be (the raw retention).
    pub max_age: Duration,
}

/// Why a reading or a payload was rejected. The code is a metric label and the
/// `telemetry_rejects.reason` prefix, so the set is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Payload larger than the 256 KiB limit.
    PayloadTooLarge,
    /// Topic not `{prefix}/{vehicle_id}/{gps|obd}` or a bad vehicle id.
    BadTopic,
    /// Not valid JSON (syntax, nesting too deep, non-UTF-8, numbers out of f64 range).
    MalformedJson,
    /// Valid JSON but neither an object nor an array of objects.
    NotAnObject,
    /// A JSON array with more than 1,000 readings.
    BatchTooLarge,
    /// A JSON array or binary batch with no readings.
    EmptyBatch,
    /// A `0xF1` payload that does not decode.
    BadBinary,
    /// A `0xF1` payload with a layout version this daemon does not know.
    UnsupportedVersion,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type.
    InvalidField,
    /// A number outside its allowed range, or not finite.
    OutOfRange,
    /// `ts` is neither RFC 3339 nor integer epoch milliseconds.
    BadTimestamp,
    /// `ts` is further ahead than the acceptance window allows.
    TsInFuture,
    /// `ts` is older than the raw retention.
    TsTooOld,
    /// An OBD reading with no value besides `ts`.
    NoObdValues,
    /// A DTC that is not `^[PCBU][0-9A-F]{4}$`.
    BadDtc,
    /// PostgreSQL refused the row although it passed validation.
    DbRejected,
    /// No registered vehicle has the topic's id (`ingest.unknown_vehicles = "reject"`).
    UnknownVehicle,
}

impl RejectReason {
    pub const ALL: [RejectReason; 18] = [
        RejectReason::PayloadTooLarge,
        RejectReason::BadTopic,
        RejectReason::MalformedJson,
        RejectReason::NotAnObject,
        RejectReason::BatchTooLarge,
        RejectReason::EmptyBatch,
        RejectReason::BadBinary,
        RejectReason::UnsupportedVersion,
        RejectReason::MissingField,
        RejectReason::InvalidField,
        RejectReason::OutOfRange,
        RejectReason::BadTimestamp,
        RejectReason::TsInFuture,
        RejectReason::TsTooOld,
        RejectReason::NoObdValues,
        RejectReason::BadDtc,
        RejectReason::DbRejected,
        RejectReason::UnknownVehicle,
    ];

    /// The snake_case code used as a metric label and reason prefix.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::PayloadTooLarge => "payload_too_large",
            RejectReason::BadTopic => "bad_topic",
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::BatchTooLarge => "batch_too_large",
            RejectReason::EmptyBatch => "empty_batch",
            RejectReason::BadBinary => "bad_binary",
            RejectReason::UnsupportedVersion => "unsupported_version",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::TsInFuture => "ts_in_future",
            RejectReason::TsTooOld => "ts_too_old",
            RejectReason::NoObdValues => "no_obd_values",
            RejectReason::BadDtc => "bad_dtc",
            RejectReason::DbRejected => "db_rejected",
            RejectReason::UnknownVehicle => "unknown_vehicle",
        }
    }
}

/// One rejected reading, or a whole payload when `span` covers all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: RejectReason,
    /// Human text naming the field and the rule, e.g. `lat 91.5 is outside -90..=90`.
    pub detail: String,
    /// The bytes of the payload this rejection is about (an array element, or the whole
    /// payload); the stored copy is cut to 4 KiB.
    pub span: std::ops::Range<usize>,
}

/// What one payload decodes into: good readings of the topic's kind, and rejections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub gps: Vec<GpsReading>,
    pub obd: Vec<ObdReading>,
    pub rejects: Vec<Rejection>,
}
