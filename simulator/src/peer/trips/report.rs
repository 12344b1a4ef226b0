//! `trips report`: one vehicle's trips over the whole history, asked two ways, interleaved
//! round by round (alternating which goes first), plus the fleet report:
//!
//! - `fleetd`: `GET /v1/vehicles/{id}/trips?from=&to=` over HTTP, every page (the stored
//!   trips), for a sampled vehicle and for a vehicle drawn from the whole fleet;
//! - `replay`: Traccar's way, done as fast as this tool can: load every stored GPS reading
//!   of the vehicle in the window (fleetd's own query and decoding) and replay them in memory
//!   through fleetd's own segmentation (`trips::batch`). Only sampled vehicles have readings;
//! - `fleet_report`: `GET /v1/reports/fleet?from=&to=`, every vehicle of the fleet.
//!
//! Each round also checks that both ways found the same trips (start and end to the
//! microsecond) for the sampled vehicle. One JSON line: latency percentiles per way.

use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use fleetd::config::TripsConfig;
use fleetd::trips::machine::Kind;
use fleetd::trips::{batch, store, Params};

use super::args::TripsReportArgs;
use super::drive::DAY_US;
use super::{first_day, vehicle_id};
use crate::peer::http::Http;
use crate::peer::pg_connect;
use crate::rng::SimRng;

#[derive(Deserialize)]
struct Page {
    items: Vec<TripItem>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct TripItem {
    start: Place,
    end: Place,
}

#[derive(Deserialize)]
struct Place {
    ts: DateTime<Utc>,
}

/// A trip's (start, end) in Unix µs.
type Span = (i64, i64);

#[derive(Default)]
struct Timings {
    ms: Vec<f64>,
}

impl Timings {
    fn time(&mut self, started: Instant) {
        self.ms.push(started.elapsed().as_secs_f64() * 1e3);
    }

    fn summary(&mut self) -> serde_json::Value {
        self.ms.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let i = ((p * self.ms.len() as f64).ceil() as usize).clamp(1, self.ms.len()) - 1;
            (self.ms[i] * 100.0).round() / 100.0
        };
        json!({ "n": self.ms.len(), "p50_ms": q(0.5), "p95_ms": q(0.95), "p99_ms": q(0.99), "max_ms": q(1.0) })
    }
}

pub async fn run(a: TripsReportArgs) -> anyhow::Result<()> {
    let h = &a.history;
    let first = first_day(h)?;
    let (from_us, to_us) = (first * DAY_US, (first + i64::from(h.days)) * DAY_US);
    let (from, to) = (iso(from_us)?, iso(to_us)?);
    let db = pg_connect(&h.database_url).await?;
    let mut http = Http::connect(&a.fleetd.http_addr, &a.fleetd.token).await?;
    let params = Params::new(&TripsConfig::default());
    let mut rng = SimRng::new(a.seed, 0);
    let (mut ours, mut any, mut replay, mut fleet) = Default::default();
    let (mut agree, mut trips_seen, mut readings_seen) = (0u32, 0usize, 0usize);
    for round in 0..a.rounds {
        let sampled = vehicle_id(&h.id_prefix, round % h.sampled + 1);
        let drawn = vehicle_id(&h.id_prefix, rng.below(u64::from(a.vehicles)) as u32 + 1);
        let (mut stored, mut replayed) = (Vec::new(), Vec::new());
        for way in 0..2 {
            if (way + round) % 2 == 0 {
                let started = Instant::now();
                stored = fleetd_trips(&mut http, &sampled, &from, &to).await?;
                Timings::time(&mut ours, started);
            } else {
                let started = Instant::now();
                let fixes = store::readings_from(&db, &sampled, at(from_us)?).await?;
                let fixes: Vec<_> = fixes.into_iter().filter(|f| f.ts_us < to_us).collect();
                replayed = batch::segment(&params, &fixes, to_us)
                    .into_iter()
                    .filter(|s| s.kind == Kind::Trip)
                    .map(|s| (s.start.ts_us, s.end.ts_us))
                    .collect();
                Timings::time(&mut replay, started);
                readings_seen += fixes.len();
            }
        }
        agree += u32::from(stored == replayed);
        trips_seen += stored.len();
        let started = Instant::now();
        fleetd_trips(&mut http, &drawn, &from, &to).await?;
        Timings::time(&mut any, started);
        let started = Instant::now();
        http.get(&format!("/v1/reports/fleet?from={from}&to={to}"))
            .await
            .map_err(anyhow::Error::msg)
            .context("GET /v1/reports/fleet")?;
        Timings::time(&mut fleet, started);
    }
    if trips_seen == 0 {
        bail!(
            "no trips stored for the sampled vehicles: run `trips load` with fleetd running first"
        );
    }
    let rounds = f64::from(a.rounds);
    println!(
        "{}",
        json!({
            "vehicles": a.vehicles,
            "sampled": h.sampled,
            "days": h.days,
            "rounds": a.rounds,
            "trips_per_vehicle": (trips_seen as f64 / rounds).round(),
            "readings_per_vehicle": (readings_seen as f64 / rounds).round(),
            "agree": format!("{agree}/{}", a.rounds),
            "fleetd": ours.summary(),
            "fleetd_any_vehicle": any.summary(),
            "replay": replay.summary(),
            "fleet_report": fleet.summary(),
        })
    );
    Ok(())
}

/// Every page of a vehicle's trips in the window.
async fn fleetd_trips(
    http: &mut Http,
    vehicle: &str,
    from: &str,
    to: &str,
) -> anyhow::Result<Vec<Span>> {
    let mut spans = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/vehicles/{vehicle}/trips?from={from}&to={to}&limit=1000");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let body = http
            .get(&path)
            .await
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("GET {path}"))?;
        let page: Page = serde_json::from_slice(&body).context("a page of trips")?;
        spans.extend(
            page.items
                .iter()
                .map(|t| (t.start.ts.timestamp_micros(), t.end.ts.timestamp_micros())),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(spans),
        }
    }
}

fn at(us: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).context("time out of range")
}

/// RFC 3339 in UTC with `Z`, safe in a query string.
fn iso(us: i64) -> anyhow::Result<String> {
    Ok(at(us)?.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}
