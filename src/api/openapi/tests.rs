//! Tests of the OpenAPI document: every routed path documented with resolvable schemas,
//! parameters and error responses as the routes declare them.

use super::*;
use crate::api::routes::Routes;

fn full_document() -> (Vec<RouteDoc>, Value) {
    let (_router, api) = crate::api::table();
    let outside = crate::api::probes::unversioned(Routes::new(), true);
    let docs = crate::api::all_docs(&outside, &api);
    let doc = document(&docs);
    (docs, doc)
}

fn query_param<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("GET {path} has no parameters"))
        .iter()
        .find(|p| p["in"] == "query" && p["name"] == name)
        .unwrap_or_else(|| panic!("GET {path} does not document {name}"))
}

#[test]
fn idempotency_keys_are_offered_exactly_where_they_are_honoured() {
    let (_, doc) = full_document();
    let offers = |path: &str| {
        doc["paths"][path]["post"]["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "Idempotency-Key"))
    };
    assert!(offers("/v1/vehicles"));
    assert!(offers("/v1/rentals"));
    assert!(!offers("/v1/vehicles/{id}/tracker-credentials"));
    assert!(!offers("/v1/auth/token"));
    assert!(!offers("/v1/auth/logout"));
}

#[test]
fn every_routed_path_and_method_is_documented_with_resolvable_schemas() {
    let (docs, doc) = full_document();
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert!(doc["paths"][path]["get"].is_object(), "GET {path} missing");
    }
    for r in &docs {
        let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
        assert!(op.is_object(), "{} {} missing", r.method, r.path);
        if !r.roles.is_empty() {
            assert!(op["responses"]["401"].is_object());
        }
        for (name, _) in r.required_query {
            assert!(
                r.query.iter().all(|(n, _)| n != name),
                "{} {}: {name} is declared both required and optional",
                r.method,
                r.path
            );
        }
    }
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {name}"
        );
    }
}

#[test]
fn streams_and_idempotent_posts_are_documented_as_answered() {
    let (docs, doc) = full_document();
    let stream = &doc["paths"]["/v1/stream"]["get"]["responses"]["200"]["content"];
    assert!(stream["text/event-stream"].is_object(), "{stream}");
    assert!(stream["application/json"].is_null(), "{stream}");
    for r in docs
        .iter()
        .filter(|r| r.method == "POST" && !r.roles.is_empty())
    {
        let op = &doc["paths"][r.path]["post"];
        assert!(
            op["responses"]["422"].is_object(),
            "POST {} lacks 422",
            r.path
        );
    }
}

#[test]
fn query_parameters_are_typed_by_the_query_the_handler_parses() {
    let (docs, doc) = full_document();
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    for r in docs.iter().filter(|r| r.params.is_some()) {
        let typed = (r.params.unwrap())(&mut generator);
        let mut properties: Vec<&String> = typed
            .get("properties")
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let mut declared: Vec<&str> = r
            .required_query
            .iter()
            .chain(r.query)
            .map(|(name, _)| *name)
            .collect();
        properties.sort();
        declared.sort();
        assert_eq!(properties, declared, "{} {}", r.method, r.path);
        let mut required: Vec<&str> = typed
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        let mut declared_required: Vec<&str> = r.required_query.iter().map(|q| q.0).collect();
        required.sort();
        declared_required.sort();
        assert_eq!(required, declared_required, "{} {}", r.method, r.path);
    }
    let limit = query_param(&doc, "/v1/vehicles", "limit");
    assert_eq!(
        limit["schema"],
        json!({
            "type": ["integer", "string"], "format": "int64", "minimum": 1, "maximum": 200,
            "maxLength": 0
        }),
        "{limit}"
    );
    let status = query_param(&doc, "/v1/rentals", "status");
    assert_eq!(
        status["schema"]["enum"],
        json!([
            "reserved",
            "active",
            "completed",
            "cancelled",
            "no_show",
            ""
        ]),
        "{status}"
    );
    let driver = query_param(&doc, "/v1/assignments", "driver_id");
    assert!(
        driver["schema"]["pattern"]
            .as_str()
            .unwrap()
            .starts_with("^$|"),
        "{driver}"
    );
    let specs = query_param(&doc, "/v1/vehicles", "specs");
    assert_eq!(
        specs["content"]["application/json"]["schema"]["type"], "object",
        "{specs}"
    );
    let specs_schema = &specs["content"]["application/json"]["schema"];
    assert_eq!(specs_schema["propertyNames"]["pattern"], "^[^\\x00]*$");
    assert!(
        specs_schema["additionalProperties"]["type"].is_array(),
        "specs values are JSON without NUL, nested at most four levels"
    );
    let from = query_param(&doc, "/v1/availability", "from");
    assert_eq!(from["schema"]["format"], "date-time", "{from}");
    let mut limited = doc.clone();
    limit_radius(&mut limited, 1234.0);
    let radius = query_param(&limited, "/v1/dispatch/nearest", "radius_m");
    assert_eq!(radius["schema"]["maximum"], 1234.0, "{radius}");
    assert_eq!(radius["schema"]["exclusiveMinimum"], 0, "{radius}");
    let lat = query_param(&doc, "/v1/dispatch/nearest", "lat");
    assert_eq!(
        lat["schema"]["maximum"], 90.0,
        "required: no empty alternative"
    );
}

#[test]
fn every_error_response_lists_the_codes_it_can_carry() {
    let (docs, doc) = full_document();
    let code_enum = |path: &str, method: &str, status: &str| -> Vec<String> {
        let schema = &doc["paths"][path][method]["responses"][status]["content"]
            ["application/json"]["schema"];
        schema["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} {status}: no code enum"))
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    for r in &docs {
        for e in statuses(r) {
            let listed = code_enum(r.path, &r.method.to_ascii_lowercase(), &e.to_string());
            assert!(!listed.is_empty(), "{} {} {e}", r.method, r.path);
            for code in &listed {
                let known = ErrorCode::ALL.iter().find(|c| c.as_str() == code).unwrap();
                assert_eq!(known.status().as_u16(), e, "{code} under {e}");
            }
        }
    }
    let accept = code_enum("/v1/dispatch/jobs/{id}/accept", "post", "409");
    assert!(accept.contains(&"offer_expired".to_string()), "{accept:?}");
    assert!(accept.contains(&"idempotency_in_progress".to_string()));
    let login = code_enum("/v1/auth/token", "post", "401");
    assert_eq!(login, ["invalid_credentials"]);
    let vehicles = code_enum("/v1/vehicles", "get", "401");
    assert_eq!(
        vehicles,
        [
            "missing_token",
            "invalid_token",
            "token_expired",
            "token_revoked"
        ]
    );
    // Every code is in the document's ErrorCode schema.
    let all = doc["components"]["schemas"]["ErrorCode"].to_string();
    for c in ErrorCode::ALL {
        assert!(all.contains(&format!("\"{}\"", c.as_str())), "{c:?}");
    }
}

#[test]
fn query_parameters_are_required_as_declared() {
    let route = RouteDoc {
        required_query: &[("from", "window start")],
        query: &[("limit", "page size")],
        ..RouteDoc::new("GET", "/v1/things", "Things", &[])
    };
    let doc = document(&[route]);
    assert_eq!(query_param(&doc, "/v1/things", "from")["required"], true);
    assert_eq!(query_param(&doc, "/v1/things", "limit")["required"], false);
    let names: Vec<&Value> = doc["paths"]["/v1/things"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["name"])
        .collect();
    assert_eq!(names, ["from", "limit"], "required ones first");
}

/// Needs `required_query` declared in `availability.rs` and `positions.rs` (issue 4).
#[test]
fn the_window_and_the_pickup_point_are_required() {
    let (_, doc) = full_document();
    for (path, name) in [
        ("/v1/availability", "from"),
        ("/v1/availability", "to"),
        ("/v1/vehicles/{id}/track", "from"),
        ("/v1/vehicles/{id}/track", "to"),
        ("/v1/dispatch/nearest", "lat"),
        ("/v1/dispatch/nearest", "lon"),
    ] {
        assert_eq!(
            query_param(&doc, path, name)["required"],
            true,
            "{path} {name}"
        );
    }
    assert_eq!(
        query_param(&doc, "/v1/availability", "limit")["required"],
        false
    );
}
