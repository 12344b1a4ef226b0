//! The event schemas in the served document: every type has its payload and event schema,
//! the union lists them all, and the examples of docs/events.md validate against them.

use serde_json::{json, Value};

use super::*;
use crate::api::routes::Routes;

fn full_document() -> Value {
    let (_router, api) = crate::api::table();
    let outside = crate::api::probes::unversioned(Routes::new(), true);
    crate::api::openapi::document(&crate::api::all_docs(&outside, &api))
}

/// A validator for the component schema `name` of `doc` (its `$ref`s resolved in `doc`).
fn validator(doc: &Value, name: &str, formats: bool) -> jsonschema::Validator {
    let schema = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(formats)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_type_has_its_payload_and_event_schema_and_is_in_the_union() {
    let doc = full_document();
    let schemas = &doc["components"]["schemas"];
    let union = &schemas[UNION];
    let one_of = union["oneOf"].as_array().expect("Event is a oneOf");
    assert_eq!(one_of.len(), Kind::ALL.len());
    let types = schemas[ENVELOPE]["properties"]["type"]["enum"]
        .as_array()
        .unwrap();
    assert_eq!(types.len(), Kind::ALL.len());
    for kind in Kind::ALL {
        let (event, body) = (event_name(kind), payload_name(kind));
        assert!(schemas[&body].is_object(), "no {body}");
        assert!(schemas[&event].is_object(), "no {event}");
        let target = format!("#/components/schemas/{event}");
        assert_eq!(
            schemas[&event]["properties"]["type"]["const"],
            kind.as_str()
        );
        assert_eq!(
            schemas[&event]["properties"]["payload"]["$ref"],
            format!("#/components/schemas/{body}")
        );
        assert!(
            one_of.iter().any(|s| s["$ref"] == target.as_str()),
            "{event}"
        );
        assert_eq!(union["discriminator"]["mapping"][kind.as_str()], target);
        assert!(types.contains(&json!(kind.as_str())));
    }
}

/// A change that makes a valid event invalid.
type Spoil = fn(&mut Value);

#[test]
fn the_union_takes_an_event_only_with_its_own_types_payload() {
    let doc = full_document();
    let any = validator(&doc, UNION, true);
    let mut e = json!({
        "id": 7, "type": "vehicle.status_changed", "aggregate_type": "vehicle",
        "aggregate_id": "van-042", "occurred_at": "2026-12-07T10:00:00.123456Z",
        "actor": "system", "version": 1,
        "payload": {"vehicle_id": "van-042", "from": "active", "to": "under_maintenance"}
    });
    assert!(any.is_valid(&e), "{e}");
    let wrong: [(&str, Spoil); 6] = [
        ("another type's name", |e| {
            e["type"] = json!("driver.duty_changed")
        }),
        ("another aggregate", |e| {
            e["aggregate_type"] = json!("rental")
        }),
        ("an unknown status", |e| {
            e["payload"]["to"] = json!("parked")
        }),
        ("a missing field", |e| {
            e["payload"].as_object_mut().unwrap().remove("from");
        }),
        ("an extra field", |e| e["payload"]["extra"] = json!(1)),
        ("another version", |e| e["version"] = json!(2)),
    ];
    for (what, spoil) in wrong {
        let mut bad = e.clone();
        spoil(&mut bad);
        assert!(!any.is_valid(&bad), "{what}: {bad}");
    }
    // A decommissioning says where it went.
    e["type"] = json!("vehicle.decommissioned");
    assert!(!any.is_valid(&e), "{e}");
    e["payload"]["to"] = json!("decommissioned");
    assert!(any.is_valid(&e), "{e}");
}

/// The ```json examples of docs/events.md's catalogue, each with the types of the section it
/// illustrates (the backticked first cell of the section's table rows).
fn examples(doc: &str) -> Vec<(Vec<String>, Value)> {
    let catalogue = doc
        .split("\n## Catalogue")
        .nth(1)
        .expect("docs/events.md has a Catalogue section");
    let catalogue = catalogue.split("\n## ").next().unwrap_or_default();
    let mut out = Vec::new();
    for section in catalogue.split("\n### ").skip(1) {
        let types: Vec<String> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .filter(|t| t.contains('.'))
            .map(String::from)
            .collect();
        for block in section.split("```json\n").skip(1) {
            let text = block.split("```").next().unwrap_or_default();
            let value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("an example is not JSON ({e}): {text}"));
            out.push((types.clone(), value));
        }
    }
    out
}

/// Each example is the payload of one of its section's types. Formats are not checked: the
/// examples shorten ids (`"0b5d…"`).
#[test]
fn the_docs_examples_are_payloads_of_their_types() {
    let doc = full_document();
    let examples = examples(include_str!("../../../../docs/events.md"));
    assert!(examples.len() >= 6, "{} examples", examples.len());
    for (types, example) in examples {
        assert!(
            !types.is_empty(),
            "an example outside a type table: {example}"
        );
        let fits = types.iter().any(|t| {
            let kind = Kind::ALL.into_iter().find(|k| k.as_str() == t);
            let kind = kind.unwrap_or_else(|| panic!("docs/events.md: unknown type {t}"));
            validator(&doc, &payload_name(kind), false).is_valid(&example)
        });
        assert!(fits, "no type of {types:?} takes {example}");
    }
}

#[test]
fn the_webhook_request_is_documented_with_the_event_union_and_its_headers() {
    let doc = full_document();
    let post = &doc["webhooks"]["event"]["post"];
    assert_eq!(
        post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        format!("#/components/schemas/{UNION}")
    );
    let headers: Vec<&str> = post["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // What src/webhooks/deliver.rs sends.
    let sent = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/webhooks/deliver.rs"),
    )
    .unwrap();
    for h in &headers {
        assert!(sent.contains(&format!("\"{h}\"")), "{h} is not sent");
    }
    assert_eq!(headers.len(), 5);
}
