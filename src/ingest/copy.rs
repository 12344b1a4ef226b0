//! PostgreSQL binary `COPY` encoding of readings and rejects: pure, allocation-free per row.
//!
//! Encoding here instead of through `ToSql` per value lets decoder threads turn each message
//! into COPY tuples in parallel, so the writers only concatenate and stream bytes. Format:
//! <https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4>. Geometry is sent as
//! EWKB, which PostGIS's binary input (`geometry_recv`) accepts.

use bytes::BufMut;

use crate::ingest::reading::{GpsReading, ObdReading};

/// `COPY … FROM STDIN` for [`gps_tuple`] rows; column order matches the tuple.
pub const COPY_GPS: &str = "COPY gps_readings (vehicle_id, ts, position, speed_kmh, heading_deg, \
    alt_m, accuracy_m, received_at) FROM STDIN (FORMAT binary)";
/// [`COPY_GPS`] into the deduplicating writer's staging table.
pub const COPY_GPS_STAGE: &str = "COPY fleetd_stage_gps (vehicle_id, ts, position, speed_kmh, \
    heading_deg, alt_m, accuracy_m, received_at) FROM STDIN (FORMAT binary)";
/// `COPY … FROM STDIN` for [`obd_tuple`] rows.
pub const COPY_OBD: &str = "COPY obd_readings (vehicle_id, ts, rpm, speed_kmh, coolant_c, \
    fuel_pct, engine_load_pct, odometer_km, dtc, received_at) FROM STDIN (FORMAT binary)";
/// [`COPY_OBD`] into the deduplicating writer's staging table.
pub const COPY_OBD_STAGE: &str = "COPY fleetd_stage_obd (vehicle_id, ts, rpm, speed_kmh, \
    coolant_c, fuel_pct, engine_load_pct, odometer_km, dtc, received_at) FROM STDIN (FORMAT binary)";
/// `COPY … FROM STDIN` for [`reject_tuple`] rows.
pub const COPY_REJECTS: &str =
    "COPY telemetry_rejects (received_at, topic, reason, payload) FROM STDIN (FORMAT binary)";

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;
const TEXT_OID: u32 = 25;
/// EWKB point type with the SRID flag set.
const EWKB_POINT_WITH_SRID: u32 = 0x2000_0001;
const SRID_WGS84: u32 = 4326;

/// Writes the COPY header that starts every stream.
pub fn header(buf: &mut Vec<u8>) {
    buf.put_slice(SIGNATURE);
    buf.put_i32(0); // flags: no OIDs
    buf.put_i32(0); // header extension length
}

/// Writes the end-of-data marker.
pub fn trailer(buf: &mut Vec<u8>) {
    buf.put_i16(-1);
}

/// One `gps_readings` row.
pub fn gps_tuple(buf: &mut Vec<u8>, vehicle_id: &str, r: &GpsReading, received_us: i64) {
    buf.put_i16(8);
    text(buf, vehicle_id);
    timestamptz(buf, r.ts);
    buf.put_i32(25);
    buf.put_u8(1); // little-endian WKB
    buf.put_u32_le(EWKB_POINT_WITH_SRID);
    buf.put_u32_le(SRID_WGS84);
    buf.put_f64_le(r.lon);
    buf.put_f64_le(r.lat);
    opt_f32(buf, r.speed_kmh);
    opt_f32(buf, r.heading_deg);
    opt_f32(buf, r.alt_m);
    opt_f32(buf, r.accuracy_m);
    timestamptz(buf, received_us);
}

/// One `obd_readings` row.
pub fn obd_tuple(buf: &mut Vec<u8>, vehicle_id: &str, r: &ObdReading, received_us: i64) {
    buf.put_i16(10);
    text(buf, vehicle_id);
    timestamptz(buf, r.ts);
    opt_f32(buf, r.rpm);
    opt_f32(buf, r.speed_kmh);
    opt_f32(buf, r.coolant_c);
    opt_f32(buf, r.fuel_pct);
    opt_f32(buf, r.engine_load_pct);
    match r.odometer_km {
        Some(v) => {
            buf.put_i32(8);
            buf.put_f64(v);
        }
        None => buf.put_i32(-1),
    }
    match &r.dtc {
        None => buf.put_i32(-1),
        Some(codes) if codes.is_empty() => {
            buf.put_i32(12);
            buf.put_i32(0); // dimensions
            buf.put_i32(0); // has nulls
            buf.put_u32(TEXT_OID);
        }
        Some(codes) => {
            buf.put_i32(20 + codes.len() as i32 * 9);
            buf.put_i32(1);
            buf.put_i32(0);
            buf.put_u32(TEXT_OID);
            buf.put_i32(codes.len() as i32);
            buf.put_i32(1); // lower bound
            for code in codes {
                buf.put_i32(5);
                buf.put_slice(&code.0);
            }
        }
    }
    timestamptz(buf, received_us);
}

/// One `telemetry_rejects` row. `topic` and `reason` lose NUL bytes (PostgreSQL text cannot
/// hold them); `payload` is stored as given (the caller cuts it to 4 KiB).
pub fn reject_tuple(
    buf: &mut Vec<u8>,
    received_us: i64,
    topic: &str,
    reason: &str,
    payload: &[u8],
) {
    buf.put_i16(4);
    timestamptz(buf, received_us);
    text_without_nul(buf, topic);
    text_without_nul(buf, reason);
    buf.put_i32(payload.len() as i32);
    buf.put_slice(payload);
}

fn text(buf: &mut Vec<u8>, s: &str) {
    buf.put_i32(s.len() as i32);
    buf.put_slice(s.as_bytes());
}

fn text_without_nul(buf: &mut Vec<u8>, s: &str) {
    if s.contains('\0') {
        text(buf, &s.replace('\0', ""));
    } else {
        text(buf, s);
    }
}

fn timestamptz(buf: &mut Vec<u8>, unix_us: i64) {
    buf.put_i32(8);
    buf.put_i64(unix_us - PG_EPOCH_OFFSET_US);
}

fn opt_f32(buf: &mut Vec<u8>, v: Option<f32>) {
    match v {
        Some(v) => {
            buf.put_i32(4);
            buf.put_f32(v);
        }
        None => buf.put_i32(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::reading::Dtc;

    fn gps() -> GpsReading {
        GpsReading {
            ts: PG_EPOCH_OFFSET_US + 1,
            lat: 52.5,
            lon: 13.4,
            speed_kmh: Some(50.0),
            heading_deg: None,
            alt_m: None,
            accuracy_m: Some(3.0),
        }
    }

    #[test]
    fn header_and_trailer_match_the_format() {
        let mut b = Vec::new();
        header(&mut b);
        trailer(&mut b);
        assert_eq!(&b[..11], SIGNATURE);
        assert_eq!(&b[11..19], &[0; 8]);
        assert_eq!(&b[19..], &[0xff, 0xff]);
    }

    #[test]
    fn gps_tuple_layout() {
        let mut b = Vec::new();
        gps_tuple(&mut b, "v1", &gps(), PG_EPOCH_OFFSET_US);
        assert_eq!(&b[0..2], &8i16.to_be_bytes());
        assert_eq!(&b[2..6], &2i32.to_be_bytes());
        assert_eq!(&b[6..8], b"v1");
        assert_eq!(&b[8..12], &8i32.to_be_bytes());
        assert_eq!(&b[12..20], &1i64.to_be_bytes(), "ts relative to 2000-01-01");
        assert_eq!(&b[20..24], &25i32.to_be_bytes());
        assert_eq!(b[24], 1, "little-endian EWKB");
        assert_eq!(&b[25..29], &0x2000_0001u32.to_le_bytes());
        assert_eq!(&b[29..33], &4326u32.to_le_bytes());
        assert_eq!(&b[33..41], &13.4f64.to_le_bytes(), "x is longitude");
        assert_eq!(&b[41..49], &52.5f64.to_le_bytes());
        assert_eq!(&b[49..53], &4i32.to_be_bytes());
        assert_eq!(&b[53..57], &50f32.to_be_bytes());
        assert_eq!(&b[57..61], &(-1i32).to_be_bytes(), "null heading");
        assert_eq!(&b[61..65], &(-1i32).to_be_bytes(), "null altitude");
        assert_eq!(&b[65..69], &4i32.to_be_bytes());
        assert_eq!(b.len(), 69 + 4 + 12);
    }

    #[test]
    fn dtc_arrays_null_empty_and_filled() {
        let mut r = ObdReading {
            ts: 0,
            rpm: Some(800.0),
            speed_kmh: None,
            coolant_c: None,
            fuel_pct: None,
            engine_load_pct: None,
            odometer_km: None,
            dtc: None,
        };
        let len = |r: &ObdReading| {
            let mut b = Vec::new();
            obd_tuple(&mut b, "v", r, 0);
            b.len()
        };
        let base = len(&r);
        r.dtc = Some(vec![]);
        assert_eq!(len(&r), base + 12);
        r.dtc = Some(vec![Dtc(*b"P0301"), Dtc(*b"U0100")]);
        assert_eq!(len(&r), base + 20 + 18);
    }

    #[test]
    fn reject_text_drops_nul() {
        let mut b = Vec::new();
        reject_tuple(&mut b, 0, "fleet/a\0b/gps", "bad_topic", b"\0\xff");
        let s = String::from_utf8_lossy(&b);
        assert!(s.contains("fleet/ab/gps"));
        assert!(
            b.ends_with(&[0, 0, 0, 2, 0, 0xff]),
            "payload bytes kept as is"
        );
    }
}
