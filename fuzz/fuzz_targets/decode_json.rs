//! A JSON payload (anything not starting with the binary magic byte) on a gps and an obd
//! topic: `fleetd::ingest::decode::decode`, checked by `fleetd_fuzz::decoded`.
#![no_main]

use fleetd::ingest::reading::Kind;
use fleetd::wire::MAGIC;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    if payload.first() == Some(&MAGIC) {
        return; // the decode_binary target's
    }
    fleetd_fuzz::decoded::decode_checked(Kind::Gps, payload);
    fleetd_fuzz::decoded::decode_checked(Kind::Obd, payload);
});
