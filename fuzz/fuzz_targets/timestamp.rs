//! One `ts` value (the input, as UTF-8 text) read by the JSON decoder, against chrono's
//! RFC 3339 parser and the epoch-milliseconds rule: `fleetd_fuzz::timestamp`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        fleetd_fuzz::timestamp::check(s);
    }
});
