//! `GET /v1/stream`: Server-Sent Events of job transitions, for a bounding box live
//! positions, and the outbox's events ([`outbox`]), authenticated like the rest of the API
//! (`Authorization: Bearer`).
//!
//! Job events come from PostgreSQL notifications, so every daemon's streams see every
//! transition, each job's in commit order. Events: `job` (a [`JobEvent`]), `positions`
//! (`{"items": [...]}`, vehicles inside the box whose position just changed), and `lagged`
//! (`{"missed": n}`) when this client fell so far behind that events were dropped, and
//! `resync` (`{"reason": ...}`) when this daemon's notification connection to PostgreSQL was
//! re-established, so transitions committed meanwhile were not seen: after either, the client
//! should re-read the jobs it cares about (`GET /v1/dispatch/jobs/{id}` has the whole history).
//! Staff see every job and may ask for positions; a customer sees the jobs they created, a
//! driver the events that concern them.
//!
//! A stream lives no longer than its token: at the token's expiry, or as soon as it is
//! revoked (logout, the user disabled, deleted or changed), it sends `end`
//! (`{"reason": "token_expired" | "token_revoked"}`) and closes; reconnect with a new token.
//! A user holds at most `http.max_streams_per_user` streams per daemon (one more is 429).
//!
//! [`snapshot`]: `GET /v1/positions`, every vehicle's position at once, where a map starts
//! before it follows the `positions` events.

pub mod bbox;
pub mod outbox;
mod schema;
pub mod snapshot;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::stream::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use bbox::{BBox, BBOX_PATTERN};

use crate::api::auth::accounts::Accounts;
use crate::api::auth::token::Claims;
use crate::api::auth::{Caller, Role, ANY};
use crate::api::dispatch::jobs::own_driver;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::middleware::slots::Slot;
use crate::api::routes::{params, RouteDoc, Routes};
use crate::api::state::AppState;
use crate::dispatch::jobs::JobEvent;
use crate::dispatch::listen::JobFeed;
use crate::events::feed::Cursor;
use crate::live::feed::PositionBatch;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Job transitions (default true without `events`, false with it).
    pub jobs: Option<bool>,
    /// Events of these types (comma-separated patterns: `rental.*,job.offered`; staff only).
    #[schemars(schema_with = "events_schema")]
    #[serde(default)]
    pub events: Option<String>,
    /// Resume the events after this id (`Last-Event-ID` takes precedence).
    #[schemars(range(min = 0))]
    pub after: Option<i64>,
    /// `south,west,north,east` in degrees; west > east crosses the antimeridian.
    #[schemars(regex(pattern = BBOX_PATTERN))]
    pub bbox: Option<String>,
}

fn events_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["string", "null"], "pattern": outbox::patterns_regex() })
}

/// One position in a `positions` event.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StreamPosition {
    pub vehicle_id: String,
    pub lat: f64,
    pub lon: f64,
    pub ts: DateTime<Utc>,
    pub speed_kmh: Option<f32>,
    pub heading_deg: Option<f32>,
}

struct Subscription {
    jobs: Option<broadcast::Receiver<JobFeed>>,
    positions: Option<(broadcast::Receiver<PositionBatch>, BBox)>,
    /// The outbox's events, and a notice to send before them.
    outbox: Option<Cursor>,
    notice: Option<Event>,
    caller: Caller,
    driver: Option<Uuid>,
    stop: CancellationToken,
    /// When the caller's token expires (on the tokio clock).
    expires: tokio::time::Instant,
    /// Some user changed: check the caller's token again.
    changes: tokio::sync::watch::Receiver<u64>,
    accounts: Arc<Accounts>,
    pool: deadpool_postgres::Pool,
    /// Set once `end` was sent: the stream closes.
    ended: bool,
    /// This stream's place in the caller's [`crate::api::state::ApiState::streams`].
    _slot: Slot<Uuid>,
}

impl Subscription {
    fn may_see(&self, e: &JobEvent) -> bool {
        match self.caller.role {
            Role::Admin | Role::Dispatcher => true,
            Role::Customer => e.created_by == self.caller.user_id,
            Role::Driver => self.driver.is_some() && e.driver_id == self.driver,
        }
    }

    /// Whether the caller's token is still good (`false` also when PostgreSQL cannot say:
    /// the client reconnects, and is then told why).
    async fn still_valid(&self) -> bool {
        let token: Claims = self.caller.token;
        self.accounts.check(&self.pool, &token).await.is_ok()
    }

    /// The next event for this client; `None` ends the stream (shutdown, or after `end`).
    async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        if let Some(notice) = self.notice.take() {
            return Some(notice);
        }
        loop {
            let jobs = async {
                match self.jobs.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let positions = async {
                match self.positions.as_mut() {
                    Some((rx, _)) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let outbox = async {
                match self.outbox.as_mut() {
                    Some(cursor) => cursor.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => return None,
                _ = tokio::time::sleep_until(self.expires) => return self.end("token_expired"),
                Ok(()) = self.changes.changed() => {
                    if !self.still_valid().await {
                        return self.end("token_revoked");
                    }
                }
                r = jobs => match r {
                    Ok(JobFeed::Event(e)) if self.may_see(&e) => return json_event("job", &*e),
                    Ok(JobFeed::Event(_)) => {}
                    Ok(JobFeed::Gap) => return json_event(
                        "resync",
                        &serde_json::json!({ "reason": "job notifications were interrupted" }),
                    ),
                    Err(RecvError::Lagged(n)) => return lagged(n),
                    Err(RecvError::Closed) => return None,
                },
                r = positions => match r {
                    Ok(batch) => {
                        let bbox = self.positions.as_ref().map(|p| p.1)?;
                        let items: Vec<StreamPosition> = batch
                            .iter()
                            .filter(|(_, p)| bbox.contains(p.lat, p.lon))
                            .map(|(id, p)| StreamPosition {
                                vehicle_id: id.to_string(),
                                lat: p.lat,
                                lon: p.lon,
                                ts: DateTime::from_timestamp_micros(p.ts).unwrap_or_default(),
                                speed_kmh: p.speed_kmh,
                                heading_deg: p.heading_deg,
                            })
                            .collect();
                        if !items.is_empty() {
                            return json_event("positions", &serde_json::json!({ "items": items }));
                        }
                    }
                    Err(RecvError::Lagged(n)) => return lagged(n),
                    Err(RecvError::Closed) => return None,
                },
                r = outbox => match r {
                    Ok(e) => return Some(outbox::sse(&e)),
                    // Closed: the client reconnects with Last-Event-ID and resumes exactly.
                    Err(error) => {
                        tracing::debug!(error = format!("{error:#}"), "event stream closed");
                        return None;
                    }
                },
            }
        }
    }
}

impl Subscription {
    fn end(&mut self, reason: &str) -> Option<Event> {
        self.ended = true;
        json_event("end", &serde_json::json!({ "reason": reason }))
    }
}

fn json_event<T: Serialize>(name: &str, data: &T) -> Option<Event> {
    Event::default().event(name).json_data(data).ok()
}

fn lagged(missed: u64) -> Option<Event> {
    json_event("lagged", &serde_json::json!({ "missed": missed }))
}

async fn stream(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let bbox = q.bbox.as_deref().map(BBox::parse).transpose()?;
    let want_jobs = q.jobs.unwrap_or(q.events.is_none());
    if bbox.is_some() && !caller.is_staff() {
        return Err(ApiError::forbidden("only staff may stream positions"));
    }
    if !want_jobs && bbox.is_none() && q.events.is_none() {
        return Err(ApiError::invalid(
            "jobs",
            "nothing to stream: jobs=false, no bbox and no events",
        ));
    }
    if q.after.is_some() && q.events.is_none() {
        return Err(ApiError::invalid(
            "after",
            "resumes events: give events too",
        ));
    }
    let (outbox, notice) = match q.events.as_deref() {
        Some(raw) => {
            let (cursor, notice) = outbox::start(&state, &caller, raw, q.after, &headers).await?;
            (Some(cursor), notice)
        }
        None => (None, None),
    };
    let driver = if caller.role == Role::Driver {
        own_driver(&*state.pool.get().await?, &caller).await?
    } else {
        None
    };
    let slot = state.api.streams.take(caller.user_id).ok_or_else(|| {
        ApiError::rate_limited(
            60,
            "too many open streams for this user; close one (http.max_streams_per_user)",
        )
    })?;
    let expires_at =
        DateTime::from_timestamp(caller.token.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let d = &state.dispatch;
    let sub = Subscription {
        expires: state.clock.instant_of(expires_at),
        changes: state.api.accounts.changes(),
        accounts: state.api.accounts.clone(),
        pool: state.pool.clone(),
        ended: false,
        _slot: slot,
        jobs: want_jobs.then(|| d.events.subscribe()),
        positions: bbox.map(|b| (d.positions.subscribe(), b)),
        outbox,
        notice,
        caller,
        driver,
        stop: d.stop.clone(),
    };
    let events = futures_util::stream::unfold(sub, |mut sub| async move {
        sub.next().await.map(|e| (Ok(e), sub))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

pub fn routes(r: Routes) -> Routes {
    snapshot::routes(r).add(
        RouteDoc {
            params: Some(params::<StreamQuery>),
            query: &[
                (
                    "jobs",
                    "stream job transitions (default true without events, false with them)",
                ),
                (
                    "bbox",
                    "south,west,north,east: also stream positions inside this box (staff only)",
                ),
                (
                    "events",
                    "rental.*,job.offered: also stream these events (event `event`; staff only)",
                ),
                (
                    "after",
                    "resume the events after this id (Last-Event-ID takes precedence)",
                ),
            ],
            response: Some(schema::event_schema),
            content_type: "text/event-stream",
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/stream",
                "Server-Sent Events: job transitions (event `job`), positions in a box (event `positions`), the outbox's events from any id (event `event`), `lagged` and `resync`",
                ANY,
            )
        },
        stream,
    )
}
