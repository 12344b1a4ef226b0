//! Dispatch: nearest available drivers and background job matching (docs/dispatch.md).
//!
//! # Layout
//! - [`roster`]: drivers at the wheel of vehicles and whether they can take work, in memory,
//!   kept current by PostgreSQL notifications; it supplies the live index's
//!   [`crate::live::Eligibility`] filter.
//! - [`jobs`]: the job state machine and its transitions in PostgreSQL, where the claim
//!   "a driver holds at most one open job" is a unique index.
//! - [`matcher`]: the background loop that offers due jobs to the nearest candidates, with
//!   offer timeouts and exponential backoff.
//! - [`listen`]: the `LISTEN` connection feeding the roster and the job event stream.
//! - [`clock`]: wall time driven by tokio's clock, so tests run timeouts on virtual time.

pub mod jobs;
pub mod listen;
pub mod matcher;
pub mod roster;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

pub use roster::{Requirements, Roster};

use crate::clock::Clock;
use crate::config::DispatchConfig;
use crate::live::feed::PositionBatch;
use crate::live::{LiveError, Nearest, NearestQuery, SharedLiveIndex};

/// Job events buffered per stream subscriber; a subscriber further behind is told it lagged.
pub const EVENT_BUFFER: usize = 4096;

/// Position batches buffered per stream subscriber.
pub const POSITION_BUFFER: usize = 256;

/// What dispatch shares with the HTTP handlers.
pub struct Dispatch {
    pub live: SharedLiveIndex,
    pub roster: Arc<Roster>,
    pub clock: Clock,
    pub config: DispatchConfig,
    /// Every job transition, in commit order, as PostgreSQL notified it.
    pub events: broadcast::Sender<listen::JobFeed>,
    /// Wakes the matcher (a job was created or declined here).
    pub wake: Arc<Notify>,
    /// Committed positions, for bounding-box push streams.
    pub positions: broadcast::Sender<PositionBatch>,
    /// Cancelled when the daemon stops: the matcher, the listener and open streams end.
    pub stop: CancellationToken,
}

impl Dispatch {
    pub fn new(live: SharedLiveIndex, config: DispatchConfig, clock: Clock) -> Dispatch {
        Dispatch {
            roster: Arc::new(Roster::new(live.clone())),
            live,
            clock,
            config,
            events: broadcast::channel(EVENT_BUFFER).0,
            wake: Arc::new(Notify::new()),
            positions: broadcast::channel(POSITION_BUFFER).0,
            stop: CancellationToken::new(),
        }
    }

    /// The `k` nearest vehicles within `radius_m` (at most `dispatch.max_radius_m`) whose
    /// driver is available and whose vehicle meets `req`, fresh within the staleness limit,
    /// nearest first; each hit is tagged with the driver's id. Searches the live index's
    /// dispatchable vehicles only ([`crate::live::LiveIndex::nearest_dispatchable`]), at most
    /// `dispatch.max_candidates_examined` fresh ones (see [`Nearest::truncated`]).
    pub fn nearest(
        &self,
        lat: f64,
        lon: f64,
        k: usize,
        radius_m: f64,
        req: &Requirements,
    ) -> Result<Nearest<uuid::Uuid>, LiveError> {
        check_radius(radius_m, &self.config)?;
        let q = NearestQuery {
            lat,
            lon,
            k,
            radius_m,
            now_us: self.clock.now_us(),
            staleness: Duration::from_secs(self.config.staleness_s),
            max_examined: self.config.max_candidates_examined,
        };
        let view = self.roster.view();
        let found = self
            .live
            .nearest_dispatchable(&q, &view.eligible(req, &[], q.now_us))?;
        if found.truncated {
            // Counted by the caller; debug only, so that a client repeating such a query
            // cannot flood the log.
            tracing::debug!(
                lat,
                lon,
                k,
                radius_m,
                examined = found.examined,
                skipped_stale = found.skipped_stale,
                hits = found.hits.len(),
                "nearest query stopped at dispatch.max_candidates_examined; answered from the candidates examined"
            );
        }
        Ok(found)
    }
}

/// Refuses a search radius that is not a distance or above `dispatch.max_radius_m`.
pub fn check_radius(radius_m: f64, config: &DispatchConfig) -> Result<(), LiveError> {
    let max = config.max_radius_m;
    if radius_m.is_finite() && radius_m > 0.0 && radius_m <= max {
        Ok(())
    } else {
        Err(LiveError::Radius { got: radius_m, max })
    }
}
