//! A Mosquitto of the test's own on a free port, killed on drop (used by several test crates,
//! each using part of it).
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Mosquitto of our own on a free port, killed on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mosquitto_binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/mosquitto");
    if sbin.exists() {
        return sbin;
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("mosquitto"))
                .find(|p| p.exists())
        })
        .expect("these tests need the mosquitto broker (scripts/services.sh installs it)")
}

impl Mosquitto {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// With `extra` lines of configuration.
    pub fn start_with(extra: &str) -> Self {
        let port = free_port();
        // Unlimited queues: the subscriber must see every message, however fast they come.
        Self::start_conf(
            tempfile::tempdir().unwrap(),
            port,
            &format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n{extra}"),
        )
    }

    /// With the whole configuration `conf` (listening on `port`), written into `dir`, which
    /// lives as long as the broker.
    pub fn start_conf(dir: tempfile::TempDir, port: u16, conf: &str) -> Self {
        let path = dir.path().join("mosquitto.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Mosquitto {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
