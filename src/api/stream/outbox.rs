//! The outbox's events on the stream: `GET /v1/stream?events=rental.*,job.*&after=<id>`
//! (staff only). Each is sent as SSE event `event`, with `id:` its event id and `data:` the
//! body webhooks receive; a client that reconnects with `Last-Event-ID` (browsers do it by
//! themselves), or with `after`, resumes exactly after it. Resuming from before the oldest
//! event still retained first sends `resync` (`{"reason": "events_expired",
//! "oldest_event_id"}`): what lies between is gone.

use axum::http::HeaderMap;
use axum::response::sse::Event;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::events::feed::{self, Cursor, StoredEvent};
use crate::events::pattern;

/// The `events` parameter: comma-separated patterns (`rental.*,job.offered`).
pub fn patterns(raw: &str) -> Result<Vec<String>, ApiError> {
    let list: Vec<String> = raw.split(',').map(|p| p.trim().to_string()).collect();
    pattern::parse(&list).map_err(|e| ApiError::invalid("events", e))
}

/// What `events` accepts, for the OpenAPI document: one to 64 patterns, comma-separated.
pub fn patterns_regex() -> String {
    let one = pattern::regex();
    let inner = &one[1..one.len() - 1];
    format!("^ *{inner} *( *, *{inner} *){{0,63}}$")
}

/// Where to resume: `Last-Event-ID` (sent by a reconnecting browser, so newer than the URL's
/// `after`), else `after`; `None`: from now.
fn resume_from(headers: &HeaderMap, after: Option<i64>) -> Result<Option<i64>, ApiError> {
    match headers.get("last-event-id") {
        Some(v) => {
            let id = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    ApiError::invalid("Last-Event-ID", "an event id this stream sent")
                })?;
            Ok(Some(id))
        }
        None => Ok(after),
    }
}

/// The caller's cursor, and the `resync` to send first when it resumes from before what is
/// retained.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    after: Option<i64>,
    headers: &HeaderMap,
) -> Result<(Cursor, Option<Event>), ApiError> {
    if !caller.is_staff() {
        return Err(ApiError::forbidden("only staff may stream events"));
    }
    let patterns = patterns(raw)?;
    if matches!(after, Some(a) if a < 0) {
        return Err(ApiError::invalid("after", "an event id, 0 or more"));
    }
    let from = resume_from(headers, after)?;
    let (oldest, last) = feed::bounds(&**state.pool.get().await?).await?;
    let mut notice = None;
    let after = match from {
        None => last,
        Some(a) if a > last => {
            return Err(ApiError::invalid(
                "after",
                format!("no event {a} yet: the last is {last}"),
            ))
        }
        Some(a) => match oldest {
            Some(o) if a < o - 1 => {
                notice = json(
                    "resync",
                    &serde_json::json!({ "reason": "events_expired", "oldest_event_id": o }),
                );
                o - 1
            }
            _ => a,
        },
    };
    Ok((state.events.cursor(patterns, after, last), notice))
}

/// The SSE event of a stored event.
pub fn sse(e: &StoredEvent) -> Event {
    Event::default()
        .event("event")
        .id(e.id.to_string())
        .data(&e.body)
}

fn json(name: &str, data: &serde_json::Value) -> Option<Event> {
    Event::default().event(name).json_data(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_regex_reads_what_patterns_reads() {
        let re = regex::Regex::new(&patterns_regex()).unwrap();
        for s in [
            "rental.*",
            "rental.*,job.*",
            " rental.* , job.offered ",
            "*",
            "rental.*,",
            ",rental.*",
            "rentl.*",
            "",
            "rental.*;job.*",
            "rental.*,,job.*",
        ] {
            assert_eq!(re.is_match(s), patterns(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn last_event_id_wins_over_after() {
        let mut h = HeaderMap::new();
        assert_eq!(resume_from(&h, Some(5)).unwrap(), Some(5));
        assert_eq!(resume_from(&h, None).unwrap(), None);
        h.insert("last-event-id", "42".parse().unwrap());
        assert_eq!(resume_from(&h, Some(5)).unwrap(), Some(42));
        for bad in ["x", "-1", "1e3", "99999999999999999999"] {
            h.insert("last-event-id", bad.parse().unwrap());
            assert!(resume_from(&h, None).is_err(), "{bad}");
        }
    }
}
