//! The headers every page and file of the console carries: a strict Content-Security-Policy
//! (no inline script or style, no third-party origin but a configured tile server's images),
//! and the usual hardening (`nosniff`, no referrer, no framing).

use axum::http::{HeaderName, HeaderValue};

/// Builds the policy. `tile_origin`: the configured tile server (`console.tile_url`), whose
/// images the map may load; nothing else leaves the daemon's origin. The same policy serves
/// Swagger UI, which needs nothing more (React sets styles through the DOM, which a policy
/// does not restrict).
pub fn content_security_policy(tile_origin: Option<&str>) -> String {
    let img = match tile_origin {
        Some(origin) => format!("'self' data: blob: {origin}"),
        None => "'self' data: blob:".to_string(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src {img}; \
         connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The fixed hardening headers, besides the policy.
pub const HARDENING: [(HeaderName, HeaderValue); 4] = [
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_the_daemon_and_the_tile_server() {
        let p = content_security_policy(None);
        assert!(p.contains("script-src 'self';"), "{p}");
        assert!(p.contains("style-src 'self';"), "{p}");
        assert!(!p.contains("unsafe"), "{p}");
        assert!(!p.contains("http"), "{p}");
        let p = content_security_policy(Some("https://*.tile.example.org"));
        assert!(
            p.contains("img-src 'self' data: blob: https://*.tile.example.org;"),
            "{p}"
        );
        assert!(!p.contains("unsafe"), "{p}");
        assert!(p.contains("script-src 'self';"), "{p}");
        assert!(HeaderValue::from_str(&p).is_ok());
    }
}
