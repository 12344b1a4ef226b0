//! `FLEETD_{SECTION}_{KEY}` overrides, typed by the default configuration's leaf types.

use std::collections::BTreeMap;

use super::{Config, ConfigError, ENV_IGNORED_NAMES, ENV_IGNORED_PREFIXES, ENV_PREFIX};

/// The env var for a dotted key.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// What [`apply_env`] did: warnings, and each (variable, dotted key) it set.
pub(super) struct Applied {
    pub warnings: Vec<String>,
    pub set: Vec<(String, String)>,
}

impl Applied {
    /// Blames a variable for a deserialization error about a key it set (an integer out of
    /// its field's range: "invalid value: integer `70000`, expected u16 in `mqtt.x`").
    pub fn blame(&self, message: &str) -> Option<ConfigError> {
        self.set.iter().find_map(|(env, key)| {
            let reason = message.strip_suffix(&format!(" in `{key}`"))?;
            Some(ConfigError::Env {
                env: env.clone(),
                key: key.clone(),
                reason: reason.to_string(),
            })
        })
    }
}

/// Overlays `FLEETD_*` variables on `table`, typed by the default configuration's leaf types.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Applied, ConfigError> {
    let defaults = toml::Table::try_from(Config::default()).expect("defaults serialize");
    let mut leaves = BTreeMap::new();
    for (section, value) in &defaults {
        if let toml::Value::Table(keys) = value {
            for (key, default) in keys {
                let dotted = format!("{section}.{key}");
                leaves.insert(env_name(&dotted), (section.clone(), key.clone(), default));
            }
        }
    }
    let mut warnings = Vec::new();
    let mut set = Vec::new();
    for (name, raw) in env {
        if !name.starts_with(ENV_PREFIX)
            || ENV_IGNORED_PREFIXES.iter().any(|p| name.starts_with(p))
            || ENV_IGNORED_NAMES.contains(&name.as_str())
        {
            continue;
        }
        let Some((section, key, default)) = leaves.get(&name) else {
            warnings.push(format!("unknown configuration variable {name} ignored"));
            continue;
        };
        let env_err = |reason: String| ConfigError::Env {
            env: name.clone(),
            key: format!("{section}.{key}"),
            reason,
        };
        let value = match default {
            toml::Value::String(_) => toml::Value::String(raw),
            // Every integer key is unsigned.
            toml::Value::Integer(_) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .and_then(|n| i64::try_from(n).ok())
                .map(toml::Value::Integer)
                .ok_or_else(|| {
                    env_err(format!(
                        "expected a non-negative integer, got {:?}",
                        shorten(&raw)
                    ))
                })?,
            toml::Value::Boolean(_) => match raw.trim() {
                "true" | "1" => toml::Value::Boolean(true),
                "false" | "0" => toml::Value::Boolean(false),
                _ => return Err(env_err("expected true or false".into())),
            },
            toml::Value::Float(_) => raw
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(toml::Value::Float)
                .ok_or_else(|| env_err("expected a finite number".into()))?,
            _ => {
                return Err(env_err(
                    "this key cannot be set from the environment".into(),
                ))
            }
        };
        let section_table = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match section_table {
            toml::Value::Table(t) => {
                t.insert(key.clone(), value);
                set.push((name.clone(), format!("{section}.{key}")));
            }
            _ => {
                return Err(env_err(format!(
                    "the config file's [{section}] is not a table"
                )))
            }
        }
    }
    Ok(Applied { warnings, set })
}

/// Cuts a hostile value short for an error message.
fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}
