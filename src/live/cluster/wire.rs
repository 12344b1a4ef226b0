//! The batch one node sends the others after a commit: its vehicles' newest positions and OBD
//! values. Binary and fixed-width, because every node decodes every other node's batches:
//!
//! ```text
//! u8 version (1) · i64 commit time (Unix µs) · records…
//! record: u8 kind · u8 id length · id bytes · fields
//!   kind 1 (GPS): i64 ts · f64 lat · f64 lon · f32 speed_kmh · f32 heading_deg
//!   kind 2 (OBD): i64 ts · f32 rpm · f32 speed_kmh · f32 coolant_c · f32 fuel_pct
//!                 · f32 engine_load_pct · f64 odometer_km · u8 codes (255: absent) · 5 × codes
//! ```
//! Big-endian; NaN stands for an absent value (readings never hold NaN). Anyone who can
//! publish on the subject can send bytes here, so [`decode`] checks every field as ingestion
//! does and refuses the whole batch at the first bad one.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::ingest::reading::{Dtc, ObdReading};
use crate::live::Position;
use crate::vehicle_id::VehicleId;

const VERSION: u8 = 1;
const GPS: u8 = 1;
const OBD: u8 = 2;
const NO_CODES: u8 = 255;
/// The most records one batch may hold (a commit group is at most `ingest.batch_rows`).
pub const MAX_RECORDS: usize = 1_000_000;

/// A decoded batch.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    /// When the sending node committed these, Unix µs (its clock).
    pub committed_us: i64,
    pub positions: Vec<(String, Position)>,
    pub obd: Vec<(String, ObdReading)>,
}

/// Starts a batch committed at `committed_us`.
pub fn begin(buf: &mut BytesMut, committed_us: i64) {
    buf.put_u8(VERSION);
    buf.put_i64(committed_us);
}

fn put_opt32(buf: &mut BytesMut, v: Option<f32>) {
    buf.put_f32(v.unwrap_or(f32::NAN));
}

fn put_id(buf: &mut BytesMut, id: &str) {
    // Ids are at most 64 bytes (validated at ingestion).
    buf.put_u8(id.len().min(255) as u8);
    buf.put_slice(&id.as_bytes()[..id.len().min(255)]);
}

pub fn put_position(buf: &mut BytesMut, id: &str, p: &Position) {
    buf.put_u8(GPS);
    put_id(buf, id);
    buf.put_i64(p.ts);
    buf.put_f64(p.lat);
    buf.put_f64(p.lon);
    put_opt32(buf, p.speed_kmh);
    put_opt32(buf, p.heading_deg);
}

pub fn put_obd(buf: &mut BytesMut, id: &str, r: &ObdReading) {
    buf.put_u8(OBD);
    put_id(buf, id);
    buf.put_i64(r.ts);
    for v in [
        r.rpm,
        r.speed_kmh,
        r.coolant_c,
        r.fuel_pct,
        r.engine_load_pct,
    ] {
        put_opt32(buf, v);
    }
    buf.put_f64(r.odometer_km.unwrap_or(f64::NAN));
    match &r.dtc {
        None => buf.put_u8(NO_CODES),
        Some(codes) => {
            let n = codes.len().min(NO_CODES as usize - 1);
            buf.put_u8(n as u8);
            for c in &codes[..n] {
                buf.put_slice(&c.0);
            }
        }
    }
}

/// Why a batch was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("unknown version {0}")]
    Version(u8),
    #[error("batch ends in the middle of a record")]
    Truncated,
    #[error("unknown record kind {0}")]
    Kind(u8),
    #[error("bad vehicle id")]
    VehicleId,
    #[error("value out of range")]
    Range,
    #[error("bad trouble code")]
    Code,
    #[error("more than {MAX_RECORDS} records")]
    TooMany,
}

fn need(b: &Bytes, n: usize) -> Result<(), WireError> {
    if b.remaining() < n {
        return Err(WireError::Truncated);
    }
    Ok(())
}

/// A finite value or absent (NaN); infinities are refused.
fn opt32(b: &mut Bytes) -> Result<Option<f32>, WireError> {
    let v = b.get_f32();
    if v.is_nan() {
        Ok(None)
    } else if v.is_finite() {
        Ok(Some(v))
    } else {
        Err(WireError::Range)
    }
}

pub fn decode(mut b: Bytes) -> Result<Batch, WireError> {
    need(&b, 9)?;
    let version = b.get_u8();
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let mut batch = Batch {
        committed_us: b.get_i64(),
        ..Batch::default()
    };
    while b.has_remaining() {
        if batch.positions.len() + batch.obd.len() >= MAX_RECORDS {
            return Err(WireError::TooMany);
        }
        need(&b, 2)?;
        let kind = b.get_u8();
        let len = b.get_u8() as usize;
        need(&b, len)?;
        let raw = b.split_to(len);
        let id = std::str::from_utf8(&raw)
            .ok()
            .and_then(|s| VehicleId::parse(s).ok())
            .ok_or(WireError::VehicleId)?
            .as_str()
            .to_string();
        match kind {
            GPS => {
                need(&b, 8 + 8 + 8 + 4 + 4)?;
                let ts = b.get_i64();
                let (lat, lon) = (b.get_f64(), b.get_f64());
                if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                    return Err(WireError::Range);
                }
                let speed_kmh = opt32(&mut b)?;
                let heading_deg = opt32(&mut b)?;
                batch.positions.push((
                    id,
                    Position {
                        lat,
                        lon,
                        ts,
                        speed_kmh,
                        heading_deg,
                    },
                ));
            }
            OBD => {
                need(&b, 8 + 5 * 4 + 8 + 1)?;
                let ts = b.get_i64();
                let (rpm, speed_kmh, coolant_c, fuel_pct, engine_load_pct) = (
                    opt32(&mut b)?,
                    opt32(&mut b)?,
                    opt32(&mut b)?,
                    opt32(&mut b)?,
                    opt32(&mut b)?,
                );
                let odometer = b.get_f64();
                let odometer_km = match odometer {
                    v if v.is_nan() => None,
                    v if v.is_finite() => Some(v),
                    _ => return Err(WireError::Range),
                };
                let dtc = match b.get_u8() {
                    NO_CODES => None,
                    n => {
                        need(&b, n as usize * 5)?;
                        let mut codes = Vec::with_capacity(n as usize);
                        for _ in 0..n {
                            let mut c = [0u8; 5];
                            b.copy_to_slice(&mut c);
                            if !dtc_ok(&c) {
                                return Err(WireError::Code);
                            }
                            codes.push(Dtc(c));
                        }
                        Some(codes)
                    }
                };
                batch.obd.push((
                    id,
                    ObdReading {
                        ts,
                        rpm,
                        speed_kmh,
                        coolant_c,
                        fuel_pct,
                        engine_load_pct,
                        odometer_km,
                        dtc,
                    },
                ));
            }
            other => return Err(WireError::Kind(other)),
        }
    }
    Ok(batch)
}

/// `^[PCBU][0-9A-F]{4}$`, as ingestion accepts.
fn dtc_ok(c: &[u8; 5]) -> bool {
    matches!(c[0], b'P' | b'C' | b'B' | b'U')
        && c[1..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn position() -> impl Strategy<Value = Position> {
        (
            -90.0..=90.0f64,
            -180.0..=180.0f64,
            any::<i64>(),
            proptest::option::of(0.0..400.0f32),
            proptest::option::of(0.0..360.0f32),
        )
            .prop_map(|(lat, lon, ts, speed_kmh, heading_deg)| Position {
                lat,
                lon,
                ts,
                speed_kmh,
                heading_deg,
            })
    }

    fn obd() -> impl Strategy<Value = ObdReading> {
        let code = (
            prop::sample::select(vec![b'P', b'C', b'B', b'U']),
            prop::collection::vec(prop::sample::select(b"0123456789ABCDEF".to_vec()), 4),
        )
            .prop_map(|(k, d)| Dtc([k, d[0], d[1], d[2], d[3]]));
        (
            any::<i64>(),
            prop::collection::vec(proptest::option::of(-1e6..1e6f32), 5),
            proptest::option::of(0.0..1e7f64),
            proptest::option::of(prop::collection::vec(code, 0..20)),
        )
            .prop_map(|(ts, v, odometer_km, dtc)| ObdReading {
                ts,
                rpm: v[0],
                speed_kmh: v[1],
                coolant_c: v[2],
                fuel_pct: v[3],
                engine_load_pct: v[4],
                odometer_km,
                dtc,
            })
    }

    fn id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._-]{1,64}"
    }

    proptest! {
        #[test]
        fn batches_round_trip(
            committed in any::<i64>(),
            ps in prop::collection::vec((id(), position()), 0..20),
            os in prop::collection::vec((id(), obd()), 0..20),
        ) {
            let mut buf = BytesMut::new();
            begin(&mut buf, committed);
            for (id, p) in &ps {
                put_position(&mut buf, id, p);
            }
            for (id, r) in &os {
                put_obd(&mut buf, id, r);
            }
            let back = decode(buf.freeze()).unwrap();
            prop_assert_eq!(back, Batch { committed_us: committed, positions: ps, obd: os });
        }

        #[test]
        fn any_bytes_are_decoded_or_refused_without_panicking(raw in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(Bytes::from(raw));
        }

        #[test]
        fn a_cut_batch_is_refused_unless_cut_between_records(
            ps in prop::collection::vec((id(), position()), 1..5),
            cut in 1usize..200,
        ) {
            let mut buf = BytesMut::new();
            begin(&mut buf, 7);
            let mut ends = vec![buf.len()];
            for (id, p) in &ps {
                put_position(&mut buf, id, p);
                ends.push(buf.len());
            }
            let whole = buf.freeze();
            let len = whole.len() - cut.min(whole.len() - 9);
            let decoded = decode(whole.slice(..len));
            match ends.iter().position(|&e| e == len) {
                Some(n) => prop_assert_eq!(decoded.unwrap().positions, ps[..n].to_vec()),
                None => prop_assert_eq!(decoded, Err(WireError::Truncated)),
            }
        }
    }

    #[test]
    fn hostile_values_are_refused() {
        let p = Position {
            lat: 1.0,
            lon: 2.0,
            ts: 3,
            speed_kmh: None,
            heading_deg: Some(90.0),
        };
        let encode = |id: &str, p: &Position| {
            let mut buf = BytesMut::new();
            begin(&mut buf, 0);
            put_position(&mut buf, id, p);
            buf.freeze()
        };
        assert!(decode(encode("v-1", &p)).is_ok());
        assert_eq!(decode(encode("bad/id", &p)), Err(WireError::VehicleId));
        assert_eq!(decode(encode("", &p)), Err(WireError::VehicleId));
        let far = Position { lat: 91.0, ..p };
        assert_eq!(decode(encode("v", &far)), Err(WireError::Range));
        let inf = Position {
            speed_kmh: Some(f32::INFINITY),
            ..p
        };
        assert_eq!(decode(encode("v", &inf)), Err(WireError::Range));
        assert_eq!(
            decode(Bytes::from_static(&[2, 0, 0, 0, 0, 0, 0, 0, 0])),
            Err(WireError::Version(2))
        );
        assert_eq!(
            decode(Bytes::from_static(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 9, 1, b'v'])),
            Err(WireError::Kind(9))
        );
        let mut bad_code = BytesMut::new();
        begin(&mut bad_code, 0);
        put_obd(
            &mut bad_code,
            "v",
            &ObdReading {
                ts: 0,
                rpm: None,
                speed_kmh: None,
                coolant_c: None,
                fuel_pct: None,
                engine_load_pct: None,
                odometer_km: None,
                dtc: Some(vec![Dtc(*b"X0000")]),
            },
        );
        assert_eq!(decode(bad_code.freeze()), Err(WireError::Code));
        assert_eq!(decode(Bytes::new()), Err(WireError::Truncated));
    }
}
