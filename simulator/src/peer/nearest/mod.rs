//! `fleet-sim peer nearest`: the nearest-vehicle comparison's one load tool (driven by
//! scripts/bench/nearest.sh): the same points, the same query mix and the same closed-loop
//! concurrency against three systems:
//!
//! - `fleetd`: `GET /v1/dispatch/nearest` over HTTP/1.1 keep-alive (answered from the live
//!   index and the driver roster; client: `http`);
//! - `postgis`: KNN on a GiST-indexed `geography` column, `ORDER BY position <-> point LIMIT k`
//!   (sphere distance), then the radius, as a prepared statement;
//! - `redis`: `GEOSEARCH … FROMLONLAT … BYRADIUS … ASC COUNT k WITHDIST`.
//!
//! All three rank by great-circle distance (`target`). Steps, one file each:
//! - `setup`: places the registered vehicles (`--prefix`) at seeded random points of the
//!   spread, stores them as fleetd's latest GPS readings, as the PostGIS table and as the
//!   Redis GEO key;
//! - `agree`: asks all three the same queries one at a time and counts identical answers;
//! - `load`: `--concurrency` connections, each asking its next query as soon as the previous
//!   one is answered, for `--seconds` after a warm-up; prints one JSON line with queries/s,
//!   latency percentiles and the tool's own CPU seconds.

mod agree;
mod load;
mod setup;
mod target;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::Rng;

use super::args::{NearestArgs, NearestStep, QueryArgs, SpreadName};

const REDIS_KEY: &str = "fleetd_bench:nearest";
const TABLE: &str = "nearest_bench";
/// The PostGIS query in its fastest form: a KNN index scan (`ORDER BY position <-> point`,
/// sphere distance for geography) for the k nearest, then the radius applied to those k.
/// It answers what the other two answer: the k nearest within the radius. (Putting
/// `ST_DWithin` in the same WHERE makes the planner collect every point in the radius with a
/// bitmap scan and sort them, several times slower in a dense fleet.)
const KNN: &str = "
    SELECT vehicle_id, distance_m FROM (
        SELECT vehicle_id, position <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography AS distance_m
          FROM nearest_bench
         ORDER BY position <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography
         LIMIT $4) AS knn
     WHERE distance_m <= $3";

pub async fn run(args: NearestArgs) -> anyhow::Result<()> {
    match args.step {
        NearestStep::Setup(a) => setup::run(a).await,
        NearestStep::Agree(a) => agree::run(a).await,
        NearestStep::Load(a) => load::run(a).await,
    }
}

/// Where the vehicles are and where queries are asked: a box around a centre.
#[derive(Clone, Copy)]
struct Spread {
    lat: f64,
    lon: f64,
    half_lat: f64,
    half_lon: f64,
}

impl Spread {
    fn named(name: SpreadName) -> Spread {
        match name {
            // About 50 × 50 km around central London: a metropolitan ride-hailing fleet.
            SpreadName::City => Spread {
                lat: 51.5,
                lon: -0.12,
                half_lat: 0.225,
                half_lon: 0.36,
            },
            // About 1,000 × 1,000 km around central Europe: a national logistics fleet.
            SpreadName::Country => Spread {
                lat: 50.0,
                lon: 10.0,
                half_lat: 4.5,
                half_lon: 7.0,
            },
        }
    }

    fn point(&self, rng: &mut StdRng) -> (f64, f64) {
        (
            self.lat + rng.gen_range(-self.half_lat..=self.half_lat),
            self.lon + rng.gen_range(-self.half_lon..=self.half_lon),
        )
    }
}

/// One query's answer: vehicle ids nearest first, with their distances in metres.
type Answer = Vec<(String, f64)>;

/// What is asked of every system.
#[derive(Clone, Copy)]
struct Query {
    k: i64,
    radius_m: f64,
}

impl Query {
    fn of(args: &QueryArgs) -> Query {
        Query {
            k: args.k,
            radius_m: args.radius_m,
        }
    }
}

async fn redis_connect(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    redis::Client::open(url)
        .context("--redis-url")?
        .get_multiplexed_async_connection()
        .await
        .context("connect to --redis-url")
}
