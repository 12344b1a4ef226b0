//! The credentials file: one JSON object per line, `{"vehicle_id", "username", "password"}`,
//! written by `fleet-sim provision` (mode 600) and read by `fleet-sim run --credentials`.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::payload;

/// One tracker's broker account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub vehicle_id: String,
    pub username: String,
    pub password: String,
}

/// Why a credentials file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path} has no account for vehicle {vehicle_id} (run fleet-sim provision with the same --vehicles and --id-prefix)")]
    Missing { path: String, vehicle_id: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Reads a credentials file into vehicle id → account. A later line for the same vehicle
/// replaces an earlier one.
pub fn load(path: &Path) -> Result<HashMap<String, Credential>, CredentialsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text).map_err(|(line, message)| CredentialsError::Parse {
        path: shown,
        line,
        message,
    })
}

/// Parses the file's text; an error carries the 1-based line number.
pub fn parse(text: &str) -> Result<HashMap<String, Credential>, (usize, String)> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let c: Credential = serde_json::from_str(line).map_err(|e| (i + 1, e.to_string()))?;
        if c.username.is_empty() || c.password.is_empty() {
            return Err((i + 1, "empty username or password".into()));
        }
        out.insert(c.vehicle_id.clone(), c);
    }
    Ok(out)
}

/// The accounts of vehicles `0..vehicles` (ids `{id_prefix}{n}`), in vehicle order.
pub fn for_fleet(
    accounts: &HashMap<String, Credential>,
    path: &Path,
    id_prefix: &str,
    vehicles: u32,
) -> Result<Vec<Credential>, CredentialsError> {
    let width = payload::id_width(vehicles);
    (0..vehicles)
        .map(|v| {
            let id = payload::vehicle_id(id_prefix, width, v);
            accounts
                .get(&id)
                .cloned()
                .ok_or_else(|| CredentialsError::Missing {
                    path: path.display().to_string(),
                    vehicle_id: id,
                })
        })
        .collect()
}

/// Writes `accounts` (sorted by vehicle id) to `path` atomically, readable by the owner only.
pub fn save(path: &Path, accounts: &HashMap<String, Credential>) -> Result<(), CredentialsError> {
    let err = |source| CredentialsError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut sorted: Vec<&Credential> = accounts.values().collect();
    sorted.sort_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
    let tmp = path.with_extension("tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        for c in sorted {
            let line = serde_json::to_string(c).expect("strings serialize");
            writeln!(f, "{line}").map_err(err)?;
        }
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(v: &str) -> Credential {
        Credential {
            vehicle_id: v.into(),
            username: format!("tracker-{v}"),
            password: "pw".into(),
        }
    }

    #[test]
    fn saved_files_load_back_and_cover_the_fleet_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let map: HashMap<_, _> = ["veh-000002", "veh-000001"]
            .into_iter()
            .map(|v| (v.to_string(), cred(v)))
            .collect();
        save(&path, &map).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = load(&path).unwrap();
        assert_eq!(back, map);
        let fleet = for_fleet(&back, &path, "veh-", 2).unwrap();
        assert_eq!(fleet[0].vehicle_id, "veh-000001");
        assert_eq!(fleet[1].vehicle_id, "veh-000002");
        let e = for_fleet(&back, &path, "veh-", 3).unwrap_err().to_string();
        assert!(e.contains("veh-000003"), "{e}");
    }

    #[test]
    fn malformed_lines_are_named() {
        for (text, line) in [
            ("{}\n", 1),
            (
                "\n{\"vehicle_id\":\"a\",\"username\":\"u\",\"password\":\"\"}\n",
                2,
            ),
            ("not json", 1),
            (
                "{\"vehicle_id\":\"a\",\"username\":\"u\",\"password\":\"p\",\"x\":1}",
                1,
            ),
        ] {
            assert_eq!(parse(text).unwrap_err().0, line, "{text}");
        }
        assert!(parse("").unwrap().is_empty());
    }
}
