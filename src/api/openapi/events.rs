//! The event catalogue in `GET /openapi.json` (docs/events.md, "Schemas"): what webhooks and
//! `GET /v1/stream` deliver, `event_body(e)` of migrations/0018_webhooks.sql, as component
//! schemas a consumer can generate types from:
//!
//! - `EventEnvelope`: the fields every event has, whatever its type;
//! - `{Type}Payload`, one per type ([`super::payloads`]);
//! - `{Type}Event`: the envelope with that type, its aggregate, version 1 and that payload;
//! - `Event`: any one of them, `oneOf` discriminated by `type`.

use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use super::payloads::{camel, payload, payload_name};
use crate::events::{Kind, VERSION};

/// The envelope's component name.
pub const ENVELOPE: &str = "EventEnvelope";
/// The union's component name.
pub const UNION: &str = "Event";

/// The component name of `kind`'s whole event.
pub fn event_name(kind: Kind) -> String {
    format!("{}Event", camel(kind))
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The event schemas by component name; the API representations they reference are added to
/// `generator`'s definitions.
pub fn schemas(generator: &mut SchemaGenerator) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(ENVELOPE.into(), envelope());
    let mut mapping = Map::new();
    for kind in Kind::ALL {
        let (event, body) = (event_name(kind), payload_name(kind));
        out.insert(body.clone(), payload(kind, generator));
        let mut e = reference(ENVELOPE);
        e["description"] = json!(format!("A `{}` event.", kind.as_str()));
        e["properties"] = json!({
            "type": {"const": kind.as_str()},
            "aggregate_type": {"const": kind.aggregate()},
            "version": {"const": VERSION},
            "payload": reference(&body),
        });
        out.insert(event.clone(), e);
        mapping.insert(kind.as_str().into(), reference(&event)["$ref"].clone());
    }
    let one_of: Vec<Value> = Kind::ALL
        .into_iter()
        .map(|k| reference(&event_name(k)))
        .collect();
    out.insert(
        UNION.into(),
        json!({
            "description": "An event as webhooks and `GET /v1/stream` deliver it (docs/events.md): one of the catalogue's types, told apart by `type`.",
            "oneOf": one_of,
            "discriminator": {"propertyName": "type", "mapping": mapping}
        }),
    );
    out
}

/// OpenAPI 3.1's top-level `webhooks`: the request fleetd makes to a subscribed URL
/// (docs/webhooks.md), so that a receiver's types come from the same document.
pub fn webhooks() -> Value {
    let header = |name: &str, description: &str, schema: Value| {
        json!({ "name": name, "in": "header", "required": true,
                "description": description, "schema": schema })
    };
    json!({
        "event": {
            "post": {
                "summary": "An event delivered to a subscribed URL",
                "description": "At least once; per subscription, each aggregate's events in id order. Verify `fleetd-signature` over the raw body before parsing it (docs/webhooks.md).",
                "parameters": [
                    header("fleetd-event-id", "The event's id: the same on every attempt (deduplicate on it).",
                           json!({"type": "integer", "format": "int64", "minimum": 1})),
                    header("fleetd-event-type", "The event's type.", json!({"type": "string"})),
                    header("fleetd-timestamp", "Unix seconds when this attempt was signed.",
                           json!({"type": "integer", "format": "int64"})),
                    header("fleetd-signature", "`v1=` and the hex HMAC-SHA256, keyed with the subscription's secret, of `{fleetd-timestamp}.{raw body}`.",
                           json!({"type": "string", "pattern": "^v1=[0-9a-f]{64}$"})),
                    header("fleetd-delivery-attempt", "1 for the first attempt, then 2, 3, ….",
                           json!({"type": "integer", "minimum": 1}))
                ],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": reference(UNION)}}
                },
                "responses": {
                    "2XX": {"description": "Accepted. Anything else (another status, a timeout, a redirect, a refused connection) is a failure, retried with backoff for webhooks.max_retry_hours and then dead-lettered."}
                },
                "security": []
            }
        }
    })
}

/// The fields of every event, in the order `event_body` writes them.
fn envelope() -> Value {
    let types: Vec<&str> = Kind::ALL.into_iter().map(Kind::as_str).collect();
    let mut aggregates: Vec<&str> = Vec::new();
    for a in Kind::ALL.into_iter().map(Kind::aggregate) {
        if !aggregates.contains(&a) {
            aggregates.push(a);
        }
    }
    json!({
        "type": "object",
        "description": "The fields every event has; `payload` depends on `type` (see `Event`).",
        "required": ["id", "type", "aggregate_type", "aggregate_id", "occurred_at", "actor", "version", "payload"],
        "properties": {
            "id": {"type": "integer", "format": "int64", "minimum": 1,
                   "description": "Global order, gapless, from 1."},
            "type": {"enum": types, "description": "`{aggregate}.{what happened}`."},
            "aggregate_type": {"enum": aggregates, "description": "The part of `type` before the dot."},
            "aggregate_id": {"type": "string", "minLength": 1,
                             "description": "The id of the vehicle, driver, assignment, rental, maintenance job, dispatch job, trip or stop."},
            "occurred_at": {"type": "string", "format": "date-time",
                            "description": "When the change was made: RFC 3339 in UTC, microseconds."},
            "actor": {
                "description": "The user whose request made the change, or `system`.",
                "oneOf": [{"type": "string", "format": "uuid"}, {"const": "system"}]
            },
            "version": {"type": "integer", "format": "int32", "minimum": 1,
                        "description": "The payload's version."},
            "payload": {"type": "object"}
        },
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests;
