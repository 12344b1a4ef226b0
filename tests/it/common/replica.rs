//! A PostgreSQL primary and a streaming replica of its own, for the read-replica tests: the
//! shared server cannot be given a replica (nor be stopped). `initdb` into a temporary
//! directory, both servers on free loopback ports with trust authentication, the replica
//! made with `pg_basebackup -R` as an operator would (docs/replica.md), and a daemon with the
//! API pointed at the primary with `database.replica_url` at the replica.
//!
//! PostgreSQL refuses to run as root, and the tests run as root on CI machines: the server
//! programs then run as the `postgres` OS user (`runuser`), in a directory handed to it.
//! PostGIS comes from the installation, so `CREATE EXTENSION postgis` (the migrations') works.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod proxy;
pub use proxy::Proxy;

use super::api::{Client, ADMIN_PASSWORD, SECRET};
use super::{config_for, connect, free_port, Broker, InProcess};

/// Where Debian's PostgreSQL 15 keeps its programs; `FLEETD_TEST_PG_BIN` overrides it.
fn bin(program: &str) -> PathBuf {
    let dir =
        std::env::var("FLEETD_TEST_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    Path::new(&dir).join(program)
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program` as the `postgres` OS user when this process is root, else as itself.
fn pg_command(program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin(program));
        c
    } else {
        Command::new(bin(program))
    }
}

fn run(mut command: Command, what: &str) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One server of the pair.
pub struct Node {
    pub port: u16,
    data: PathBuf,
    log: PathBuf,
}

impl Node {
    /// `postgres://` URL of database `fleetd` on it.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/fleetd", self.port)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url()).await
    }

    /// Starts it and waits until it accepts connections (a standby: once consistent).
    pub fn start(&self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D").arg(&self.data).arg("-l").arg(&self.log);
        c.args(["-w", "-t", "60", "start"]);
        run(c, "pg_ctl start");
    }

    /// Stops it at once, as a crash would (`-m immediate`: no shutdown checkpoint, clients
    /// cut off).
    pub fn kill(&self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D").arg(&self.data);
        c.args(["-m", "immediate", "-w", "stop"]);
        run(c, "pg_ctl stop");
    }

    fn stop_quietly(&self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D").arg(&self.data);
        c.args(["-m", "immediate", "-w", "stop"]);
        let _ = c.output();
    }
}

/// A primary and its streaming replica, stopped and deleted when dropped.
pub struct Cluster {
    pub primary: Node,
    pub replica: Node,
    _dir: TempDir,
}

impl Cluster {
    /// initdb, the primary started with database `fleetd`, the replica cloned from it with
    /// `pg_basebackup -R` and started; a few seconds.
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            // The server's user must create its directories in it.
            let mut c = Command::new("chown");
            c.arg("postgres:postgres").arg(dir.path());
            run(c, "chown");
        }
        let node = |name: &str| Node {
            port: free_port(),
            data: dir.path().join(name),
            log: dir.path().join(format!("{name}.log")),
        };
        let (primary, replica) = (node("primary"), node("replica"));
        let mut init = pg_command("initdb");
        init.arg("-D").arg(&primary.data);
        init.args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
        init.args(["--locale=C"]);
        run(init, "initdb");
        let socket_dir = dir.path().display().to_string();
        append(
            &primary.data.join("postgresql.conf"),
            &format!(
                "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{socket_dir}'\n\
                 wal_level = replica\nmax_wal_senders = 4\nmax_connections = 60\n\
                 shared_buffers = 32MB\nfsync = off\nfull_page_writes = off\n",
                primary.port
            ),
        );
        append(
            &primary.data.join("pg_hba.conf"),
            "host replication all 127.0.0.1/32 trust\n",
        );
        primary.start();
        primary_admin(&primary)
            .await
            .batch_execute("CREATE DATABASE fleetd")
            .await
            .unwrap();

        let mut backup = pg_command("pg_basebackup");
        backup
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(primary.port.to_string());
        backup.arg("-D").arg(&replica.data);
        backup.args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]);
        run(backup, "pg_basebackup");
        // Its own port; everything else (the primary to follow, standby.signal) from -R.
        append(
            &replica.data.join("postgresql.conf"),
            &format!("port = {}\nhot_standby = on\n", replica.port),
        );
        replica.start();
        Cluster {
            primary,
            replica,
            _dir: dir,
        }
    }

    /// Stops replaying WAL on the replica (it keeps receiving it): its data stands still.
    pub async fn pause_replay(&self) {
        self.replica
            .client()
            .await
            .batch_execute("SELECT pg_wal_replay_pause()")
            .await
            .unwrap();
    }

    pub async fn resume_replay(&self) {
        self.replica
            .client()
            .await
            .batch_execute("SELECT pg_wal_replay_resume()")
            .await
            .unwrap();
    }

    /// Waits until the replica has replayed everything the primary has written.
    pub async fn wait_replayed(&self) {
        let lsn: String = self
            .primary
            .client()
            .await
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .unwrap()
            .get(0);
        let replica = self.replica.client().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done: bool = replica
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&lsn],
                )
                .await
                .unwrap()
                .get(0);
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replica never replayed {lsn}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.replica.stop_quietly();
        self.primary.stop_quietly();
    }
}

async fn primary_admin(primary: &Node) -> tokio_postgres::Client {
    connect(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        primary.port
    ))
    .await
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A daemon with the API on the cluster's primary, reading the replica through a [`Proxy`];
/// `admin` logged in.
pub struct ReplicaApi {
    pub cluster: Cluster,
    /// Between the daemon and the replica.
    pub proxy: Proxy,
    /// The daemon's broker, kept running.
    _broker: Broker,
    pub daemon: InProcess,
    pub admin: Client,
}

impl ReplicaApi {
    /// `tweak` may change the config (`database.replica_max_lag_ms`, say).
    pub async fn start(tweak: impl FnOnce(&mut fleetd::config::Config)) -> ReplicaApi {
        let cluster = Cluster::start().await;
        let proxy = Proxy::start(cluster.replica.port).await;
        let broker = Broker::start();
        let mut c = config_for(&cluster.primary.url(), &broker);
        c.ingest.unknown_vehicles = fleetd::config::UnknownVehicles::Reject;
        c.jwt.secret = fleetd::config::Secret::new(SECRET);
        c.admin.password = fleetd::config::Secret::new(ADMIN_PASSWORD);
        c.http.rate_limit_per_minute = 0;
        c.http.login_per_minute = 0;
        c.database.replica_url = fleetd::config::Secret::new(format!(
            "postgres://postgres@127.0.0.1:{}/fleetd",
            proxy.port
        ));
        c.database.connect_timeout_ms = 1_000;
        tweak(&mut c);
        c.validate().unwrap();
        let daemon = InProcess::start(c).await;
        let admin = Client::anonymous(daemon.addr)
            .login("admin", ADMIN_PASSWORD)
            .await;
        ReplicaApi {
            cluster,
            proxy,
            _broker: broker,
            daemon,
            admin,
        }
    }

    /// `fleetd_replica_reads_total` served by `by` (`replica` or `primary`).
    pub async fn reads(&self, by: &str) -> f64 {
        super::metric(
            self.daemon.addr,
            "fleetd_replica_reads_total",
            &format!("served_by=\"{by}\""),
        )
        .await
    }

    /// Waits until the daemon reads the replica (its monitor found it usable).
    pub async fn wait_replica_in_use(&self) {
        self.wait_usable(true).await
    }

    /// Waits until `/readyz` says the replica is (or is not) read now.
    pub async fn wait_usable(&self, usable: bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, _, body) = super::http_get(self.daemon.addr, "/readyz", &[])
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            if body["checks"]["replica"]["in_use"] == usable {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replica's in_use never became {usable}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
