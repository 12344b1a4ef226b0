//! Parsers of flag values. Each error says what is wrong with the value; clap prefixes the
//! flag (`invalid value '0' for '--vehicles <VEHICLES>': 0: must be 1 to 1,000,000`).

use std::time::Duration;

use crate::config::MqttTarget;
use crate::payload::Format;
use crate::vehicle::Region;

fn number(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if !x.is_finite() {
        return Err(format!("{s:?} is not a finite number"));
    }
    Ok(x)
}

/// `90s`, `5m`, `1h`, `500ms`, `1.5s`; a bare number is seconds. Must be positive and at
/// most 30 days.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "{s:?} is not a duration (use e.g. 90s, 5m, 1h, 500ms)"
        ));
    }
    let x: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (use e.g. 90s, 5m, 1h, 500ms)"))?;
    let secs = match unit {
        "ms" => x / 1000.0,
        "" | "s" => x,
        "m" => x * 60.0,
        "h" => x * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("{s:?}: a duration must be positive"));
    }
    if secs > 30.0 * 86_400.0 {
        return Err(format!("{s:?}: at most 30 days"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A duration of at most 29 days: older readings fall out of the daemon's 30-day window.
pub fn parse_backlog(s: &str) -> Result<Duration, String> {
    let d = parse_linger(s)?;
    if d > Duration::from_secs(29 * 86_400) {
        return Err(format!("{s:?}: at most 29 days (the daemon keeps 30)"));
    }
    Ok(d)
}

/// Like a duration, but 0 is allowed (no lingering).
pub fn parse_linger(s: &str) -> Result<Duration, String> {
    if s.trim().trim_end_matches(['m', 's', 'h']).parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

pub fn parse_region(s: &str) -> Result<Region, String> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() != 4 {
        return Err(format!("{s:?}: expected lat_min,lon_min,lat_max,lon_max"));
    }
    let v = parts
        .iter()
        .map(|p| number(p))
        .collect::<Result<Vec<f64>, _>>()?;
    let r = Region {
        lat_min: v[0],
        lon_min: v[1],
        lat_max: v[2],
        lon_max: v[3],
    };
    if !(-90.0..=90.0).contains(&r.lat_min) || !(-90.0..=90.0).contains(&r.lat_max) {
        return Err(format!("{s:?}: latitudes must be within -90..90"));
    }
    if !(-180.0..=180.0).contains(&r.lon_min) || !(-180.0..=180.0).contains(&r.lon_max) {
        return Err(format!("{s:?}: longitudes must be within -180..180"));
    }
    if r.lat_min >= r.lat_max || r.lon_min >= r.lon_max {
        return Err(format!("{s:?}: lat_min must be below lat_max and lon_min below lon_max (regions across the antimeridian are not supported)"));
    }
    Ok(r)
}

/// `mqtt://host[:port]` or `tcp://host[:port]` (port 1883), `mqtts://host[:port]` or
/// `ssl://host[:port]` for TLS (port 8883); IPv6 hosts in brackets.
pub fn parse_mqtt_url(s: &str) -> Result<MqttTarget, String> {
    let (rest, tls) = [
        ("mqtt://", false),
        ("tcp://", false),
        ("mqtts://", true),
        ("ssl://", true),
    ]
    .into_iter()
    .find_map(|(scheme, tls)| s.strip_prefix(scheme).map(|r| (r, tls)))
    .ok_or_else(|| format!("{s:?}: expected mqtt://host:port or mqtts://host:port"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '@', '#']) {
        return Err(format!(
            "{s:?}: expected mqtt://host:port with no path, query or credentials"
        ));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: unclosed '[' in host"))?;
        (h, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{s:?}: no host"));
    }
    let port = match port {
        None if tls => 8883,
        None => 1883,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("{s:?}: port {p:?} is not 1-65535"))?,
    };
    Ok(MqttTarget {
        host: host.to_string(),
        port,
        tls,
    })
}

pub fn parse_percent(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if !(0.0..=100.0).contains(&x) {
        return Err(format!("{s}: a percentage must be within 0..=100"));
    }
    Ok(x)
}

pub fn parse_positive(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if !(x > 0.0 && x.is_finite()) {
        return Err(format!("{s}: must be a positive number"));
    }
    Ok(x)
}

pub fn parse_rate(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if x <= 0.0 {
        return Err(format!("{s}: the rate must be above 0 readings per second"));
    }
    Ok(x)
}

pub fn parse_hz(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if x != 0.0 && !(0.001..=1000.0).contains(&x) {
        return Err(format!("{s}: must be 0 (off) or within 0.001..=1000 Hz"));
    }
    Ok(x)
}

fn integer(s: &str) -> Result<u64, String> {
    s.trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))
}

pub fn parse_vehicles(s: &str) -> Result<u32, String> {
    match integer(s)? {
        n @ 1..=1_000_000 => Ok(n as u32),
        n => Err(format!("{n}: must be 1 to 1,000,000")),
    }
}

pub fn parse_batch(s: &str) -> Result<usize, String> {
    match integer(s)? {
        n @ 1..=1000 => Ok(n as usize),
        n => Err(format!("{n}: a batch holds 1 to 1000 readings")),
    }
}

pub fn parse_connections(s: &str) -> Result<u32, String> {
    match integer(s)? {
        n @ 1..=1024 => Ok(n as u32),
        n => Err(format!("{n}: must be 1 to 1024")),
    }
}

pub fn parse_readings(s: &str) -> Result<u64, String> {
    match integer(s)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

pub fn parse_qos(s: &str) -> Result<u8, String> {
    match s.trim() {
        "0" => Ok(0),
        "1" => Ok(1),
        _ => Err(format!("{s:?}: QoS must be 0 or 1")),
    }
}

pub fn parse_format(s: &str) -> Result<Format, String> {
    Format::ALL
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| format!("{s:?}: use json, json-batch or binary"))
}

/// Topic levels without MQTT wildcards, not empty, no leading or trailing '/'.
pub fn parse_prefix(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.starts_with('/')
        || s.ends_with('/')
        || s.contains(['+', '#', '\0'])
        || s.contains("//")
    {
        return Err(format!(
            "{s:?}: a topic prefix is non-empty topic levels without '+', '#' or empty levels"
        ));
    }
    Ok(s.to_string())
}

/// docs/telemetry.md: vehicle ids are 1-64 characters of `[A-Za-z0-9._-]`; 7 digits follow the prefix.
pub fn parse_id_prefix(s: &str) -> Result<String, String> {
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "{s:?}: only A-Z, a-z, 0-9, '.', '_' and '-' are allowed"
        ));
    }
    if s.len() > 57 {
        return Err(format!("{s:?}: at most 57 characters (ids are at most 64)"));
    }
    Ok(s.to_string())
}
