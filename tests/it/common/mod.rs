//! Test harness: a fresh PostgreSQL database and a private Mosquitto per test, the daemon
//! in-process or as a child process, a real MQTT publisher and a tiny HTTP client; a headless
//! Chromium driven over WebDriver ([`browser`]); a PostgreSQL primary and streaming replica of
//! the test's own ([`replica`]).

pub mod api;
mod broker;
pub mod browser;
pub mod dispatch;
pub mod errors;
pub mod nats;
pub mod pass;
pub mod receiver;
pub mod replica;
pub mod shipped;
pub mod tls;

pub use broker::{mosquitto_bin, Broker, BROKER_ADMIN};

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleetd::config::{Config, Secret, SubscriptionMode};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

/// The server the test databases are created on.
pub fn admin_url() -> String {
    std::env::var("FLEETD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e} (run scripts/services.sh)"));
    tokio::spawn(conn);
    client
}

/// A database that exists for one test and is dropped afterwards.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("fleetd_test_{:016x}", rand::random::<u64>());
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url()).unwrap();
        url.set_path(&name);
        TestDb {
            name,
            url: url.to_string(),
        }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }

    /// Refuses new connections and ends existing ones: PostgreSQL is "down" for the daemon.
    pub async fn take_offline(&self) {
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {0} ALLOW_CONNECTIONS false;
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{0}';",
                self.name
            ))
            .await
            .unwrap();
    }

    pub async fn bring_online(&self) {
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                self.name
            ))
            .await
            .unwrap();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            })
        })
        .join();
    }
}

/// Runs the `fleetd` binary with `args` and only `env` in its environment: its exit code and
/// what it printed (stdout, then stderr).
pub fn fleetd_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetd"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A config for a daemon under test: its own database and broker, HTTP on a free port,
/// short batch age so tests are quick. Readings of unregistered vehicles are stored
/// (`ingest.unknown_vehicles = "store"`): the pipeline's tests publish for vehicles they never
/// register. [`api::Api`] daemons keep the default, `reject`.
pub fn config(db: &TestDb, broker: &Broker) -> Config {
    config_for(&db.url, broker)
}

/// [`config`] for the database at `url` (a server of the test's own, say).
pub fn config_for(url: &str, broker: &Broker) -> Config {
    let mut c = Config::default();
    c.database.url = Secret::new(url.to_string());
    c.mqtt.url = broker.url();
    c.mqtt.client_id = format!("t{:x}", rand::random::<u32>());
    c.http.addr = "127.0.0.1:0".into();
    c.redis.url = String::new();
    c.ingest.batch_age_ms = 20;
    c.ingest.retry_min_ms = 20;
    c.ingest.retry_max_ms = 200;
    c.ingest.unknown_vehicles = fleetd::config::UnknownVehicles::Store;
    c.shutdown.timeout_s = 10;
    // Tests that move a manual clock run the time rules themselves (`time_rules.pass()`), so
    // that no background pass changes a rental or a shift under a test's feet.
    c.rules.interval_s = 3_600;
    c.validate().unwrap();
    c
}

/// The same config as `FLEETD_*` variables, for a child process.
pub fn config_env(c: &Config) -> Vec<(String, String)> {
    vec![
        ("FLEETD_DATABASE_URL".into(), c.database.url.expose().into()),
        ("FLEETD_MQTT_URL".into(), c.mqtt.url.clone()),
        ("FLEETD_MQTT_CLIENT_ID".into(), c.mqtt.client_id.clone()),
        (
            "FLEETD_MQTT_SUBSCRIPTION".into(),
            match c.mqtt.subscription {
                SubscriptionMode::Plain => "plain",
                SubscriptionMode::Shared => "shared",
            }
            .into(),
        ),
        (
            "FLEETD_MQTT_CONNECTIONS".into(),
            c.mqtt.connections.to_string(),
        ),
        (
            "FLEETD_INGEST_UNKNOWN_VEHICLES".into(),
            match c.ingest.unknown_vehicles {
                fleetd::config::UnknownVehicles::Reject => "reject",
                fleetd::config::UnknownVehicles::Store => "store",
            }
            .into(),
        ),
        (
            "FLEETD_MQTT_RECONNECT_MIN_MS".into(),
            c.mqtt.reconnect_min_ms.to_string(),
        ),
        (
            "FLEETD_MQTT_RECONNECT_MAX_MS".into(),
            c.mqtt.reconnect_max_ms.to_string(),
        ),
        ("FLEETD_HTTP_ADDR".into(), c.http.addr.clone()),
        ("FLEETD_REDIS_URL".into(), String::new()),
        (
            "FLEETD_INGEST_BATCH_AGE_MS".into(),
            c.ingest.batch_age_ms.to_string(),
        ),
        (
            "FLEETD_INGEST_BATCH_ROWS".into(),
            c.ingest.batch_rows.to_string(),
        ),
        (
            "FLEETD_INGEST_RETRY_MIN_MS".into(),
            c.ingest.retry_min_ms.to_string(),
        ),
        (
            "FLEETD_INGEST_RETRY_MAX_MS".into(),
            c.ingest.retry_max_ms.to_string(),
        ),
        (
            "FLEETD_SHUTDOWN_TIMEOUT_S".into(),
            c.shutdown.timeout_s.to_string(),
        ),
    ]
}

/// The daemon running inside the test process.
pub struct InProcess {
    pub addr: SocketAddr,
    /// `http.internal_addr`'s listener, when configured.
    pub internal_addr: Option<SocketAddr>,
    pub stop: CancellationToken,
    pub live: fleetd::live::SharedLiveIndex,
    /// Drivers' roster, job events and streams, for tests that look inside.
    pub dispatch: std::sync::Arc<fleetd::dispatch::Dispatch>,
    /// The time rules, for tests that run a pass after moving the clock.
    pub time_rules: std::sync::Arc<fleetd::timed::TimeRules>,
    /// The time-based alert rules' timer, for tests that run a pass after moving the clock.
    pub alerts: std::sync::Arc<fleetd::alerts::AlertTimer>,
    daemon: Option<fleetd::daemon::Daemon>,
}

impl InProcess {
    pub async fn start(config: Config) -> InProcess {
        InProcess::start_on(config, fleetd::clock::Clock::new()).await
    }

    /// With the API and the dispatcher on `clock`.
    pub async fn start_on(config: Config, clock: fleetd::clock::Clock) -> InProcess {
        let stop = CancellationToken::new();
        // The daemon waits out a database it cannot migrate (PostGIS missing, say) by
        // retrying; a test should fail and say so instead.
        let daemon = tokio::time::timeout(
            Duration::from_secs(120),
            fleetd::daemon::start_on(config, clock, stop.clone()),
        )
        .await
        .expect("the daemon did not start in 120 s: is PostGIS installed? (scripts/services.sh)")
        .unwrap();
        let addr = daemon.http_addr;
        let d = InProcess {
            addr,
            internal_addr: daemon.internal_addr,
            stop,
            live: daemon.live.clone(),
            dispatch: daemon.dispatch.clone(),
            time_rules: daemon.time_rules.clone(),
            alerts: daemon.alerts.clone(),
            daemon: Some(daemon),
        };
        d.wait_ready().await;
        d
    }

    pub async fn wait_ready(&self) {
        wait_ready(self.internal_addr.unwrap_or(self.addr)).await
    }

    pub async fn shutdown(mut self) {
        self.stop.cancel();
        self.daemon.take().unwrap().wait().await.unwrap();
    }
}

pub async fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _, _)) = http_get(addr, "/readyz", &[]).await {
            return;
        }
        assert!(Instant::now() < deadline, "daemon never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The daemon as a child process (for kill -9 and signal tests).
pub struct ChildDaemon {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ChildDaemon {
    pub async fn start(config: &Config) -> ChildDaemon {
        ChildDaemon::start_with(config, &[]).await
    }

    /// [`start`](Self::start) with more variables: `FLEETD_*` (secrets, say), or `RUST_LOG`
    /// (default `warn`; the daemon logs to the test's stderr).
    pub async fn start_with(config: &Config, extra: &[(&str, &str)]) -> ChildDaemon {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleetd"));
        cmd.arg("serve")
            .envs(config_env(config))
            .env("RUST_LOG", "warn")
            .envs(extra.iter().copied())
            .env("FLEETD_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_ready(addr).await;
        ChildDaemon { child, addr }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ChildDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET: (status, headers lowercased, body).
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Vec<(String, String)>, String)> {
    let r = api::try_raw(addr, "GET", path, headers, Vec::new()).await?;
    Ok((r.status, r.headers, r.body))
}

/// A metric's value from `/metrics` (sum over label sets when `labels` is empty).
pub async fn metric(addr: SocketAddr, name: &str, labels: &str) -> f64 {
    let (_, _, body) = http_get(addr, "/metrics", &[]).await.unwrap();
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (metric_name, rest) = key.split_once('{').unwrap_or((key, ""));
            (metric_name == name && rest.contains(labels)).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// A QoS 1 publisher that knows how many PUBACKs it got.
pub struct Publisher {
    pub client: AsyncClient,
    acks: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Publisher {
    pub async fn connect(broker: &Broker) -> Publisher {
        Publisher::connect_port(broker.port).await
    }

    /// To any MQTT listener on this machine (nats-server's, say).
    pub async fn connect_port(port: u16) -> Publisher {
        Publisher::start(port, true).await
    }

    /// As a tracker does: a persistent session, so that after a lost connection the client
    /// sends again every publish not yet acknowledged.
    pub async fn tracker(port: u16) -> Publisher {
        Publisher::start(port, false).await
    }

    async fn start(port: u16, clean: bool) -> Publisher {
        let mut o = MqttOptions::new(format!("pub{:x}", rand::random::<u32>()), "127.0.0.1", port);
        o.set_clean_session(clean);
        o.set_max_packet_size(2 << 20, 2 << 20).set_inflight(1000);
        let (client, mut eventloop) = AsyncClient::new(o, 1000);
        let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = acks.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if std::env::var_os("FLEETD_TEST_DEBUG").is_some() {
                            eprintln!("publisher: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                }
            }
        });
        Publisher { client, acks }
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    /// Waits until the broker has acknowledged `n` publishes (they are then in its care).
    pub async fn wait_acked(&self, n: usize) {
        self.wait_acked_within(n, Duration::from_secs(30)).await
    }

    /// [`wait_acked`](Self::wait_acked) with another bound.
    pub async fn wait_acked_within(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.acks.load(std::sync::atomic::Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "broker did not ack {n} publishes, only {}",
                self.acks.load(std::sync::atomic::Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Polls `query` (returning one bigint) until it equals `want`; panics after 30 s.
pub async fn wait_count(client: &tokio_postgres::Client, query: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got: i64 = client.query_one(query, &[]).await.unwrap().get(0);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{query}: wanted {want}, still {got} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn count(client: &tokio_postgres::Client, query: &str) -> i64 {
    client.query_one(query, &[]).await.unwrap().get(0)
}

/// Current time as epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// proptest's config for the property tests here: `cases` cases, and regression seeds kept in
/// `<test source minus .rs>.proptest-regressions` beside the test's source file.
///
/// proptest's default (`FileFailurePersistence::SourceParallel`) climbs from the source file to
/// the nearest directory holding a `main.rs` or `lib.rs` and keeps seeds in a parallel
/// `proptest-regressions/` tree: with `tests/it/main.rs` that would be
/// `tests/proptest-regressions/ingest/decode_props.txt`, silently skipping the seeds checked in
/// beside the sources.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..proptest::test_runner::Config::default()
    }
}
