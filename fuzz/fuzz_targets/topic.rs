//! `fleetd::ingest::topic::parse_topic`: input `{prefix}\n{topic}`, or just `{topic}` under
//! the default prefix `fleet`. Prefixes the configuration would refuse are skipped.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // MQTT topics are UTF-8; rumqttc hands fleetd a String
    };
    let (prefix, topic) = text.split_once('\n').unwrap_or(("fleet", text));
    if fleetd_fuzz::topic::valid_prefix(prefix) {
        fleetd_fuzz::topic::check(prefix, topic);
    }
});
