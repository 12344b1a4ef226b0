//! Request parsing with the statuses of docs/http.md: a body over the limit is 413, JSON that does not
//! parse is 400, JSON that parses but has the wrong shape or values is 422 naming the field
//! (unknown fields included: every body type denies them). The body's content type is not
//! checked, so `curl -d` works without `-H 'content-type: application/json'`.
//!
//! Beside the extractors: [`objects`] (a struct is read from a JSON object only) and the field
//! rules with their schema patterns ([`rules`], re-exported here).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::api::error::ApiError;
use objects::Objects;

mod objects;
mod rules;

pub use rules::*;

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_json(&body_bytes(req, state).await?).map(ApiJson)
    }
}

/// The whole body: 413 beyond the size limit, 400 when it cannot be read.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::malformed(e.body_text())
        }
    })
}

/// A JSON body that may be left out: an empty body (or one of whitespace only) is `T`'s
/// default, anything else is read as [`ApiJson`] reads it.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// Parses a body: syntax errors (trailing bytes included) are 400, shape errors 422 with the
/// JSON path. A number with a zero fraction (`5.0`) counts as the integer it equals, as JSON
/// Schema says it is: an integer field accepts it, a fractional one (`5.5`) stays refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::malformed(format!("malformed JSON: {e}")))?;
    let value = Objects(integral_floats_as_integers(value));
    serde_path_to_error::deserialize(value).map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

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

    /// A struct is read from a JSON object only, at any depth (serde would also take an
    /// array of its fields in order); everything else reads as before.
    #[test]
    fn structs_come_from_objects_only() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Patch {
            role: Option<String>,
            active: Option<bool>,
        }
        #[derive(Debug, Deserialize, PartialEq)]
        struct Point {
            lat: f64,
            lon: f64,
        }
        #[derive(Debug, Deserialize, PartialEq)]
        struct Job {
            pickup: Point,
            dropoff: Option<Point>,
            #[serde(default)]
            stops: Vec<Point>,
            tags: Option<Vec<String>>,
            specs: Option<serde_json::Value>,
        }
        for body in ["[null, null]", "[]", "[\"admin\", true]"] {
            let e = parse_json::<Patch>(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 422, "{body}");
            assert!(e.message.starts_with("body:"), "{body}: {}", e.message);
        }
        let p = parse_json::<Patch>(br#"{"active": false}"#).unwrap();
        assert_eq!(
            p,
            Patch {
                role: None,
                active: Some(false)
            }
        );
        assert!(parse_json::<Patch>(br#"{"act": false}"#).is_err());
        for (body, field) in [
            (r#"{"pickup": [52.1, 13.4]}"#, "pickup"),
            (
                r#"{"pickup": {"lat": 1, "lon": 2}, "dropoff": [1, 2]}"#,
                "dropoff",
            ),
            (
                r#"{"pickup": {"lat": 1, "lon": 2}, "stops": [[1, 2]]}"#,
                "stops[0]",
            ),
        ] {
            let e = parse_json::<Job>(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 422, "{body}");
            assert!(
                e.message.starts_with(&format!("{field}:")),
                "{body}: {}",
                e.message
            );
        }
        let j = parse_json::<Job>(
            br#"{"pickup": {"lat": 1, "lon": 2.5}, "dropoff": null,
                 "stops": [{"lat": 3, "lon": 4}], "tags": ["a"],
                 "specs": {"axles": [1, {"x": null}], "n": 2.5}}"#,
        )
        .unwrap();
        assert_eq!(j.pickup, Point { lat: 1.0, lon: 2.5 });
        assert_eq!((j.dropoff, j.stops.len()), (None, 1));
        assert_eq!(j.tags, Some(vec!["a".to_string()]));
        assert_eq!(
            j.specs.unwrap(),
            json!({"axles": [1, {"x": null}], "n": 2.5})
        );
    }
}
