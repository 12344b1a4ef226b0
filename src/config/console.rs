//! The `[console]` section: the operator's console at `/console` and Swagger UI at `/docs`
//! (`src/web/`, docs/console.md).

use serde::{Deserialize, Serialize};

use super::validate::{invalid, range};
use super::ConfigError;

/// The longest `console.tile_url` and `console.tile_attribution` accepted.
pub const MAX_TILE_URL: usize = 512;
pub const MAX_ATTRIBUTION: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console (`/console`) and Swagger UI (`/docs`). Off: both answer 404.
    pub enabled: bool,
    /// A raster tile server for the map, `https://host/{z}/{x}/{y}.png` (optionally `{s}`
    /// subdomains and `{r}`); empty: the vendored Natural Earth basemap only, no request
    /// leaves the daemon. The tile server's origin is added to the Content-Security-Policy's
    /// `img-src`, nothing else.
    pub tile_url: String,
    /// The attribution the tile server requires, shown as plain text on the map.
    pub tile_attribution: String,
    /// The deepest zoom the tile server serves (1..=22).
    pub tile_max_zoom: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            tile_url: String::new(),
            tile_attribution: String::new(),
            tile_max_zoom: 19,
        }
    }
}

impl ConsoleConfig {
    /// The tile server's origin (`https://tiles.example.com`), for the CSP; `None` without
    /// `tile_url`. Call after [`super::Config::validate`].
    pub fn tile_origin(&self) -> Option<String> {
        if self.tile_url.is_empty() {
            return None;
        }
        let url = url::Url::parse(&placeholders_filled(&self.tile_url)).ok()?;
        let origin = url.origin().ascii_serialization();
        // `{s}` subdomains (a, b, c): any subdomain of the rest of the host.
        match self.tile_url.split_once("://{s}.") {
            Some((scheme, _)) => {
                Some(origin.replacen(&format!("{scheme}://a."), &format!("{scheme}://*."), 1))
            }
            None => Some(origin),
        }
    }
}

/// `tile_url` with its placeholders replaced by plain values, so that it parses as a URL.
fn placeholders_filled(template: &str) -> String {
    template
        .replace("{s}", "a")
        .replace("{z}", "1")
        .replace("{x}", "1")
        .replace("{y}", "1")
        .replace("{r}", "")
}

impl super::Config {
    /// `[console]`.
    pub(super) fn validate_console(&self) -> Result<(), ConfigError> {
        let c = &self.console;
        range("console.tile_max_zoom", c.tile_max_zoom, 1, 22)?;
        if c.tile_attribution.chars().count() > MAX_ATTRIBUTION
            || c.tile_attribution.chars().any(char::is_control)
        {
            return Err(invalid(
                "console.tile_attribution",
                format!("must be at most {MAX_ATTRIBUTION} characters of plain text"),
            ));
        }
        if c.tile_url.is_empty() {
            return Ok(());
        }
        let bad = |why: &str| {
            Err(invalid(
                "console.tile_url",
                format!("{why}; expected like https://tile.example.org/{{z}}/{{x}}/{{y}}.png"),
            ))
        };
        if c.tile_url.len() > MAX_TILE_URL {
            return bad(&format!("longer than {MAX_TILE_URL} bytes"));
        }
        // Characters that could end a CSP source or a CSS/HTML context: refused outright.
        if c.tile_url.chars().any(|ch| {
            ch.is_whitespace()
                || ch.is_control()
                || matches!(ch, '"' | '\'' | ';' | ',' | '<' | '>' | '\\')
        }) {
            return bad("contains whitespace, quotes, ';', ',', '<', '>' or '\\'");
        }
        for p in ["{z}", "{x}", "{y}"] {
            if !c.tile_url.contains(p) {
                return bad(&format!("has no {p}"));
            }
        }
        let Ok(url) = url::Url::parse(&placeholders_filled(&c.tile_url)) else {
            return bad("is not a URL");
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return bad("must be an http:// or https:// URL with a host");
        }
        let host = c.tile_url.split("://").nth(1).unwrap_or_default();
        let host = host.split(['/', '?', '#']).next().unwrap_or_default();
        if host.contains("{s}") && !c.tile_url.contains("://{s}.") {
            return bad("{s} may only be the host's first label");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad("must not carry credentials");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    fn with_url(url: &str) -> super::super::Config {
        let mut c = super::super::Config::default();
        c.console.tile_url = url.into();
        c
    }

    #[test]
    fn a_tile_server_adds_only_its_origin() {
        let c = with_url("https://{s}.tile.example.org:8443/osm/{z}/{x}/{y}{r}.png");
        c.validate_console().unwrap();
        assert_eq!(
            c.console.tile_origin().as_deref(),
            Some("https://*.tile.example.org:8443")
        );
        let c = with_url("http://10.0.0.5/{z}/{x}/{y}.png");
        c.validate_console().unwrap();
        assert_eq!(c.console.tile_origin().as_deref(), Some("http://10.0.0.5"));
        assert_eq!(super::super::Config::default().console.tile_origin(), None);
    }

    #[test]
    fn hostile_tile_urls_are_refused() {
        let long = format!("https://t.example/{}/{{z}}/{{x}}/{{y}}", "a".repeat(600));
        for url in [
            long.as_str(),
            "javascript:alert(1)//{z}{x}{y}",
            "data:image/png,{z}{x}{y}",
            "https://t.example/{z}/{x}/{y}\u{0}",
            "https://t.example/{z}/{x}/{y} 'unsafe-inline'",
            "https://t{s}.example/{z}/{x}/{y}",
        ] {
            assert!(with_url(url).validate_console().is_err(), "{url}");
        }
    }
}
