//! Private NATS servers with JetStream and the MQTT listener, for `ingest.source =
//! "jetstream"`: one standalone node, or a real three-node cluster whose nodes can be killed,
//! stopped and restarted on the same ports and store, so a test can watch what survives.
//!
//! Nodes are numbered from 0 in this API and named `n1`..`n3` (`server_name`, which MQTT
//! requires once JetStream is on). Each node has its own client, MQTT, route and monitoring
//! ports and its own store directory under one temp dir, beside its config and its log
//! (`n1.conf`, `n1.log`), which outlive restarts. Anonymous clients are allowed.
//!
//! "Ready" is what nats-server 2.9's `/healthz?js-server-only=true` checks: the client port
//! accepts, JetStream is on, a meta leader is known and this node is current with it; in a
//! cluster, the node also has a route to every other running node. An open port alone is
//! not enough: an MQTT CONNECT before the meta leader is elected fails, since the MQTT
//! listener keeps its sessions in JetStream streams.
//!
//! Not the full `/healthz` (which also wants every stream and consumer replica on the node
//! current): in 2.9.10 a node restarted after serving MQTT clients stays unhealthy until an
//! MQTT client connects to it again, because each node's durable `$MQTT_rmsgs_<node>`
//! consumer is only deleted and recreated by the node's first MQTT connection. A test waits
//! for its own streams (their `cluster.replicas[].current`).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::signal;

/// Debian's nats-server (scripts/services.sh installs it), else whatever `PATH` finds.
pub fn nats_server_bin() -> PathBuf {
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| "nats-server".into())
}

/// The installed nats-server's version, `(major, minor)`: what it does with some MQTT topics
/// changed between 2.9 and 2.10.
pub fn nats_server_version() -> (u32, u32) {
    let out = Command::new(nats_server_bin())
        .arg("--version")
        .output()
        .expect("nats-server must be installed (scripts/services.sh)");
    // "nats-server: v2.9.10"
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.trim().rsplit('v').next().unwrap_or_default();
    let mut parts = v.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// How long a node may take to be ready: a cluster's first meta election, or a restarted
/// node catching up with its streams, takes a few seconds on a loaded 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(45);

/// The cluster's name (`cluster.name`); the same for every test, as clusters never meet:
/// their routes only list their own ports.
const CLUSTER_NAME: &str = "fleetd-test";

struct Node {
    client_port: u16,
    mqtt_port: u16,
    route_port: u16,
    http_port: u16,
    child: Option<Child>,
}

/// One standalone NATS server or a cluster of them; dropping it kills every node.
pub struct NatsCluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
    /// Configuration added to every node's (TLS, authorization).
    extra: String,
}

impl NatsCluster {
    /// Starts `nodes` servers (1: standalone, no cluster block; 3: a cluster with routes
    /// between all of them and MQTT's own streams replicated on all three) and waits until
    /// each is ready.
    ///
    /// A free port can be taken by another test's server between its choice and nats-server's
    /// bind: then the whole cluster starts again on new ports (its routes name every port).
    pub fn start(nodes: usize) -> NatsCluster {
        NatsCluster::start_with(nodes, "")
    }

    /// [`NatsCluster::start`] with `extra` added to each node's configuration: a `tls` block,
    /// an `authorization` block.
    pub fn start_with(nodes: usize, extra: &str) -> NatsCluster {
        assert!(
            nodes == 1 || nodes >= 3,
            "a JetStream cluster needs 3 nodes or more"
        );
        for _ in 0..3 {
            let mut cluster = NatsCluster::spawn_all(nodes, extra);
            match (0..nodes).try_for_each(|i| cluster.wait_ready(i)) {
                Ok(()) => return cluster,
                Err(e) if e.contains("address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("no free ports for nats-server after 3 tries");
    }

    fn spawn_all(nodes: usize, extra: &str) -> NatsCluster {
        let ports = free_ports(4 * nodes);
        let mut cluster = NatsCluster {
            dir: tempfile::tempdir().unwrap(),
            nodes: ports
                .chunks(4)
                .map(|p| Node {
                    client_port: p[0],
                    mqtt_port: p[1],
                    route_port: p[2],
                    http_port: p[3],
                    child: None,
                })
                .collect(),
            extra: extra.to_string(),
        };
        for i in 0..nodes {
            cluster.write_config(i);
            cluster.spawn(i);
        }
        cluster
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Node `i`'s `server_name`: `n1` for node 0.
    pub fn name(&self, i: usize) -> String {
        format!("n{}", i + 1)
    }

    /// The node whose `server_name` is `name` (a stream's `cluster.leader`).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.name(i) == name)
    }

    /// Every running node's client URL, comma-separated, as clients take a server list.
    pub fn client_url(&self) -> String {
        self.client_urls().join(",")
    }

    /// Every running node's client URL.
    pub fn client_urls(&self) -> Vec<String> {
        (0..self.nodes.len())
            .filter(|&i| self.is_running(i))
            .map(|i| self.node_url(i))
            .collect()
    }

    /// Node `i`'s client URL, running or not.
    pub fn node_url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].client_port)
    }

    pub fn mqtt_port(&self, i: usize) -> u16 {
        self.nodes[i].mqtt_port
    }

    /// Node `i`'s monitoring port (`/healthz`, `/jsz`, `/routez`, `/varz`).
    pub fn http_port(&self, i: usize) -> u16 {
        self.nodes[i].http_port
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// The JetStream meta leader's name as running node `i` sees it (`None` when it knows
    /// none, or standalone).
    pub fn meta_leader(&self, i: usize) -> Option<String> {
        let (_, body) = http_get(self.http_port(i), "/jsz").ok()?;
        let jsz: serde_json::Value = serde_json::from_str(&body).ok()?;
        jsz["meta_cluster"]["leader"]
            .as_str()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
    }

    /// SIGKILL: no flush, no goodbye to the cluster; the store stays as the crash left it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Graceful stop (SIGTERM): the node closes its clients and routes and flushes its store.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            signal(c.id(), "TERM");
            let _ = c.wait();
        }
    }

    /// Starts a stopped or killed node on the same ports and store, and waits until it is
    /// ready again: routed to every other running node and current with the meta leader (its
    /// streams may still be catching up: see the module's doc).
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_ready(i).unwrap_or_else(|e| panic!("{e}"));
    }

    /// The last `lines` lines of node `i`'s log (all its runs).
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.name(i)))
    }

    fn config_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.conf", self.name(i)))
    }

    /// Small store limits: without them every node would advertise most of the machine's
    /// memory and disk, and nothing here needs more than a few megabytes.
    fn write_config(&self, i: usize) {
        let n = &self.nodes[i];
        let clustered = self.nodes.len() > 1;
        let mut conf = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\n\
             jetstream {{\n  store_dir: \"{store}\"\n  max_memory_store: 256MB\n  \
             max_file_store: 2GB\n}}\n",
            name = self.name(i),
            client = n.client_port,
            http = n.http_port,
            store = self.dir.path().join(self.name(i)).display(),
        );
        // MQTT's own streams (sessions, retained and QoS 1 messages) take as many replicas as
        // there are nodes, so an MQTT session outlives a node.
        let replicas = if clustered {
            format!("\n  stream_replicas: {}", self.nodes.len())
        } else {
            String::new()
        };
        conf += &format!(
            "mqtt {{\n  listen: 127.0.0.1:{}{replicas}\n}}\n",
            n.mqtt_port
        );
        if clustered {
            let routes: Vec<String> = self
                .nodes
                .iter()
                .map(|o| format!("nats-route://127.0.0.1:{}", o.route_port))
                .collect();
            conf += &format!(
                "cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                n.route_port,
                routes.join(", ")
            );
        }
        conf += &self.extra;
        std::fs::write(self.config_path(i), conf).unwrap();
    }

    fn spawn(&mut self, i: usize) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(self.config_path(i))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("nats-server must be installed (scripts/services.sh)");
        self.nodes[i].child = Some(child);
    }

    /// Waits until node `i` is ready (see the module's doc) and, in a cluster, has a route
    /// to every other running node; else why not, with its log's tail.
    fn wait_ready(&mut self, i: usize) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let peers = (0..self.nodes.len())
            .filter(|&j| j != i && self.is_running(j))
            .count() as u64;
        loop {
            if let Some(Ok(Some(status))) = self.nodes[i].child.as_mut().map(Child::try_wait) {
                self.nodes[i].child = None;
                return Err(format!(
                    "nats-server {} exited ({status}):\n{}",
                    self.name(i),
                    self.log_tail(i, 40)
                ));
            }
            let why = match self.readiness(i, peers) {
                Ok(()) => return Ok(()),
                Err(why) => why,
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "nats-server {} not ready after {READY_TIMEOUT:?}: {why}\n{}",
                    self.name(i),
                    self.log_tail(i, 40)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `Ok` when node `i` is ready with routes to `peers` nodes, else why not.
    fn readiness(&self, i: usize, peers: u64) -> Result<(), String> {
        let n = &self.nodes[i];
        for port in [n.client_port, n.mqtt_port] {
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("port {port}: {e}"))?;
        }
        let (status, body) =
            http_get(n.http_port, "/healthz?js-server-only=true").map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("/healthz {status}: {body}"));
        }
        if peers > 0 {
            let (_, body) = http_get(n.http_port, "/routez").map_err(|e| e.to_string())?;
            let routez: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let routes = routez["num_routes"].as_u64().unwrap_or(0);
            if routes < peers {
                return Err(format!("{routes} routes of {peers}"));
            }
        }
        Ok(())
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// `n` distinct free ports: all bound at once, then released, so no two are the same (one
/// at a time, the kernel may hand out a port just released).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A blocking HTTP/1.0 GET on the monitoring port: (status, body). The harness is
/// synchronous like [`super::Broker`], and the monitoring answers are small.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
