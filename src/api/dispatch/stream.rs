//! `GET /v1/stream`: Server-Sent Events of job transitions and, for a bounding box, live
//! positions, authenticated like the rest of the API (`Authorization: Bearer`).
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

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::stream::Stream;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::jobs::own_driver;
use crate::api::auth::accounts::Accounts;
use crate::api::auth::token::Claims;
use crate::api::auth::{Caller, Role, ANY};
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::middleware::slots::Slot;
use crate::api::routes::{params, RouteDoc, Routes};
use crate::api::state::AppState;
use crate::dispatch::jobs::JobEvent;
use crate::dispatch::listen::JobFeed;
use crate::live::feed::PositionBatch;
use crate::live::geo;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Job transitions (default true).
    pub jobs: Option<bool>,
    /// `south,west,north,east` in degrees; west > east crosses the antimeridian.
    #[schemars(regex(pattern = BBOX_PATTERN))]
    pub bbox: Option<String>,
}

/// What [`BBox::parse`] reads, as the OpenAPI document states it.
pub const BBOX_PATTERN: &str = r"^ *-?[0-9]+(\.[0-9]+)? *(, *-?[0-9]+(\.[0-9]+)? *){3}$";

/// `-?[0-9]+(\.[0-9]+)?`.
fn decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// A latitude/longitude box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

impl BBox {
    /// Four plain decimals ([`BBOX_PATTERN`]: no exponent, no sign but `-`, spaces allowed
    /// around each), then the ranges and `south <= north`.
    pub fn parse(s: &str) -> Result<BBox, ApiError> {
        let bad = || ApiError::invalid("bbox", "south,west,north,east in degrees, south <= north");
        let v: Vec<f64> = s
            .split(',')
            .map(|p| p.trim_matches(' '))
            .map(|p| {
                if decimal(p) {
                    p.parse::<f64>().ok()
                } else {
                    None
                }
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let [south, west, north, east] = v[..] else {
            return Err(bad());
        };
        let ok = geo::valid_lat(south)
            && geo::valid_lat(north)
            && south <= north
            && geo::valid_lon(west)
            && geo::valid_lon(east);
        if !ok {
            return Err(bad());
        }
        Ok(BBox {
            south,
            west,
            north,
            east,
        })
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        let lon_in = if self.west <= self.east {
            (self.west..=self.east).contains(&lon)
        } else {
            lon >= self.west || lon <= self.east
        };
        (self.south..=self.north).contains(&lat) && lon_in
    }
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
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let bbox = q.bbox.as_deref().map(BBox::parse).transpose()?;
    let want_jobs = q.jobs.unwrap_or(true);
    if bbox.is_some() && !caller.is_staff() {
        return Err(ApiError::forbidden("only staff may stream positions"));
    }
    if !want_jobs && bbox.is_none() {
        return Err(ApiError::invalid(
            "jobs",
            "nothing to stream: jobs=false and no bbox",
        ));
    }
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
        caller,
        driver,
        stop: d.stop.clone(),
    };
    let events = futures_util::stream::unfold(sub, |mut sub| async move {
        sub.next().await.map(|e| (Ok(e), sub))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One Server-Sent Event (`event:` name and `data:` JSON) of the stream: `job` (a
/// [`JobEvent`]), `positions` (`{"items": [StreamPosition]}`), `lagged` (`{"missed": n}`: this
/// client fell behind and missed n notifications), `resync` (`{"reason"}`: re-read the jobs
/// you follow) or `end` (`{"reason"}`: the token expired or was revoked; the stream closes).
fn event_schema(g: &mut SchemaGenerator) -> Schema {
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
        event("lagged", serde_json::json!({
            "type": "object", "required": ["missed"],
            "properties": {"missed": {"type": "integer", "minimum": 1}}
        })),
        event("resync", serde_json::json!({
            "type": "object", "required": ["reason"],
            "properties": {"reason": {"type": "string"}}
        })),
        event("end", serde_json::json!({
            "type": "object", "required": ["reason"],
            "properties": {"reason": {"enum": ["token_expired", "token_revoked"]}}
        })),
    ]});
    Schema::try_from(one_of).expect("an object is a schema")
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            params: Some(params::<StreamQuery>),
            query: &[
                ("jobs", "stream job transitions (default true)"),
                (
                    "bbox",
                    "south,west,north,east: also stream positions inside this box (staff only)",
                ),
            ],
            response: Some(event_schema),
            content_type: "text/event-stream",
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/stream",
                "Server-Sent Events: job transitions (event `job`), positions in a box (event `positions`), `lagged` and `resync` (re-read the jobs you follow)",
                ANY,
            )
        },
        stream,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_pattern_reads_what_parse_reads() {
        let pattern = regex::Regex::new(BBOX_PATTERN).unwrap();
        for s in [
            "50,10,51,11",
            " 50 , -10.5,51,11 ",
            "1e1,0,20,1",
            "+1,0,2,1",
            "1.,0,2,1",
            "1,\t2,3,4",
            "1,2,3",
            "a,b,c,d",
        ] {
            // In range and ordered, the syntax decides alone.
            assert_eq!(pattern.is_match(s), BBox::parse(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn bbox_parses_strictly_and_wraps_the_antimeridian() {
        assert!(BBox::parse(" 50 , -10.5,51,11 ").is_ok());
        let b = BBox::parse("50,10,51,11").unwrap();
        assert!(b.contains(50.5, 10.5));
        assert!(b.contains(50.0, 11.0));
        assert!(!b.contains(49.9, 10.5));
        assert!(!b.contains(50.5, 11.1));
        let wrap = BBox::parse("-20,170,-10,-170").unwrap();
        assert!(wrap.contains(-15.0, 179.9));
        assert!(wrap.contains(-15.0, -179.9));
        assert!(!wrap.contains(-15.0, 0.0));
        for bad in [
            "",
            "1,2,3",
            "1,2,3,4,5",
            "a,b,c,d",
            "51,10,50,11",
            "0,0,91,1",
            "0,-181,1,1",
            "NaN,0,1,1",
            "1e1,0,20,1",
            "+1,0,2,1",
            "inf,0,1,1",
            "1.,0,2,1",
            ".5,0,2,1",
            "1,\t2,3,4",
        ] {
            assert_eq!(BBox::parse(bad).unwrap_err().status, 422, "{bad}");
        }
    }
}
