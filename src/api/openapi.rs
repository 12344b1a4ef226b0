//! `GET /openapi.json`: the OpenAPI 3.1 document, built from the same route table as the
//! router (so a route cannot be served without being documented), with JSON Schemas
//! (2020-12, which OpenAPI 3.1 uses) derived from the request and response types.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::error::ErrorCode;
use super::middleware::idempotency::{honours_keys, KEY_PATTERN};
use super::routes::RouteDoc;

/// `GET /openapi.json` itself; the other routes outside `/v1` are documented where
/// [`super::probes`] adds them.
pub const ROUTE: RouteDoc = RouteDoc::new("GET", "/openapi.json", "This document", &[]);

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Malformed request (bad JSON syntax)",
        401 => "Missing, malformed, forged or expired token",
        403 => "The caller's role may not do this",
        404 => "No such resource, or not the caller's",
        409 => "Conflict with the current state (the code says which)",
        413 => "Request body too large",
        422 => "Well-formed but invalid values (the message names the field)",
        429 => "Rate limited; see Retry-After",
        503 => "A dependency is down",
        _ => "Error",
    }
}

/// The error statuses `r` can answer: its own, those every authenticated route can
/// (401, 403, 429, 503), and those every authenticated `POST` can (409 while the first
/// request with its `Idempotency-Key` runs, 422 when the key is reused for another request).
fn statuses(r: &RouteDoc) -> Vec<u16> {
    let mut errors: Vec<u16> = r.errors.to_vec();
    if !r.roles.is_empty() {
        errors.extend([401, 403, 429, 503]);
    }
    if authed_post(r) {
        errors.extend([409, 422]);
    }
    if !r.conflicts.is_empty() {
        errors.push(409);
    }
    errors.sort_unstable();
    errors.dedup();
    errors
}

fn authed_post(r: &RouteDoc) -> bool {
    r.method == "POST" && !r.roles.is_empty()
}

/// The codes `r` can answer with `status`.
pub fn codes(r: &RouteDoc, status: u16) -> Vec<ErrorCode> {
    use ErrorCode::*;
    let authed = !r.roles.is_empty();
    let mut codes: Vec<ErrorCode> = match status {
        401 if authed => vec![MissingToken, InvalidToken, TokenExpired, TokenRevoked],
        // A refresh token is a credential of its own, refused like a bearer token.
        401 if r.path == crate::api::auth::refresh::REFRESH_PATH => {
            vec![InvalidToken, TokenExpired, TokenRevoked]
        }
        401 => vec![InvalidCredentials],
        409 => {
            let mut c = r.conflicts.to_vec();
            if authed_post(r) {
                c.push(IdempotencyInProgress);
            }
            if authed && r.method != "GET" {
                // A deadlock or lock timeout can end any write.
                c.push(ConcurrentUpdate);
            }
            c
        }
        422 if authed_post(r) => vec![InvalidValue, IdempotencyKeyReused],
        other => ErrorCode::with_status(other).collect(),
    };
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// One query parameter of `r`: its schema is the property `name` of the route's query type
/// (without the `null` an `Option` adds: an absent parameter is simply not sent), or a string
/// when the route has none. An object-valued parameter is sent as JSON (`content`).
fn query_parameter(
    r: &RouteDoc,
    typed: Option<&schemars::Schema>,
    definitions: &Map<String, Value>,
    name: &str,
    what: &str,
    required: bool,
) -> Value {
    let schema = match typed {
        None => json!({"type": "string"}),
        Some(typed) => {
            let property = typed
                .get("properties")
                .and_then(|p| p.get(name))
                .unwrap_or_else(|| panic!("{} {}: the query type has no {name}", r.method, r.path));
            let mut schema = without_null(property.clone());
            // The parameter's own description says it (the route table's words).
            if let Some(o) = schema.as_object_mut() {
                o.remove("description");
            }
            schema
        }
    };
    let mut p = json!({"name": name, "in": "query", "required": required, "description": what});
    if schema.get("type") == Some(&json!("object")) {
        p["content"] = json!({"application/json": {"schema": schema}});
    } else if required {
        p["schema"] = schema;
    } else {
        // An empty value counts as absent (`?limit=&cursor=`): it is allowed whatever the type.
        p["schema"] = or_empty(schema, definitions);
    }
    p
}

/// `schema` that also allows `""`. Folded into the one schema where it can be (an enum gains
/// `""`; a number or boolean type gains `string` with `maxLength: 0`; a pattern gains `^$|`; a
/// uuid becomes its pattern), so that a fuzzer mutating the value sees one rule, not two
/// alternatives it may confuse; `anyOf` otherwise.
fn or_empty(schema: Value, definitions: &Map<String, Value>) -> Value {
    const UUID: &str =
        "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
    let mut s = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            match definitions.get(name) {
                Some(definition) => definition.clone(),
                None => return json!({"anyOf": [schema, {"const": ""}]}),
            }
        }
        None => schema.clone(),
    };
    if let Some(o) = s.as_object_mut() {
        o.remove("description");
        o.remove("title");
    }
    if let Some(values) = s.get_mut("enum").and_then(Value::as_array_mut) {
        values.push(json!(""));
        return s;
    }
    let types: Vec<String> = match &s["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let folded = s.get("anyOf").is_none() && s.get("oneOf").is_none() && s.get("const").is_none();
    if !folded || types.is_empty() {
        return json!({"anyOf": [schema, {"const": ""}]});
    }
    if !types.iter().any(|t| t == "string") {
        let mut all: Vec<Value> = types.iter().map(|t| json!(t)).collect();
        all.push(json!("string"));
        s["type"] = Value::Array(all);
        s["maxLength"] = json!(0);
        return s;
    }
    if s["format"] == "uuid" {
        s.as_object_mut().map(|o| o.remove("format"));
        s["pattern"] = json!(UUID);
    }
    match s.get("format").or(s.get("minLength")) {
        Some(_) => json!({"anyOf": [schema, {"const": ""}]}),
        None => {
            let pattern = match s["pattern"].as_str() {
                Some(p) => format!("^$|(?:{p})"),
                None => return s, // any string, "" included
            };
            s["pattern"] = json!(pattern);
            s
        }
    }
}

/// `schema` without the `null` alternative `Option<T>` adds (`"type": ["integer", "null"]`,
/// or `anyOf: [T, {"type": "null"}]`).
fn without_null(mut schema: Value) -> Value {
    if let Some(types) = schema.get("type").and_then(Value::as_array) {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        schema["type"] = match rest.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(rest),
        };
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = any.iter().filter(|s| s["type"] != "null").collect();
        if let [one] = rest.as_slice() {
            let mut one = (*one).clone();
            if let (Some(o), Some(desc)) = (one.as_object_mut(), schema.get("description")) {
                o.insert("description".into(), desc.clone());
            }
            return one;
        }
    }
    if let Some(e) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        e.retain(|v| !v.is_null());
    }
    schema
}

/// Every `radius_m` the document describes (the nearest query's parameter, the job body's
/// field) gets `maximum = max_radius_m`, the deployment's `dispatch.max_radius_m`.
pub fn limit_radius(document: &mut Value, max_radius_m: f64) {
    match document {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "radius_m" && value.is_object() {
                    value["maximum"] = json!(max_radius_m);
                }
                limit_radius(value, max_radius_m);
            }
            if map.get("name") == Some(&json!("radius_m")) {
                if let Some(schema) = map.get_mut("schema") {
                    schema["maximum"] = json!(max_radius_m);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| limit_radius(v, max_radius_m)),
        _ => {}
    }
}

/// The whole document for `routes` (all of them: see `super::all_docs`).
pub fn document(routes: &[RouteDoc]) -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "#/components/schemas/".into();
    let mut generator = settings.into_generator();
    let mut paths = Map::new();
    for r in routes {
        let mut op = Map::new();
        op.insert("summary".into(), json!(r.summary));
        op.insert(
            "operationId".into(),
            json!(format!("{} {}", r.method, r.path)),
        );
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let typed = r.params.map(|f| f(&mut generator));
        let required = r.required_query.iter().map(|q| (q, true));
        let optional = r.query.iter().map(|q| (q, false));
        params.extend(required.chain(optional).map(|((name, what), required)| {
            query_parameter(
                r,
                typed.as_ref(),
                generator.definitions(),
                name,
                what,
                required,
            )
        }));
        if !r.roles.is_empty() && honours_keys(r.method, r.path) {
            params.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "retries with the same key return the first response",
                "schema": {"type": "string", "pattern": KEY_PATTERN}
            }));
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(request) = r.request {
            let schema = request(&mut generator);
            op.insert(
                "requestBody".into(),
                json!({"required": !r.optional_body, "content": {"application/json": {"schema": schema}}}),
            );
        }
        let mut responses = Map::new();
        let ok = match r.response {
            Some(response) => {
                let schema = response(&mut generator);
                json!({"description": "Success", "content": {r.content_type: {"schema": schema}}})
            }
            None => json!({"description": "Success"}),
        };
        responses.insert(r.success.to_string(), ok);
        for e in statuses(r) {
            let codes: Vec<&str> = codes(r, e).into_iter().map(ErrorCode::as_str).collect();
            let schema = json!({
                "allOf": [{"$ref": "#/components/schemas/Error"}],
                "properties": {"error": {"properties": {"code": {"enum": codes}}}}
            });
            responses.insert(
                e.to_string(),
                json!({"description": reason(e), "content": {"application/json": {"schema": schema}}}),
            );
        }
        op.insert("responses".into(), Value::Object(responses));
        if r.roles.is_empty() {
            op.insert("security".into(), json!([]));
        } else {
            let roles: Vec<&str> = r.roles.iter().map(|r| r.as_str()).collect();
            op.insert("x-roles".into(), json!(roles));
            op.insert(
                "description".into(),
                json!(format!("Roles: {}.", roles.join(", "))),
            );
        }
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry
            .as_object_mut()
            .expect("path items are objects")
            .insert(r.method.to_ascii_lowercase(), Value::Object(op));
    }
    let error_code = generator.subschema_for::<ErrorCode>();
    let event_schemas = events::schemas(&mut generator);
    let mut schemas = generator.take_definitions(true);
    for (name, schema) in event_schemas {
        let clash = schemas.insert(name.clone(), schema);
        assert!(clash.is_none(), "two component schemas named {name}");
    }
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": error_code,
                    "message": {"type": "string"},
                    "request_id": {"type": "string", "description": "also in the x-request-id header"}
                }
            }}
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "fleetd",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Fleet telemetry, registry, rentals and maintenance. Times are RFC 3339 UTC; money is integer minor units plus an ISO 4217 code."
        },
        "paths": paths,
        "webhooks": events::webhooks(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas
        },
        "security": [{"bearer": []}]
    })
}

pub mod events;
pub mod payloads;

#[cfg(test)]
mod tests;
