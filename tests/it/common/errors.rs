//! Fixtures for the per-route error-status tests: one request and its status and envelope
//! code, invalid-field sweeps, malformed and oversized bodies, bad pagination.

use serde_json::Value;

use super::api::{raw, Client, Resp};

/// A cursor that decodes, but whose key is not a UUID ("k1:zzz").
pub const NON_UUID_CURSOR: &str = "azE6enp6";
pub const UNKNOWN_UUID: &str = "00000000-0000-4000-8000-000000000000";

#[track_caller]
pub fn is(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status, r.code().as_str()),
        (status, code),
        "{what}: {}",
        r.body
    );
}

/// `expect_status!(client, GET path => status "code")` and
/// `expect_status!(client, "POST" path, body => status "code")`: one request, its status and the
/// envelope's code.
macro_rules! expect_status {
    ($c:expr, GET $path:expr => $status:literal $code:literal) => {{
        let path: String = $path.to_string();
        let r = $c.get(&path).await;
        $crate::common::errors::is(&r, $status, $code, &format!("GET {path}"));
    }};
    ($c:expr, $method:literal $path:expr, $body:expr => $status:literal $code:literal) => {{
        let path: String = $path.to_string();
        let body: ::serde_json::Value = $body;
        let r = $c.send($method, &path, Some(&body), &[]).await;
        $crate::common::errors::is(&r, $status, $code, &format!("{} {path} {body}", $method));
    }};
}
pub(crate) use expect_status;

/// `base` with `field` set to `value`, or removed when `field` starts with `-`.
pub fn with(mut base: Value, field: &str, value: Value) -> Value {
    match field.strip_prefix('-') {
        Some(f) => {
            base.as_object_mut().unwrap().remove(f);
        }
        None => base[field] = value,
    }
    base
}

/// Each `(field, value)` applied to `base` is a 422 `invalid_value`.
pub async fn each_invalid(
    c: &Client,
    method: &str,
    path: &str,
    base: Value,
    cases: &[(&str, Value)],
) {
    for (field, value) in cases {
        let body = with(base.clone(), field, value.clone());
        let r = c.send(method, path, Some(&body), &[]).await;
        is(
            &r,
            422,
            "invalid_value",
            &format!("{method} {path} {field}={value}"),
        );
    }
}

/// Sends `body` verbatim (not necessarily JSON) with the client's token.
pub async fn send_raw(c: &Client, method: &str, path: &str, body: &[u8]) -> Resp {
    let auth = format!("Bearer {}", c.token.as_deref().unwrap());
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    raw(c.addr, method, path, &headers, body.to_vec()).await
}

/// 400 for JSON that does not parse (truncated, not JSON, a bad token), 413 for a body
/// over the 1 MiB default limit.
pub async fn body_errors(c: &Client, method: &str, path: &str) {
    for bad in [&b"{"[..], b"not json", b"{]"] {
        let r = send_raw(c, method, path, bad).await;
        is(
            &r,
            400,
            "malformed_request",
            &format!("{method} {path} {bad:?}"),
        );
    }
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(2 << 20));
    let r = send_raw(c, method, path, big.as_bytes()).await;
    is(
        &r,
        413,
        "payload_too_large",
        &format!("{method} {path} 2 MiB"),
    );
}

/// 422 for every bad pagination input and for an unknown query parameter; `base` may
/// already carry parameters.
pub async fn list_errors(c: &Client, base: &str, uuid_keyed: bool) {
    let sep = if base.contains('?') { '&' } else { '?' };
    let cursor = format!("cursor={NON_UUID_CURSOR}");
    let mut bad = vec![
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=abc",
        "cursor=!!",
        "bogus=1",
    ];
    if uuid_keyed {
        bad.push(&cursor);
    }
    for q in bad {
        let r = c.get(&format!("{base}{sep}{q}")).await;
        is(&r, 422, "invalid_value", &format!("{base}{sep}{q}"));
    }
    let ok = c.get(&format!("{base}{sep}limit=200")).await;
    assert_eq!(ok.status, 200, "{base}: {}", ok.body);
}

/// 404 for an id that is not a UUID and for an unknown UUID.
pub async fn unknown_ids(
    c: &Client,
    method: &str,
    prefix: &str,
    suffix: &str,
    body: Option<Value>,
) {
    for id in ["nope", UNKNOWN_UUID] {
        let path = format!("{prefix}/{id}{suffix}");
        let r = c.send(method, &path, body.as_ref(), &[]).await;
        is(&r, 404, "not_found", &format!("{method} {path}"));
    }
}
