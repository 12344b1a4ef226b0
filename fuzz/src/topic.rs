//! Checks on `parse_topic` (src/ingest/topic.rs) for any prefix the configuration accepts.

use fleetd::ingest::reading::Kind;
use fleetd::ingest::topic::{filter, parse_topic, TopicError, MAX_VEHICLE_ID_LEN};
use fleetd::vehicle_id::VehicleId;

/// `mqtt.topic_prefix`'s rule (src/config/validate.rs): `parse_topic` is only ever given such
/// a prefix.
pub fn valid_prefix(p: &str) -> bool {
    !(p.is_empty()
        || p.len() > 128
        || p.starts_with('/')
        || p.ends_with('/')
        || p.contains(['+', '#', '\0'])
        || p.starts_with('$'))
}

fn level(kind: Kind) -> &'static str {
    match kind {
        Kind::Gps => "gps",
        Kind::Obd => "obd",
    }
}

/// `topic` under `prefix`, and `topic` used as the vehicle id level of a topic.
pub fn check(prefix: &str, topic: &str) {
    let under = topic.strip_prefix(prefix).and_then(|r| r.strip_prefix('/'));
    match (parse_topic(prefix, topic), under) {
        (Ok((id, kind)), _) => {
            // `{prefix}/{vehicle_id}/{gps|obd}`: the parts rebuild the topic exactly.
            assert_eq!(format!("{prefix}/{id}/{}", level(kind)), topic);
            assert!(VehicleId::is_valid(id), "{id:?} is not a vehicle id");
            // The subscription for `kind` receives the topic; the other one does not.
            let other = match kind {
                Kind::Gps => Kind::Obd,
                Kind::Obd => Kind::Gps,
            };
            assert!(matches(&filter(prefix, kind), topic), "{topic:?}");
            assert!(!matches(&filter(prefix, other), topic), "{topic:?}");
        }
        (Err(e), None) => assert_eq!(e, TopicError::OutsidePrefix, "{topic:?}"),
        (Err(e), Some(rest)) => check_error(&e, rest, topic),
    }
    // A vehicle id round-trips through a topic; anything else is refused.
    for kind in [Kind::Gps, Kind::Obd] {
        let built = format!("{prefix}/{topic}/{}", level(kind));
        let parsed = parse_topic(prefix, &built);
        if VehicleId::is_valid(topic) {
            assert_eq!(parsed, Ok((topic, kind)), "{built:?}");
        } else {
            assert!(parsed.is_err(), "{built:?} accepted: {parsed:?}");
        }
    }
}

/// The error holds what its doc comment says, of `rest`, the topic after `{prefix}/`.
fn check_error(e: &TopicError, rest: &str, topic: &str) {
    let levels: Vec<&str> = rest.split('/').collect();
    let id = levels[0];
    let holds = match e {
        TopicError::OutsidePrefix => false,
        TopicError::Wildcard => rest.contains(['+', '#']),
        TopicError::Nul => rest.contains('\0'),
        TopicError::Levels => levels.len() != 2,
        TopicError::EmptyVehicleId => id.is_empty(),
        TopicError::VehicleIdTooLong { len } => *len == id.len() && *len > MAX_VEHICLE_ID_LEN,
        TopicError::VehicleIdChar => !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
        TopicError::UnknownKind => !matches!(levels.last(), Some(&("gps" | "obd"))),
    };
    assert!(holds, "{topic:?}: {e:?} does not describe it");
}

/// MQTT topic matching for filters with `+` only (what [`filter`] builds).
fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}
