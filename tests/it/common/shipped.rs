//! The settings of the shipped broker configuration (config/mosquitto.conf) that the private
//! test brokers must share with it, read from the file so they cannot drift apart.

/// The options copied from config/mosquitto.conf into every test broker: the queue bounds
/// and how long an offline session is kept.
pub const SHARED: [&str; 3] = [
    "max_queued_messages",
    "max_queued_bytes",
    "persistent_client_expiration",
];

/// Those options' lines, as config/mosquitto.conf has them.
pub fn broker_lines() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/mosquitto.conf");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for option in SHARED {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(option))
            .unwrap_or_else(|| panic!("config/mosquitto.conf sets no {option}"));
        out.push_str(line.trim());
        out.push('\n');
    }
    out
}

/// One option's value in config/mosquitto.conf.
pub fn value(option: &str) -> String {
    broker_lines()
        .lines()
        .find_map(|l| l.strip_prefix(option).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("{option} is not among the shared options"))
}
