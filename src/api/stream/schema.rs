//! The OpenAPI schema of the stream's events.

use schemars::{Schema, SchemaGenerator};

use super::StreamPosition;
use crate::dispatch::jobs::JobEvent;

/// One Server-Sent Event (`event:` name and `data:` JSON) of the stream: `job` (a
/// [`JobEvent`]), `positions` (`{"items": [StreamPosition]}`), `event` (an outbox event, with
/// `id:` its id), `lagged` (`{"missed": n}`: this client fell behind and missed n
/// notifications), `resync` (`{"reason"}`: re-read the jobs you follow; or, for events,
/// `events_expired` with `oldest_event_id`) or `end` (`{"reason"}`: the token expired or was
/// revoked; the stream closes).
pub fn event_schema(g: &mut SchemaGenerator) -> Schema {
    let job = g.subschema_for::<JobEvent>();
    let position = g.subschema_for::<StreamPosition>();
    let event = |name: &str, data: serde_json::Value| {
        serde_json::json!({
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"const": name},
                "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data}
            }
        })
    };
    let one_of = serde_json::json!({"oneOf": [
        event("job", job.to_value()),
        event("positions", serde_json::json!({
            "type": "object", "required": ["items"],
            "properties": {"items": {"type": "array", "items": position.to_value()}}
        })),
        event("event", serde_json::json!({
            "type": "object",
            "required": ["id", "type", "aggregate_type", "aggregate_id", "occurred_at", "actor",
                         "version", "payload"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": {"type": "string"},
                "aggregate_type": {"type": "string"},
                "aggregate_id": {"type": "string"},
                "occurred_at": {"type": "string", "format": "date-time"},
                "actor": {"type": "string"},
                "version": {"type": "integer", "minimum": 1},
                "payload": {"type": "object"}
            }
        })),
        event("lagged", serde_json::json!({
            "type": "object", "required": ["missed"],
            "properties": {"missed": {"type": "integer", "minimum": 1}}
        })),
        event("resync", serde_json::json!({
            "type": "object", "required": ["reason"],
            "properties": {"reason": {"type": "string"}, "oldest_event_id": {"type": "integer"}}
        })),
        event("end", serde_json::json!({
            "type": "object", "required": ["reason"],
            "properties": {"reason": {"enum": ["token_expired", "token_revoked"]}}
        })),
    ]});
    Schema::try_from(one_of).expect("an object is a schema")
}
