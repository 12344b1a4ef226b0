//! The whole decode path of one MQTT message, `fleetd::ingest::decoders::encode_message`
//! (topic, payload, COPY rows): input `{topic}\n{payload}` under the prefix `fleet`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (topic, payload) = data.split_at(split);
    let Ok(topic) = std::str::from_utf8(topic) else {
        return; // MQTT topics are UTF-8; rumqttc hands fleetd a String
    };
    fleetd_fuzz::message::check("fleet", topic, payload.get(1..).unwrap_or_default());
});
