//! Fixtures for the dispatch tests: drivers seated in vehicles with a live position, bounded
//! polling, a streaming Server-Sent Events reader, haversine, and direct SQL seeding for the
//! tests that drive `fleetd::dispatch::matcher::Matcher` without a daemon.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fleetd::live::Position;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::api::{driver, vehicle_body, Api, Client, Resp};
use super::Publisher;

/// How long any "eventually" in these tests may take on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `f` until it returns `Some`, at most [`PATIENCE`]; panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached in {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Great-circle distance on the sphere of docs/dispatch.md, written out independently of the crate.
pub fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let a = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((lon2 - lon1).to_radians() / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().min(1.0).asin()
}

/// A point `north_m` metres north and `east_m` metres east of (`lat`, `lon`) (small offsets).
pub fn offset(lat: f64, lon: f64, north_m: f64, east_m: f64) -> (f64, f64) {
    let deg = 6_371_008.8f64.to_radians();
    (
        lat + north_m / deg,
        lon + east_m / (deg * lat.to_radians().cos()),
    )
}

/// A vehicle's attributes for [`seat`].
#[derive(Debug, Clone)]
pub struct Kind {
    pub vehicle_type: &'static str,
    pub seats: i32,
    pub load_kg: i32,
}

pub const TRUCK: Kind = Kind {
    vehicle_type: "truck",
    seats: 2,
    load_kg: 18_000,
};

/// Registers vehicle `vehicle_id` (number `n` keeps plates and VINs apart) of `kind`.
pub async fn register_vehicle(api: &Api, vehicle_id: &str, n: u32, kind: &Kind) {
    let mut body = vehicle_body(vehicle_id, n);
    body["type"] = json!(kind.vehicle_type);
    body["seats"] = json!(kind.seats);
    body["load_kg"] = json!(kind.load_kg);
    let r = api.admin.post("/v1/vehicles", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A driver (user `name`) at the wheel of a new vehicle, with duty status `duty`:
/// (the driver's own client, driver id).
pub async fn seat(
    api: &Api,
    name: &str,
    vehicle_id: &str,
    n: u32,
    kind: &Kind,
    duty: &str,
) -> (Client, String) {
    register_vehicle(api, vehicle_id, n, kind).await;
    let (client, id) = driver(api, name).await;
    set_duty(api, &id, duty, Some(vehicle_id)).await;
    (client, id)
}

/// Sets a driver's duty status (and vehicle, when given) as the admin.
pub async fn set_duty(api: &Api, driver_id: &str, duty: &str, vehicle_id: Option<&str>) {
    let mut body = json!({ "duty_status": duty });
    if let Some(v) = vehicle_id {
        body["current_vehicle_id"] = json!(v);
    }
    let r = api
        .admin
        .patch(&format!("/v1/drivers/{driver_id}"), body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Publishes one GPS reading for `vehicle_id`.
pub async fn publish_fix(p: &Publisher, vehicle_id: &str, ts_ms: i64, lat: f64, lon: f64) {
    let body = json!({"ts": ts_ms, "lat": lat, "lon": lon, "speed_kmh": 12.5, "heading_deg": 90.0});
    p.publish(&format!("fleet/{vehicle_id}/gps"), body.to_string())
        .await;
}

/// Vehicle ids `GET /v1/dispatch/nearest` answers for `query` (the part after `?`).
pub async fn nearest_ids(c: &Client, query: &str) -> Vec<String> {
    let r = c.get(&format!("/v1/dispatch/nearest?{query}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    items(&r)
        .iter()
        .map(|i| i["vehicle_id"].as_str().unwrap().to_string())
        .collect()
}

/// Polls nearest until it answers exactly `want` (the roster follows notifications).
pub async fn wait_nearest(c: &Client, query: &str, want: &[&str]) {
    eventually(&format!("nearest?{query} == {want:?}"), || async {
        (nearest_ids(c, query).await == want).then_some(())
    })
    .await
}

pub fn items(r: &Resp) -> Vec<Value> {
    r.json()["items"].as_array().cloned().unwrap_or_default()
}

/// Creates a job at (`lat`, `lon`) as `c`; returns its id.
pub async fn create_job(c: &Client, lat: f64, lon: f64) -> String {
    let r = c
        .post(
            "/v1/dispatch/jobs",
            json!({"pickup": {"lat": lat, "lon": lon}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

/// Polls `GET /v1/dispatch/jobs/{id}` as `c` until `pred` holds; returns the job.
pub async fn wait_job(c: &Client, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("job {id}: {what}"), || async {
        let r = c.get(&format!("/v1/dispatch/jobs/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        pred(&j).then_some(j)
    })
    .await
}

/// `(state, reason, driver_id)` of each event in a job's history.
pub fn history(job: &Value) -> Vec<(String, String, Option<String>)> {
    job["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["state"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
                e["driver_id"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    /// The `id:` field, when the event had one.
    pub id: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// An open `text/event-stream` response, read by a background task so that waiting for
/// the next event with a timeout never loses half-read data.
pub struct Sse {
    rx: mpsc::UnboundedReceiver<SseEvent>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Sse {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Sse {
    /// `GET path` with the client's token. A non-200 answer is returned as `Err`.
    pub async fn open(c: &Client, path: &str) -> Result<Sse, Resp> {
        open_at(c.addr, c.token.as_deref(), path, &[]).await
    }

    /// [`Sse::open`] with more request headers (`Last-Event-ID`).
    pub async fn open_with(c: &Client, path: &str, headers: &[(&str, &str)]) -> Result<Sse, Resp> {
        open_at(c.addr, c.token.as_deref(), path, headers).await
    }

    /// The next event (comments and keep-alives skipped), or `None` after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next event named `name`, skipping others; panics after [`PATIENCE`].
    pub async fn expect(&mut self, name: &str) -> SseEvent {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(e) if e.event == name => return e,
                Some(_) => {}
                None => panic!("no `{name}` event within {PATIENCE:?}"),
            }
        }
    }

    /// Events received until `done` returns true for one (included); panics after
    /// [`PATIENCE`].
    pub async fn until(&mut self, what: &str, done: impl Fn(&SseEvent) -> bool) -> Vec<SseEvent> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let e = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("{what}: not seen within {PATIENCE:?}; got {seen:?}"));
            let stop = done(&e);
            seen.push(e);
            if stop {
                return seen;
            }
        }
    }
}

async fn open_at(
    addr: SocketAddr,
    token: Option<&str>,
    path: &str,
    extra: &[(&str, &str)],
) -> Result<Sse, Resp> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line).await.unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    if status != 200 {
        let body = if chunked {
            String::from_utf8_lossy(&read_chunks_to_end(&mut r).await).to_string()
        } else {
            let n: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut b = vec![0; n];
            r.read_exact(&mut b).await.unwrap();
            String::from_utf8_lossy(&b).to_string()
        };
        return Err(Resp {
            status,
            headers,
            body,
        });
    }
    assert!(
        header("content-type").is_some_and(|v| v.starts_with("text/event-stream")),
        "{headers:?}"
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut parser = Parser::default();
        loop {
            let bytes = if chunked {
                match read_chunk(&mut r).await {
                    Some(b) => b,
                    None => return,
                }
            } else {
                let mut b = vec![0; 4096];
                match r.read(&mut b).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        b.truncate(n);
                        b
                    }
                }
            };
            for e in parser.feed(&bytes) {
                if tx.send(e).is_err() {
                    return;
                }
            }
        }
    });
    Ok(Sse { rx, reader })
}

/// One chunk of a chunked body; `None` at its end or on a closed connection.
async fn read_chunk(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut size = String::new();
    if r.read_line(&mut size).await.ok()? == 0 {
        return None;
    }
    let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
    if n == 0 {
        return None;
    }
    let mut b = vec![0; n + 2];
    r.read_exact(&mut b).await.ok()?;
    b.truncate(n);
    Some(b)
}

async fn read_chunks_to_end(r: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = read_chunk(r).await {
        out.extend(b);
    }
    out
}

/// An incremental `text/event-stream` parser (the parts of the format axum emits).
#[derive(Default)]
struct Parser {
    text: Vec<u8>,
    event: Option<String>,
    id: Option<String>,
    data: Vec<String>,
    ready: VecDeque<SseEvent>,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.text.extend_from_slice(bytes);
        while let Some(end) = self.text.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.text.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || self.event.is_some() {
                    self.ready.push_back(SseEvent {
                        event: self.event.take().unwrap_or_else(|| "message".into()),
                        data: std::mem::take(&mut self.data).join("\n"),
                        id: self.id.take(),
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = Some(value.to_string()),
                "id" => self.id = Some(value.to_string()),
                "data" => self.data.push(value.to_string()),
                _ => {}
            }
        }
        self.ready.drain(..).collect()
    }
}

/// Seeds for tests that run dispatch without a daemon: a user, a driver seated in a new
/// vehicle with duty status `available`. Returns the driver id.
pub async fn seed_seat(client: &tokio_postgres::Client, n: u32, vehicle_id: &str) -> Uuid {
    let user = Uuid::new_v4();
    let driver = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO users (id, username, password_hash, role)
             VALUES ($1, $2, 'x', 'driver')",
            &[&user, &format!("driver{n}")],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO vehicles (id, plate, vin, make, model, year, type, seats, load_kg)
             VALUES ($1, $2, $3, 'Volvo', 'FH16', 2021, 'truck', 2, 18000)",
            &[&vehicle_id, &format!("P-{n}"), &super::api::vin(n)],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO drivers (id, user_id, name, licence_number, licence_expiry,
                                  duty_status, current_vehicle_id)
             VALUES ($1, $2, $3, $4, '2099-01-01', 'available', $5)",
            &[
                &driver,
                &user,
                &format!("d{n}"),
                &format!("L-{n}"),
                &vehicle_id,
            ],
        )
        .await
        .unwrap();
    driver
}

/// Registers trucks `{prefix}-0` .. `{prefix}-{n-1}` in one statement; with `duty`, each
/// gets a driver of that duty status at its wheel (users `{prefix}-drv-{i}`). The roster
/// hears of them by notification like any change.
pub async fn seed_fleet(client: &tokio_postgres::Client, prefix: &str, n: i32, duty: Option<&str>) {
    client
        .execute(
            "INSERT INTO vehicles (id, plate, vin, make, model, year, type, seats, load_kg)
             SELECT $1 || '-' || g, 'P-' || $1 || '-' || g, upper(substr(md5($1 || g), 1, 17)),
                    'Volvo', 'FH16', 2021, 'truck', 2, 18000
               FROM generate_series(0, $2 - 1) g",
            &[&prefix, &n],
        )
        .await
        .unwrap();
    let Some(duty) = duty else { return };
    client
        .execute(
            "INSERT INTO users (id, username, password_hash, role)
             SELECT gen_random_uuid(), $1 || '-drv-' || g, 'x', 'driver'
               FROM generate_series(0, $2 - 1) g",
            &[&prefix, &n],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO drivers (id, user_id, name, licence_number, licence_expiry,
                                  duty_status, current_vehicle_id)
             SELECT gen_random_uuid(), u.id, u.username, 'L-' || u.username, '2099-01-01',
                    $3, $1 || '-' || g
               FROM generate_series(0, $2 - 1) g
               JOIN users u ON u.username = $1 || '-drv-' || g",
            &[&prefix, &n, &duty],
        )
        .await
        .unwrap();
}

/// Positions for `{prefix}-0` .. `{prefix}-{n-1}` on a grid of 60 columns, 100 m apart,
/// north-east of (`lat`, `lon`), stamped `ts` (µs).
pub fn grid(prefix: &str, n: usize, (lat, lon): (f64, f64), ts: i64) -> Vec<(String, Position)> {
    (0..n)
        .map(|i| {
            let (lat, lon) = offset(lat, lon, (i / 60) as f64 * 100.0, (i % 60) as f64 * 100.0);
            let p = Position {
                lat,
                lon,
                ts,
                speed_kmh: None,
                heading_deg: None,
            };
            (format!("{prefix}-{i}"), p)
        })
        .collect()
}

/// A user who creates jobs (staff), for `created_by`.
pub async fn seed_dispatcher(client: &tokio_postgres::Client) -> Uuid {
    let id = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO users (id, username, password_hash, role)
             VALUES ($1, 'dispatcher', 'x', 'dispatcher')",
            &[&id],
        )
        .await
        .unwrap();
    id
}

/// A pool without timeouts: under `tokio::time::pause()` a timeout would fire as soon as
/// the runtime idles waiting for PostgreSQL.
pub fn pool_without_timeouts(url: &str, size: usize) -> deadpool_postgres::Pool {
    let pg: tokio_postgres::Config = url.parse().unwrap();
    let manager = deadpool_postgres::Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .unwrap()
}

/// A database with every migration applied.
pub async fn migrated(db: &super::TestDb) -> tokio_postgres::Client {
    let mut client = db.client().await;
    fleetd::migrate::migrate(&mut client).await.unwrap();
    client
}
