//! A binary payload (`0xF1`, version, postcard batch) on a gps and an obd topic:
//! `fleetd::ingest::decode::decode`, checked by `fleetd_fuzz::decoded`. The input is the
//! whole payload; one not starting with the magic byte is skipped.
#![no_main]

use fleetd::ingest::reading::Kind;
use fleetd::wire::MAGIC;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    if payload.first() != Some(&MAGIC) {
        return; // the decode_json target's
    }
    fleetd_fuzz::decoded::decode_checked(Kind::Gps, payload);
    fleetd_fuzz::decoded::decode_checked(Kind::Obd, payload);
});
