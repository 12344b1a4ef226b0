//! The JSON writer's pieces: keys, fixed-point decimals and integers, written straight into
//! the payload buffer with `itoa`/`ryu`.

pub(super) fn key(out: &mut Vec<u8>, name: &str) {
    out.push(b',');
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Writes `x` rounded to `decimals` places as a plain decimal (`52.1`, `900`, `-3.25`).
/// Readings are already rounded to these places, so the text parses back to the very same
/// `f64` (the nearest double to the decimal), and this is several times faster than the
/// shortest-representation algorithm. Values too large for fixed point (none in practice)
/// fall back to `ryu`.
pub(super) fn fixed(out: &mut Vec<u8>, x: f64, decimals: u32) {
    let scale = 10i64.pow(decimals);
    let scaled = (x * scale as f64).round();
    if scaled.is_nan() || scaled.abs() >= 9.0e15 {
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format(x).as_bytes());
        return;
    }
    let q = scaled as i64;
    if q < 0 {
        out.push(b'-');
    }
    let (int_part, mut frac) = (
        q.unsigned_abs() / scale as u64,
        q.unsigned_abs() % scale as u64,
    );
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(int_part).as_bytes());
    if frac == 0 {
        return;
    }
    let mut digits = decimals as usize;
    while frac % 10 == 0 {
        frac /= 10;
        digits -= 1;
    }
    out.push(b'.');
    let text = buf.format(frac);
    out.extend(std::iter::repeat_n(b'0', digits - text.len()));
    out.extend_from_slice(text.as_bytes());
}

/// Latitude and longitude to 1e-7° (about 1 cm).
pub(super) fn degrees(out: &mut Vec<u8>, x: f64) {
    fixed(out, x, 7);
}

/// Every other value to 0.1.
pub(super) fn float(out: &mut Vec<u8>, x: f64) {
    fixed(out, x, 1);
}

pub(super) fn int(out: &mut Vec<u8>, x: i64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(x).as_bytes());
}

pub(super) fn ts(out: &mut Vec<u8>, ts_ms: i64) {
    out.extend_from_slice(b"{\"ts\":");
    int(out, ts_ms);
}
