//! MQTT topics and the NATS subjects nats-server turns them into.
//!
//! nats-server's MQTT listener maps a topic's `/` separators to `.` and a `.` inside a level
//! to `//` (a NATS token cannot contain `.`), so `fleet/car.7/gps` is stored under the subject
//! `fleet.car//7.gps`, still three tokens. fleetd hands the decoders the topic again, so that
//! both sources share one topic parser and one set of rejects.

/// What nats-server puts before a topic's subject in its MQTT stream `$MQTT_msgs`.
pub const MQTT_MSGS_PREFIX: &str = "$MQTT.msgs.";

/// The subject prefix for `mqtt.topic_prefix` (levels of `[A-Za-z0-9_-]`, as validated for
/// this source).
pub fn subject_prefix(topic_prefix: &str) -> String {
    topic_prefix
        .split('/')
        .map(|level| level.replace('.', "//"))
        .collect::<Vec<_>>()
        .join(".")
}

/// The subjects the stream captures: every vehicle's GPS and OBD readings. A topic with more
/// or fewer levels is not a reading's and never enters the stream.
pub fn stream_subjects(topic_prefix: &str) -> Vec<String> {
    let prefix = subject_prefix(topic_prefix);
    vec![format!("{prefix}.*.gps"), format!("{prefix}.*.obd")]
}

/// The MQTT topic a subject came from (in fleetd's stream or in `$MQTT_msgs`).
pub fn topic_of(subject: &str) -> String {
    subject
        .strip_prefix(MQTT_MSGS_PREFIX)
        .unwrap_or(subject)
        .split('.')
        .map(|token| token.replace("//", "."))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_subjects_map_both_ways() {
        assert_eq!(subject_prefix("fleet"), "fleet");
        assert_eq!(subject_prefix("acme/fleet"), "acme.fleet");
        assert_eq!(
            stream_subjects("acme/fleet"),
            vec!["acme.fleet.*.gps", "acme.fleet.*.obd"]
        );
        assert_eq!(topic_of("fleet.v-1.gps"), "fleet/v-1/gps");
        assert_eq!(topic_of("fleet.car//7.obd"), "fleet/car.7/obd");
        assert_eq!(topic_of("acme.fleet.a//b//c.gps"), "acme/fleet/a.b.c/gps");
        assert_eq!(topic_of("$MQTT.msgs.fleet.v-1.gps"), "fleet/v-1/gps");
    }

    #[test]
    fn every_vehicle_id_survives_the_round_trip() {
        for id in ["v", "car.7", "a.b.c", "...", "x_y-z", &"9".repeat(64)] {
            let topic = format!("fleet/{id}/gps");
            let subject = format!("fleet.{}.gps", id.replace('.', "//"));
            assert_eq!(topic_of(&subject), topic);
        }
    }
}
