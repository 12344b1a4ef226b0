//! What the browser leaves for a human: screenshots, the console log, and where a failing
//! test's go.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};

use super::Session;

/// A screenshot at `png` and the console log beside it (`.log`): (png, log).
pub(super) fn save(session: &Session, png: &Path) -> Result<(PathBuf, PathBuf), String> {
    save_screenshot(session, png)?;
    let log = png.with_extension("log");
    let entries = session
        .call_blocking("POST", "/se/log", Some(&json!({"type": "browser"})))
        .map(|v| LogEntry::parse_all(&v))
        .map_err(|e| format!("reading the console: {e}"))?;
    let text: String = entries.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&log, text).map_err(|e| format!("{}: {e}", log.display()))?;
    Ok((png.to_path_buf(), log))
}

pub(super) fn save_screenshot(session: &Session, path: &Path) -> Result<(), String> {
    let v = session
        .call_blocking("GET", "/screenshot", None)
        .map_err(|e| e.to_string())?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_default())
        .map_err(|e| format!("the screenshot is not base64: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
}

/// `target/browser-failures/<test>-<UTC time>.png` (the target folder cargo builds in).
pub fn failure_path(test: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp");
    let name: String = test
        .replace("::", ".")
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    let at = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    target
        .join("browser-failures")
        .join(format!("{name}-{at}.png"))
}

/// One entry of the browser console.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    /// The message as chromedriver reports it: source, line and the logged text.
    pub message: String,
}

impl LogEntry {
    pub(super) fn parse_all(v: &Value) -> Vec<LogEntry> {
        let field = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
        v.as_array()
            .into_iter()
            .flatten()
            .map(|e| LogEntry {
                level: field(e, "level"),
                message: field(e, "message"),
            })
            .collect()
    }
}

impl std::fmt::Display for LogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.level, self.message)
    }
}
