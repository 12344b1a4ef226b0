//! The audit trail: who (user, role, IP) did what (method, route, entity type and id, the
//! request's fields) when, and how it ended, for every state-changing `/v1` request
//! (`POST`, `PUT`, `PATCH`, `DELETE`, except the read-only quote), in `audit_log`
//! (migration 10: append-only, monthly partitions).
//!
//! [`super::middleware::transaction`] captures an [`Entry`] before the handler runs and
//! writes it when the request ends: a success in the request's own transaction, so a change
//! is never committed without its record; a refused or failed request after its transaction
//! rolled back, on its own. Fields named like a secret (`password`, `token`, `secret`) are
//! recorded as `"[redacted]"`, and a body over [`MAX_CHANGES_BYTES`] only by its field names.
//! `GET /v1/audit` ([`routes`]) reads the trail (admins).

pub mod routes;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::api::auth::Role;
use crate::api::request_id::current_request_id;
use crate::api::state::AppState;

/// Largest recorded body; a larger one is recorded by its top-level field names only.
pub const MAX_CHANGES_BYTES: usize = 8 * 1024;
/// POST routes that change nothing.
const READ_ONLY: &[&str] = &["/v1/rentals/quote"];

const INSERT: &str = "INSERT INTO audit_log (user_id, role, ip, method, route, path, entity_type,
                                             entity_id, status, outcome, request_id, changes)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
/// Keeps `audit_log`'s monthly partitions `$2` months ahead of `$1`.
pub const PARTITIONS: &str = "SELECT audit_log_partitions($1, $2)";

/// One request's record, before its outcome is known.
#[derive(Debug, Clone)]
pub struct Entry {
    user_id: Option<Uuid>,
    role: Option<String>,
    ip: Option<IpAddr>,
    method: String,
    route: String,
    path: String,
    entity_type: String,
    entity_id: Option<String>,
    request_id: Option<String>,
    changes: Option<Value>,
}

/// Whether a request with `method` to `path` is audited.
pub fn audited(method: &Method, path: &str) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && path.starts_with("/v1/")
        && !READ_ONLY.contains(&path)
}

impl Entry {
    /// The record of a request, from its head and body. The caller is whoever the bearer
    /// token names if it is validly signed (the outcome says whether they were let in).
    pub fn capture(caller: Option<(Uuid, Role)>, parts: &Parts, body: &[u8]) -> Entry {
        let path = parts.uri.path().to_string();
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or_else(|| path.clone(), |m| m.as_str().to_string());
        let (entity_type, entity_id) = entity(&route, &path);
        let changes = changes(body);
        // A create names its entity in the body (`id`) or, failing that, in its answer.
        let entity_id = entity_id.or_else(|| match changes.as_ref()?.get("id")? {
            Value::String(s) => Some(s.clone()),
            _ => None,
        });
        Entry {
            user_id: caller.map(|c| c.0),
            role: caller.map(|c| c.1.as_str().to_string()),
            ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
            method: parts.method.to_string(),
            route,
            path,
            entity_type,
            entity_id,
            request_id: current_request_id(),
            changes,
        }
    }

    /// Names the entity a create made, from its answer's `id`, when the route had none.
    pub fn created(&mut self, answer: &[u8]) {
        if self.entity_id.is_none() {
            self.entity_id =
                serde_json::from_slice::<Value>(answer)
                    .ok()
                    .and_then(|v| match v.get("id")? {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
        }
    }

    /// Whether the entity's id is still to be read from the answer.
    pub fn wants_id(&self) -> bool {
        self.entity_id.is_none()
    }

    /// Writes the record with the request's `status` on `client` (the request's open
    /// transaction, or a connection of its own).
    pub async fn write(
        &self,
        client: &tokio_postgres::Client,
        status: StatusCode,
    ) -> Result<(), tokio_postgres::Error> {
        let outcome = if status.is_success() || status.is_redirection() {
            "succeeded"
        } else if status.is_client_error() {
            "refused"
        } else {
            "failed"
        };
        client
            .execute(
                INSERT,
                &[
                    &self.user_id,
                    &self.role,
                    &self.ip,
                    &self.method,
                    &self.route,
                    &self.path,
                    &self.entity_type,
                    &self.entity_id,
                    &(status.as_u16() as i16),
                    &outcome,
                    &self.request_id,
                    &self.changes,
                ],
            )
            .await?;
        Ok(())
    }
}

/// Writes `entry` on a connection of its own, after the request's transaction rolled back
/// (or never began). A failure is logged: the answer has been decided already.
pub async fn write_alone(state: &AppState, entry: &Entry, status: StatusCode) {
    let written = match state.pool.get().await {
        Ok(client) => entry
            .write(&client, status)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = written {
        tracing::error!(%error, method = %entry.method, path = %entry.path, %status, "audit record lost");
    }
}

/// The entity a route acts on: the static segments before its first parameter
/// (`/v1/dispatch/jobs/{id}/accept` → `dispatch/jobs`) and that parameter's value in `path`.
fn entity(route: &str, path: &str) -> (String, Option<String>) {
    let route: Vec<&str> = route.trim_start_matches("/v1/").split('/').collect();
    let path: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match route.iter().position(|s| s.starts_with('{')) {
        Some(i) => (route[..i].join("/"), path.get(i).map(|s| s.to_string())),
        None => (route.join("/"), None),
    }
}

/// The request's JSON fields with secrets redacted; field names only when large; `None`
/// without a JSON body.
fn changes(body: &[u8]) -> Option<Value> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    redact(&mut value);
    if body.len() <= MAX_CHANGES_BYTES {
        return Some(value);
    }
    let fields: Vec<Value> = match &value {
        Value::Object(o) => o.keys().map(|k| Value::String(k.clone())).collect(),
        _ => Vec::new(),
    };
    let mut summary = Map::new();
    summary.insert("_truncated".into(), Value::Bool(true));
    summary.insert("_fields".into(), Value::Array(fields));
    Some(Value::Object(summary))
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                let k = k.to_ascii_lowercase();
                if ["password", "token", "secret"]
                    .iter()
                    .any(|s| k.contains(s))
                {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entities_come_from_the_route_template() {
        assert_eq!(
            entity("/v1/vehicles/{id}/status", "/v1/vehicles/truck-7/status"),
            ("vehicles".into(), Some("truck-7".into()))
        );
        assert_eq!(
            entity(
                "/v1/dispatch/jobs/{id}/accept",
                "/v1/dispatch/jobs/5e1c/accept"
            ),
            ("dispatch/jobs".into(), Some("5e1c".into()))
        );
        assert_eq!(entity("/v1/users", "/v1/users"), ("users".into(), None));
        assert_eq!(
            entity("/v1/auth/token", "/v1/auth/token"),
            ("auth/token".into(), None)
        );
    }

    #[test]
    fn secrets_are_redacted_at_any_depth_and_big_bodies_summarised() {
        let body = json!({"username": "u", "password": "p", "nested": {"Refresh_Token": "t",
                          "list": [{"client_secret": 1}]}, "current_password": "c"});
        let got = changes(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            got,
            json!({"username": "u", "password": "[redacted]", "nested": {"Refresh_Token": "[redacted]",
                   "list": [{"client_secret": "[redacted]"}]}, "current_password": "[redacted]"})
        );
        assert_eq!(changes(b"not json"), None);
        assert_eq!(changes(b""), None);
        let big = json!({"notes": "x".repeat(MAX_CHANGES_BYTES), "name": "n"});
        assert_eq!(
            changes(big.to_string().as_bytes()).unwrap(),
            json!({"_truncated": true, "_fields": ["name", "notes"]})
        );
    }

    #[test]
    fn only_state_changing_v1_requests_are_audited() {
        assert!(audited(&Method::POST, "/v1/vehicles"));
        assert!(audited(&Method::DELETE, "/v1/vehicles/v"));
        assert!(audited(&Method::PATCH, "/v1/users/u"));
        assert!(!audited(&Method::GET, "/v1/vehicles"));
        assert!(!audited(&Method::POST, "/v1/rentals/quote"));
        assert!(!audited(&Method::POST, "/healthz"));
    }
}
