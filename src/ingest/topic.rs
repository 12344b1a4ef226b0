//! MQTT topic parsing: `{prefix}/{vehicle_id}/{gps|obd}` (docs/telemetry.md).
//!
//! The prefix is taken literally (it may itself span levels, e.g. `acme/fleet`) and is
//! expected without a trailing `/`; the configuration is where a prefix is validated.

use crate::ingest::reading::Kind;
use crate::vehicle_id::{VehicleId, VehicleIdError};

/// Longest vehicle id, in bytes (all allowed characters are ASCII).
pub const MAX_VEHICLE_ID_LEN: usize = crate::vehicle_id::MAX_LEN;

/// Why a topic carries no readings fleetd accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic does not start with `{prefix}/`.
    #[error("topic is not under the prefix")]
    OutsidePrefix,
    /// The topic contains an MQTT wildcard, which a published topic name never may.
    #[error("topic contains a wildcard")]
    Wildcard,
    /// The topic contains U+0000, which MQTT forbids in strings.
    #[error("topic contains a nul character")]
    Nul,
    /// Fewer or more levels than `{prefix}/{vehicle_id}/{gps|obd}`.
    #[error("topic must be {{prefix}}/{{vehicle_id}}/gps or {{prefix}}/{{vehicle_id}}/obd")]
    Levels,
    /// The vehicle id level is empty.
    #[error("vehicle id is empty")]
    EmptyVehicleId,
    /// The vehicle id is longer than [`MAX_VEHICLE_ID_LEN`].
    #[error("vehicle id is {len} bytes long, at most 64 allowed")]
    VehicleIdTooLong {
        /// Length of the offending id in bytes.
        len: usize,
    },
    /// The vehicle id has a character outside `[A-Za-z0-9._-]`.
    #[error("vehicle id contains a character outside [A-Za-z0-9._-]")]
    VehicleIdChar,
    /// The last level is neither `gps` nor `obd`.
    #[error("last topic level must be gps or obd")]
    UnknownKind,
}

/// Splits `{prefix}/{vehicle_id}/{gps|obd}` into the vehicle id (borrowed from `topic`)
/// and the reading kind.
pub fn parse_topic<'a>(prefix: &str, topic: &'a str) -> Result<(&'a str, Kind), TopicError> {
    let rest = topic
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or(TopicError::OutsidePrefix)?;
    if rest.contains(['+', '#']) {
        return Err(TopicError::Wildcard);
    }
    if rest.contains('\0') {
        return Err(TopicError::Nul);
    }
    let (vehicle_id, kind) = rest.split_once('/').ok_or(TopicError::Levels)?;
    if kind.contains('/') {
        return Err(TopicError::Levels);
    }
    let kind = match kind {
        "gps" => Kind::Gps,
        "obd" => Kind::Obd,
        _ => return Err(TopicError::UnknownKind),
    };
    check_vehicle_id(vehicle_id)?;
    Ok((vehicle_id, kind))
}

/// `vehicle_id`: 1–64 characters of `[A-Za-z0-9._-]`.
pub fn check_vehicle_id(id: &str) -> Result<(), TopicError> {
    match VehicleId::parse(id) {
        Ok(_) => Ok(()),
        Err(VehicleIdError::Empty) => Err(TopicError::EmptyVehicleId),
        Err(VehicleIdError::TooLong { len }) => Err(TopicError::VehicleIdTooLong { len }),
        Err(VehicleIdError::Char) => Err(TopicError::VehicleIdChar),
    }
}

/// The subscription filter for `kind` under `prefix`, e.g. `fleet/+/gps`.
pub fn filter(prefix: &str, kind: Kind) -> String {
    let suffix = match kind {
        Kind::Gps => "gps",
        Kind::Obd => "obd",
    };
    format!("{prefix}/+/{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_gps_and_obd() {
        assert_eq!(
            parse_topic("fleet", "fleet/truck-42/gps"),
            Ok(("truck-42", Kind::Gps))
        );
        assert_eq!(
            parse_topic("fleet", "fleet/A.b_C-9/obd"),
            Ok(("A.b_C-9", Kind::Obd))
        );
    }

    #[test]
    fn prefix_may_span_levels() {
        assert_eq!(
            parse_topic("acme/fleet", "acme/fleet/v1/gps"),
            Ok(("v1", Kind::Gps))
        );
        assert_eq!(
            parse_topic("acme/fleet", "acme/v1/gps"),
            Err(TopicError::OutsidePrefix)
        );
    }

    #[test]
    fn vehicle_id_length_bounds() {
        let id64 = "a".repeat(64);
        let topic = format!("fleet/{id64}/gps");
        assert_eq!(parse_topic("fleet", &topic), Ok((id64.as_str(), Kind::Gps)));
        let topic = format!("fleet/{}/gps", "a".repeat(65));
        assert_eq!(
            parse_topic("fleet", &topic),
            Err(TopicError::VehicleIdTooLong { len: 65 })
        );
        assert_eq!(parse_topic("fleet", "fleet/x/gps"), Ok(("x", Kind::Gps)));
    }

    #[test]
    fn rejects_everything_else_under_the_prefix() {
        let cases: &[(&str, TopicError)] = &[
            ("fleetx/v1/gps", TopicError::OutsidePrefix),
            ("fleet", TopicError::OutsidePrefix),
            ("other/v1/gps", TopicError::OutsidePrefix),
            ("/fleet/v1/gps", TopicError::OutsidePrefix),
            ("FLEET/v1/gps", TopicError::OutsidePrefix),
            ("fleet/", TopicError::Levels),
            ("fleet/v1", TopicError::Levels),
            ("fleet/v1/gps/extra", TopicError::Levels),
            ("fleet/v1/gps/", TopicError::Levels),
            ("fleet/a/b/gps", TopicError::Levels),
            ("fleet//gps", TopicError::EmptyVehicleId),
            ("fleet/v1/", TopicError::UnknownKind),
            ("fleet/v1/GPS", TopicError::UnknownKind),
            ("fleet/v1/can", TopicError::UnknownKind),
            ("fleet/v1/gps ", TopicError::UnknownKind),
            ("fleet/v1/gpsé", TopicError::UnknownKind),
            ("fleet/+/gps", TopicError::Wildcard),
            ("fleet/#", TopicError::Wildcard),
            ("fleet/v1/#", TopicError::Wildcard),
            ("fleet/v1\0/gps", TopicError::Nul),
            ("fleet/v 1/gps", TopicError::VehicleIdChar),
            ("fleet/vé/gps", TopicError::VehicleIdChar),
            ("fleet/v1;drop table/obd", TopicError::VehicleIdChar),
            ("fleet/v1'/obd", TopicError::VehicleIdChar),
        ];
        for (topic, expected) in cases {
            assert_eq!(
                parse_topic("fleet", topic),
                Err(expected.clone()),
                "{topic:?}"
            );
        }
    }

    #[test]
    fn non_ascii_id_of_few_chars_but_many_bytes() {
        // 22 chars, 66 bytes: too long is reported before the character rule.
        let topic = format!("fleet/{}/gps", "€".repeat(22));
        assert_eq!(
            parse_topic("fleet", &topic),
            Err(TopicError::VehicleIdTooLong { len: 66 })
        );
    }

    #[test]
    fn messages_are_lowercase_without_trailing_punctuation() {
        let all = [
            TopicError::OutsidePrefix,
            TopicError::Wildcard,
            TopicError::Nul,
            TopicError::Levels,
            TopicError::EmptyVehicleId,
            TopicError::VehicleIdTooLong { len: 65 },
            TopicError::VehicleIdChar,
            TopicError::UnknownKind,
        ];
        for e in all {
            let msg = e.to_string();
            assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
            assert!(!msg.ends_with(['.', '!', '?']), "{msg}");
        }
        assert_eq!(
            TopicError::Levels.to_string(),
            "topic must be {prefix}/{vehicle_id}/gps or {prefix}/{vehicle_id}/obd"
        );
    }

    #[test]
    fn filters() {
        assert_eq!(filter("fleet", Kind::Gps), "fleet/+/gps");
        assert_eq!(filter("acme/fleet", Kind::Obd), "acme/fleet/+/obd");
    }
}
