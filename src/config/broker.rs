//! The `[broker]` section: how fleetd administers the MQTT broker's accounts.

use serde::{Deserialize, Serialize};

use super::validate::{invalid, range};
use super::{ConfigError, Secret};

/// Usernames, client ids and role names of tracker accounts start with this, so no
/// vehicle's account can ever name the daemon's or the administrator's.
pub const TRACKER_PREFIX: &str = "tracker-";

/// The broker's account administration (Mosquitto's dynamic-security plugin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// A dynamic-security administrator (`mosquitto_ctrl dynsec init` creates one): fleetd
    /// uses it to create the daemon's account (`fleetd broker setup`) and each tracker's
    /// (`POST /v1/vehicles/{id}/tracker-credentials`). Empty: fleetd manages no accounts,
    /// and the tracker-credentials routes answer 503.
    pub admin_username: String,
    /// Its password.
    pub admin_password: Secret,
    /// How long one administration command may take (connecting included) before it
    /// counts as failed (503 `broker_unavailable`).
    pub timeout_ms: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            admin_username: String::new(),
            admin_password: Secret::default(),
            timeout_ms: 5_000,
        }
    }
}

/// An account name fleetd may use for itself: 1-64 printable ASCII characters without
/// spaces, and never in the trackers' namespace.
pub(super) fn account_name(key: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_graphic())
        || name.starts_with(TRACKER_PREFIX)
    {
        return Err(invalid(
            key,
            format!("1-64 printable ASCII characters without spaces, not starting with {TRACKER_PREFIX:?}"),
        ));
    }
    Ok(())
}

/// A password that MQTT can carry and the broker can store.
fn password(key: &str, value: &Secret) -> Result<(), ConfigError> {
    let v = value.expose();
    if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
        return Err(invalid(
            key,
            "1-256 characters without control characters (required with its username)",
        ));
    }
    Ok(())
}

impl super::Config {
    /// `[broker]` and the daemon's account in `[mqtt]`.
    pub(super) fn validate_accounts(&self) -> Result<(), ConfigError> {
        if !self.mqtt.username.is_empty() {
            account_name("mqtt.username", &self.mqtt.username)?;
            password("mqtt.password", &self.mqtt.password)?;
        } else if !self.mqtt.password.is_empty() {
            return Err(invalid("mqtt.password", "set mqtt.username too"));
        }
        let b = &self.broker;
        if !b.admin_username.is_empty() {
            account_name("broker.admin_username", &b.admin_username)?;
            password("broker.admin_password", &b.admin_password)?;
            if b.admin_username == self.mqtt.username {
                return Err(invalid(
                    "broker.admin_username",
                    "must differ from mqtt.username (setup re-creates the daemon's account)",
                ));
            }
        } else if !b.admin_password.is_empty() {
            return Err(invalid(
                "broker.admin_password",
                "set broker.admin_username too",
            ));
        }
        range("broker.timeout_ms", b.timeout_ms, 100, 60_000)
    }
}
