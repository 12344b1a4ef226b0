//! The files under `web/`, embedded in the binary at build time: the console's own files and
//! the vendored libraries (pinned versions, each with its licence; `web/vendor/README.md`).
//! Nothing is read from disk at run time, so the binary alone serves the console.

use std::collections::HashMap;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its path under `web/`, which is also its URL path (`/console/app.js`).
    pub path: &'static str,
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }),*]
    };
}

/// Every file under `web/` (a test checks that this list and the folder agree).
pub static ASSETS: &[Asset] = assets![
    "console/index.html",
    "console/console.css",
    "console/favicon.svg",
    "console/js/alerts.js",
    "console/js/api.js",
    "console/js/basemap.js",
    "console/js/dispatch.js",
    "console/js/dom.js",
    "console/js/fences.js",
    "console/js/main.js",
    "console/js/stream.js",
    "console/js/track.js",
    "console/js/vehicle_panel.js",
    "console/js/vehicles.js",
    "docs/index.html",
    "docs/docs.css",
    "docs/init.js",
    "vendor/README.md",
    "vendor/leaflet-1.9.4/LICENSE",
    "vendor/leaflet-1.9.4/leaflet.css",
    "vendor/leaflet-1.9.4/leaflet.js",
    "vendor/leaflet-1.9.4/images/layers.png",
    "vendor/leaflet-1.9.4/images/layers-2x.png",
    "vendor/leaflet-1.9.4/images/marker-icon.png",
    "vendor/leaflet-1.9.4/images/marker-icon-2x.png",
    "vendor/leaflet-1.9.4/images/marker-shadow.png",
    "vendor/topojson-client-3.1.0/LICENSE",
    "vendor/topojson-client-3.1.0/topojson-client.min.js",
    "vendor/world-atlas-2.0.2/LICENSE",
    "vendor/world-atlas-2.0.2/countries-50m.json",
    "vendor/swagger-ui-dist-5.36.0/LICENSE",
    "vendor/swagger-ui-dist-5.36.0/NOTICE",
    "vendor/swagger-ui-dist-5.36.0/swagger-ui-bundle.js",
    "vendor/swagger-ui-dist-5.36.0/swagger-ui.css",
    "vendor/swagger-ui-dist-5.36.0/favicon-16x16.png",
    "vendor/swagger-ui-dist-5.36.0/favicon-32x32.png",
];

/// An asset ready to serve: its media type and its entity tag.
#[derive(Debug)]
pub struct Served {
    pub asset: &'static Asset,
    pub content_type: &'static str,
    /// A strong validator: the first 16 bytes of the body's SHA-256, quoted.
    pub etag: String,
    /// Under `vendor/`: the path names the version, so the file never changes.
    pub immutable: bool,
}

static BY_PATH: LazyLock<HashMap<&'static str, Served>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            let served = Served {
                asset,
                content_type: content_type(asset.path),
                etag: format!("\"{hex}\""),
                immutable: asset.path.starts_with("vendor/"),
            };
            (asset.path, served)
        })
        .collect()
});

/// The asset at `path` (relative to `web/`), if any.
pub fn get(path: &str) -> Option<&'static Served> {
    BY_PATH.get(path)
}

/// The media type of a file, by its extension (`application/octet-stream` for unknown ones,
/// served with `nosniff`, so a browser never guesses).
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "md" => "text/markdown; charset=utf-8",
        _ if path.ends_with("LICENSE") || path.ends_with("NOTICE") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(&path, base, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push(rel);
            }
        }
    }

    #[test]
    fn the_table_lists_every_file_under_web_and_nothing_else() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk = Vec::new();
        files_under(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn every_asset_has_a_known_type_and_a_distinct_tag() {
        for a in ASSETS {
            let s = get(a.path).unwrap();
            assert_ne!(s.content_type, "application/octet-stream", "{}", a.path);
            assert_eq!(s.etag.len(), 34);
        }
        assert!(get("console/nope.js").is_none());
        assert!(get("../Cargo.toml").is_none());
    }
}
