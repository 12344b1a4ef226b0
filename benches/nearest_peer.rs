//! The nearest-vehicle comparison's one load tool (driven by `benches/nearest.sh`): the same
//! points, the same query mix and the same closed-loop concurrency against three systems:
//!
//! - `fleetd`: `GET /v1/dispatch/nearest` over HTTP/1.1 keep-alive (answered from the live
//!   index and the driver roster);
//! - `postgis`: KNN on a GiST-indexed `geography` column, `ORDER BY position <-> point LIMIT k`
//!   (sphere distance), then the radius, as a prepared statement;
//! - `redis`: `GEOSEARCH … FROMLONLAT … BYRADIUS … ASC COUNT k WITHDIST`.
//!
//! All three rank by great-circle distance. Modes (`FLEETD_BENCH_MODE`):
//! - `setup`: places the registered vehicles (`FLEETD_BENCH_PREFIX…`) at seeded random points
//!   of the spread, stores them as fleetd's latest GPS readings, as the PostGIS table and as
//!   the Redis GEO key;
//! - `agree`: asks all three the same queries one at a time and counts identical answers;
//! - `load`: `FLEETD_BENCH_CONCURRENCY` connections, each asking its next query as soon as
//!   the previous one is answered, for `FLEETD_BENCH_SECONDS` after a warm-up; prints one JSON
//!   line with queries/s, latency percentiles and the tool's own CPU seconds.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_postgres::{Client, NoTls, Statement};

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

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
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
    fn named(name: &str) -> Spread {
        match name {
            // About 50 × 50 km around central London: a metropolitan ride-hailing fleet.
            "city" => Spread {
                lat: 51.5,
                lon: -0.12,
                half_lat: 0.225,
                half_lon: 0.36,
            },
            // About 1,000 × 1,000 km around central Europe: a national logistics fleet.
            "country" => Spread {
                lat: 50.0,
                lon: 10.0,
                half_lat: 4.5,
                half_lon: 7.0,
            },
            other => panic!("FLEETD_BENCH_SPREAD={other}: expected city or country"),
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

/// A connection to one of the three systems.
enum Target {
    Fleetd(Http),
    Postgis(Client, Statement),
    Redis(redis::aio::MultiplexedConnection),
}

impl Target {
    async fn connect(name: &str) -> Target {
        match name {
            "fleetd" => Target::Fleetd(Http::connect().await),
            "postgis" => {
                let client = pg_connect().await;
                let statement = client.prepare(KNN).await.expect("prepare the KNN query");
                Target::Postgis(client, statement)
            }
            "redis" => {
                let client =
                    redis::Client::open(env("FLEETD_BENCH_REDIS_URL", "redis://127.0.0.1:6379"))
                        .expect("FLEETD_BENCH_REDIS_URL");
                Target::Redis(
                    client
                        .get_multiplexed_async_connection()
                        .await
                        .expect("redis connection"),
                )
            }
            other => panic!("FLEETD_BENCH_TARGET={other}: expected fleetd, postgis or redis"),
        }
    }

    async fn nearest(&mut self, (lat, lon): (f64, f64), q: Query) -> Result<Answer, String> {
        match self {
            Target::Fleetd(http) => {
                let path = format!(
                    "/v1/dispatch/nearest?lat={lat}&lon={lon}&k={}&radius_m={}",
                    q.k, q.radius_m
                );
                let body = http.get(&path).await?;
                let parsed: FleetdNearest =
                    serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                Ok(parsed
                    .items
                    .into_iter()
                    .map(|i| (i.vehicle_id, i.distance_m))
                    .collect())
            }
            Target::Postgis(client, statement) => {
                let rows = client
                    .query(&*statement, &[&lat, &lon, &q.radius_m, &q.k])
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            }
            Target::Redis(conn) => redis::cmd("GEOSEARCH")
                .arg(REDIS_KEY)
                .arg("FROMLONLAT")
                .arg(lon)
                .arg(lat)
                .arg("BYRADIUS")
                .arg(q.radius_m)
                .arg("m")
                .arg("ASC")
                .arg("COUNT")
                .arg(q.k)
                .arg("WITHDIST")
                .query_async(conn)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct FleetdNearest {
    items: Vec<FleetdHit>,
}

#[derive(Deserialize)]
struct FleetdHit {
    vehicle_id: String,
    distance_m: f64,
}

/// A minimal HTTP/1.1 keep-alive client: one request at a time on one connection, bodies
/// framed by `content-length` (what fleetd sends). Cheap enough not to be what is measured.
struct Http {
    stream: BufReader<TcpStream>,
    head: String,
    line: String,
}

impl Http {
    async fn connect() -> Http {
        let addr = env("FLEETD_BENCH_HTTP_ADDR", "127.0.0.1:18081");
        let token = env("FLEETD_BENCH_TOKEN", "");
        let stream = TcpStream::connect(&addr).await.expect("connect to fleetd");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Http {
            stream: BufReader::new(stream),
            head: format!("HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\r\n"),
            line: String::new(),
        }
    }

    async fn get(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let request = format!("GET {path} {}", self.head);
        let io = |e: std::io::Error| e.to_string();
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(io)?;
        let mut status = 0;
        let mut length = None;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await.map_err(io)? == 0 {
                return Err("connection closed".into());
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if status == 0 {
                status = line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            } else if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length.ok_or("no content-length")?];
        self.stream.read_exact(&mut body).await.map_err(io)?;
        if status != 200 {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        Ok(body)
    }
}

async fn pg_connect() -> Client {
    let url = env(
        "FLEETD_BENCH_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/fleetd_nearest",
    );
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("FLEETD_BENCH_DATABASE_URL");
    tokio::spawn(conn);
    client
}

/// Places every registered vehicle of the prefix and stores the points three ways.
async fn setup(spread: Spread, seed: u64) {
    let prefix = env("FLEETD_BENCH_PREFIX", "nb-");
    let db = pg_connect().await;
    let ids: Vec<String> = db
        .query(
            "SELECT id FROM vehicles WHERE starts_with(id, $1) ORDER BY id",
            &[&prefix],
        )
        .await
        .expect("read the registered vehicles")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !ids.is_empty(),
        "no vehicles registered with prefix {prefix}"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let points: Vec<(f64, f64)> = ids.iter().map(|_| spread.point(&mut rng)).collect();

    // Today's partition, made as fleetd makes it, then the readings fleetd loads at start.
    let pool = fleetd::db::pool(&fleetd::config::DatabaseConfig {
        url: fleetd::config::Secret::new(env("FLEETD_BENCH_DATABASE_URL", "")),
        ..Default::default()
    })
    .expect("pool");
    fleetd::ingest::partitions::Partitions::new(pool, 30, 1, 1)
        .run_pass(fleetd::ingest::decoders::now_us())
        .await
        .expect("create partitions");
    for (ids, points) in ids.chunks(20_000).zip(points.chunks(20_000)) {
        let lats: Vec<f64> = points.iter().map(|p| p.0).collect();
        let lons: Vec<f64> = points.iter().map(|p| p.1).collect();
        db.execute(
            "INSERT INTO gps_readings (vehicle_id, ts, position, speed_kmh, heading_deg, received_at)
             SELECT id, now(), ST_SetSRID(ST_MakePoint(lon, lat), 4326), 0, 0, now()
               FROM unnest($1::text[], $2::float8[], $3::float8[]) AS t(id, lat, lon)",
            &[&ids, &lats, &lons],
        )
        .await
        .expect("insert readings");
    }
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {TABLE};
         CREATE TABLE {TABLE} AS
           SELECT vehicle_id, position::geography(Point, 4326) AS position
             FROM gps_readings WHERE starts_with(vehicle_id, '{prefix}');
         ALTER TABLE {TABLE} ADD PRIMARY KEY (vehicle_id);
         CREATE INDEX ON {TABLE} USING gist (position);"
    ))
    .await
    .expect("build the PostGIS table");
    // Alone: VACUUM cannot run in the implicit transaction of a multi-statement batch.
    db.batch_execute(&format!("VACUUM ANALYZE {TABLE}"))
        .await
        .expect("vacuum the PostGIS table");
    let (lat, lon) = spread.point(&mut StdRng::seed_from_u64(seed ^ 1));
    let plan: Vec<String> = db
        .query(&format!("EXPLAIN {KNN}"), &[&lat, &lon, &5000.0f64, &10i64])
        .await
        .expect("explain")
        .iter()
        .map(|r| r.get(0))
        .collect();
    eprintln!("[nearest] PostGIS plan:\n  {}", plan.join("\n  "));

    let client = redis::Client::open(env("FLEETD_BENCH_REDIS_URL", "redis://127.0.0.1:6379"))
        .expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let _: () = redis::cmd("DEL")
        .arg(REDIS_KEY)
        .query_async(&mut conn)
        .await
        .expect("DEL");
    for (ids, points) in ids.chunks(10_000).zip(points.chunks(10_000)) {
        let mut geoadd = redis::cmd("GEOADD");
        geoadd.arg(REDIS_KEY);
        for (id, (lat, lon)) in ids.iter().zip(points) {
            geoadd.arg(lon).arg(lat).arg(id);
        }
        let _: i64 = geoadd.query_async(&mut conn).await.expect("GEOADD");
    }
    println!("{{\"mode\":\"setup\",\"vehicles\":{}}}", ids.len());
}

/// Asks each system the same queries, one at a time, and compares the answers.
async fn agree(spread: Spread, seed: u64, q: Query) {
    let queries: usize = env_num("FLEETD_BENCH_QUERIES", 500);
    let mut targets = Vec::new();
    for name in ["fleetd", "postgis", "redis"] {
        targets.push(Target::connect(name).await);
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 2);
    let (mut same_pg, mut same_redis, mut hits) = (0, 0, 0);
    let mut max_diff_m = 0.0f64;
    for _ in 0..queries {
        let at = spread.point(&mut rng);
        let mut answers = Vec::new();
        for t in &mut targets {
            answers.push(t.nearest(at, q).await.expect("query"));
        }
        let ids = |a: &Answer| a.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        same_pg += usize::from(ids(&answers[0]) == ids(&answers[1]));
        same_redis += usize::from(ids(&answers[0]) == ids(&answers[2]));
        hits += answers[0].len();
        for (a, b) in answers[0].iter().zip(&answers[1]) {
            if a.0 == b.0 {
                max_diff_m = max_diff_m.max((a.1 - b.1).abs());
            }
        }
    }
    println!(
        "{{\"mode\":\"agree\",\"queries\":{queries},\"mean_hits\":{:.2},\"same_as_postgis\":{same_pg},\
         \"same_as_redis\":{same_redis},\"max_distance_diff_vs_postgis_m\":{max_diff_m:.6}}}",
        hits as f64 / queries as f64
    );
}

/// Closed-loop load from `concurrency` connections; one JSON line of results.
async fn load(spread: Spread, seed: u64, q: Query) {
    let target = env("FLEETD_BENCH_TARGET", "fleetd");
    let concurrency: u64 = env_num("FLEETD_BENCH_CONCURRENCY", 16);
    let warmup = Duration::from_secs_f64(env_num("FLEETD_BENCH_WARMUP_S", 2.0));
    let measure = Duration::from_secs_f64(env_num("FLEETD_BENCH_SECONDS", 10.0));
    let cpu0 = own_cpu_s();
    let start = Instant::now() + warmup;
    let end = start + measure;
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut conn = Target::connect(&target).await;
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ (100 + i));
            let (mut lat_us, mut hits, mut errors) = (Vec::with_capacity(1 << 16), 0u64, 0u64);
            let mut first_error = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let answer = conn.nearest(spread.point(&mut rng), q).await;
                if t0 < start {
                    continue;
                }
                match answer {
                    Ok(a) => {
                        hits += a.len() as u64;
                        lat_us.push(t0.elapsed().as_micros() as u32);
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat_us, hits, errors, first_error)
        }));
    }
    let (mut all, mut hits, mut errors, mut first_error) = (Vec::new(), 0, 0, None);
    for t in tasks {
        let (l, h, e, f) = t.await.expect("load task");
        all.extend(l);
        hits += h;
        errors += e;
        first_error = first_error.or(f);
    }
    if let Some(e) = first_error {
        eprintln!("[nearest] {target}: first error: {e}");
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let n = all.len();
    println!(
        "{{\"mode\":\"load\",\"target\":\"{target}\",\"concurrency\":{concurrency},\"queries\":{n},\
         \"errors\":{errors},\"qps\":{:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\
         \"mean_hits\":{:.2},\"tool_cpu_s\":{:.2}}}",
        n as f64 / measure.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        hits as f64 / n.max(1) as f64,
        own_cpu_s() - cpu0
    );
}

/// This process's user + system CPU seconds (Linux `/proc/self/stat`, 100 ticks a second).
fn own_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let Ok(mode) = std::env::var("FLEETD_BENCH_MODE") else {
        eprintln!("nearest_peer: set FLEETD_BENCH_MODE=setup|agree|load (see benches/nearest.sh)");
        return;
    };
    let spread = Spread::named(&env("FLEETD_BENCH_SPREAD", "city"));
    let seed: u64 = env_num("FLEETD_BENCH_SEED", 42);
    let q = Query {
        k: env_num("FLEETD_BENCH_K", 10),
        radius_m: env_num("FLEETD_BENCH_RADIUS_M", 5_000.0),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_num("FLEETD_BENCH_THREADS", 1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        match mode.as_str() {
            "setup" => setup(spread, seed).await,
            "agree" => agree(spread, seed, q).await,
            "load" => load(spread, seed, q).await,
            other => panic!("FLEETD_BENCH_MODE={other}: expected setup, agree or load"),
        }
    });
}
