//! What the fuzz targets in `fuzz_targets/` share: a fixed clock and acceptance window, and
//! the checks run on every output. A check panics (libFuzzer then saves the input as a crash)
//! only where the code under test promises something, in its doc comments or in
//! docs/telemetry.md; each check says where.
//!
//! - [`decoded`] checks what `fleetd::ingest::decode::decode` returns for any payload;
//! - [`render`] writes good readings back as JSON and as binary, for the round trips;
//! - [`message`] checks `fleetd::ingest::decoders::encode_message`, topic to COPY rows;
//! - [`timestamp`] checks `ts` against chrono;
//! - [`topic`] checks `fleetd::ingest::topic::parse_topic`.

use std::time::Duration;

use fleetd::ingest::reading::Window;

pub mod decoded;
pub mod message;
pub mod render;
pub mod timestamp;
pub mod topic;

/// The daemon's clock for every target: 2023-11-14T22:13:20Z, as in the decoder's unit tests
/// (src/ingest/decode/tests/mod.rs), so seeds with `ts` near 1700000000000 are accepted.
pub const NOW_US: i64 = 1_700_000_000_000_000;

/// The default acceptance window (docs/telemetry.md#ts): 300 s ahead, 30 days back.
pub const WINDOW: Window = Window {
    max_future: Duration::from_secs(300),
    max_age: Duration::from_secs(30 * 86_400),
};

/// A window that lets every representable `ts` through, to see the instant a timestamp was
/// read as instead of a window rejection.
pub const WIDE_WINDOW: Window = Window {
    max_future: Duration::MAX,
    max_age: Duration::MAX,
};
