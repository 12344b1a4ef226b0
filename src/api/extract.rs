//! Request parsing with the statuses of docs/http.md: a body over the limit is 413, JSON that does not
//! parse is 400, JSON that parses but has the wrong shape or values is 422 naming the field
//! (unknown fields included: every body type denies them). The body's content type is not
//! checked, so `curl -d` works without `-H 'content-type: application/json'`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::api::error::ApiError;

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::malformed(e.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a body: syntax errors (trailing bytes included) are 400, shape errors 422 with the
/// JSON path. A number with a zero fraction (`5.0`) counts as the integer it equals, as JSON
/// Schema says it is: an integer field accepts it, a fractional one (`5.5`) stays refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::malformed(format!("malformed JSON: {e}")))?;
    serde_path_to_error::deserialize(integral_floats_as_integers(value)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body" } else { &path };
        ApiError::invalid(field, strip_position(&e.into_inner().to_string()))
    })
}

/// `value` with every float that is a whole number within the i64 range made an integer.
fn integral_floats_as_integers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // 2^63 is exactly representable; the range is [-2^63, 2^63).
            if f.fract() == 0.0
                && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
            {
                Value::from(f as i64)
            } else {
                Value::Number(n)
            }
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(integral_floats_as_integers).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_floats_as_integers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// serde_json appends "at line 1 column 17"; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Query parameters; a bad value is 422 naming the parameter. A parameter with an empty value
/// (`?limit=&cursor=`, as forms and generated clients send an unset field) counts as absent.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = without_empty_values(parts.uri.query().unwrap_or(""));
        serde_urlencoded_de(&query).map(ApiQuery)
    }
}

/// The query string without its empty parameters (`a=`, or a bare `a`).
fn without_empty_values(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(_, value)| !value.is_empty())
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn serde_urlencoded_de<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // axum's Query rejection carries serde's message, which names the parameter.
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| ApiError::malformed("unreadable query string"))?;
    axum::extract::Query::<T>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| {
            use std::error::Error;
            let detail = e
                .source()
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.body_text());
            ApiError::invalid("query", detail)
        })
}

/// A required, trimmed, non-empty text of at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

/// An integer in `min..=max`.
pub fn int_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), ApiError> {
    if value < min || value > max {
        return Err(ApiError::invalid(
            field,
            format!("must be in {min}..={max}"),
        ));
    }
    Ok(())
}

/// Money amounts in minor units: never negative, at most 10^12 (ten billion in a
/// two-decimal currency), so every product the pricing makes fits in an i64.
pub const MAX_MONEY: i64 = 1_000_000_000_000;

pub fn money(field: &str, value: i64) -> Result<(), ApiError> {
    int_range(field, value, 0, MAX_MONEY)
}

/// An ISO 4217 alphabetic code: three upper-case letters (membership is not checked).
pub fn currency(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "must be an ISO 4217 code like EUR",
        ))
    }
}

/// A time window `[from, to)`: non-empty, at most `max_days` long.
pub fn window(from: DateTime<Utc>, to: DateTime<Utc>, max_days: i64) -> Result<(), ApiError> {
    if to <= from {
        return Err(ApiError::invalid("ends_at", "must be after the start"));
    }
    if (to - from).num_days() > max_days {
        return Err(ApiError::invalid(
            "ends_at",
            format!("window longer than {max_days} days"),
        ));
    }
    Ok(())
}

/// The vehicle id of docs/telemetry.md: 1–64 characters of `[A-Za-z0-9._-]`.
pub fn vehicle_id(field: &str, id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "1-64 characters of [A-Za-z0-9._-]",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        seats: u32,
        name: String,
    }

    #[derive(Debug, Deserialize)]
    struct Page {
        limit: Option<u32>,
        cursor: Option<String>,
    }

    #[test]
    fn empty_query_parameters_are_absent() {
        assert_eq!(without_empty_values("limit=&cursor="), "");
        assert_eq!(without_empty_values("limit=2&cursor=&x"), "limit=2");
        assert_eq!(without_empty_values("&&a=1&&"), "a=1");
        assert_eq!(without_empty_values("a==&b=%20"), "a==&b=%20");
        let p: Page = serde_urlencoded_de(&without_empty_values("limit=&cursor=")).unwrap();
        assert!(p.limit.is_none() && p.cursor.is_none(), "{p:?}");
        let p: Page = serde_urlencoded_de(&without_empty_values("limit=3&cursor=")).unwrap();
        assert_eq!(p.limit, Some(3));
        // A present but bad value is still 422 naming it.
        let e = serde_urlencoded_de::<Page>(&without_empty_values("limit=x")).unwrap_err();
        assert_eq!(e.status, 422);
        assert!(e.message.contains("limit"), "{}", e.message);
    }

    #[test]
    fn syntax_is_400_and_shape_is_422_naming_the_field() {
        let e = parse_json::<Body>(b"{\"seats\": 1,").unwrap_err();
        assert_eq!(e.status, 400);
        let e = parse_json::<Body>(br#"{"seats": "x", "name": "a"}"#).unwrap_err();
        assert_eq!(e.status, 422);
        assert!(e.message.starts_with("seats:"), "{}", e.message);
        let e = parse_json::<Body>(br#"{"seats": -1, "name": "a"}"#).unwrap_err();
        assert!(e.message.starts_with("seats:"), "{}", e.message);
        let e = parse_json::<Body>(br#"{"seats": 1, "name": "a", "evil": 1}"#).unwrap_err();
        assert_eq!(e.status, 422);
        assert!(e.message.contains("evil"), "{}", e.message);
        let e = parse_json::<Body>(br#"{"seats": 1}"#).unwrap_err();
        assert!(e.message.contains("name"), "{}", e.message);
    }

    #[test]
    fn a_whole_number_float_is_the_integer_it_equals() {
        let b = parse_json::<Body>(br#"{"seats": 5.0, "name": "a"}"#).unwrap();
        assert_eq!(b.seats, 5);
        let b = parse_json::<Body>(br#"{"seats": 5e0, "name": "a"}"#).unwrap();
        assert_eq!(b.seats, 5);
        for refused in [r#"5.5"#, r#"-1.0"#, r#"1e300"#, r#"9223372036854775808.0"#] {
            let body = format!(r#"{{"seats": {refused}, "name": "a"}}"#);
            let e = parse_json::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 422, "{refused}");
            assert!(e.message.starts_with("seats:"), "{}", e.message);
        }
        #[derive(Debug, Deserialize)]
        struct Point {
            lat: f64,
            items: Vec<i64>,
        }
        let p = parse_json::<Point>(br#"{"lat": 52.0, "items": [1.0, -2.0]}"#).unwrap();
        assert_eq!((p.lat, p.items), (52.0, vec![1, -2]));
        let e = parse_json::<Body>(b"{} {}").unwrap_err();
        assert_eq!(e.status, 400, "trailing bytes are malformed");
    }
}
