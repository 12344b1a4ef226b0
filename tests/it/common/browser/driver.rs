//! chromedriver and the Chromium it starts: the binaries (Debian's, from scripts/services.sh),
//! the process on a free port, the browser's flags (isolated, headless, every non-loopback
//! request blocked) and the teardown that leaves no process and no profile behind.
//!
//! chromedriver runs in a process group of its own, which Chromium and its helpers inherit,
//! so killing the group kills them. Chromium's crash handler (crashpad) starts a session of
//! its own, outside the group; it exits when the browser does, and its database is in the
//! session's temporary folder (`XDG_CONFIG_HOME`, not `~/.config/chromium`), whose path in its
//! command line finds it if it lingers. (`--disable-crashpad-for-testing` would keep it from
//! starting, but Chromium 156's renderers then never answer chromedriver.)

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::wire;
use crate::common::free_port;

/// The viewport every page is rendered in (screenshots have this size).
pub const WINDOW: (u32, u32) = (1280, 800);
/// Bound on chromedriver answering `/status` after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the processes of a killed group disappearing.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a request to anything but loopback is sent: the discard port, where nothing listens
/// (checked at start), so the browser fails it at once with `ERR_PROXY_CONNECTION_FAILED`.
/// Chromium never sends loopback (`localhost`, `127.0.0.0/8`, `[::1]`) through a proxy, and a
/// fixed proxy has no fallback to a direct connection. One of two independent layers, with
/// the host-resolver rules in [`ARGS`]: checked by hand on Chromium 156, each alone blocks a
/// raw IP address (`ERR_PROXY_CONNECTION_FAILED`, `ERR_NAME_NOT_RESOLVED`), which neither
/// lets through (with neither, this machine loaded `http://93.184.216.34/`).
pub const BLOCKING_PROXY: &str = "http://127.0.0.1:9";

/// Chromium's command line, but for `--user-data-dir` (per session).
const ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox", // root in containers and CI: the sandbox needs user namespaces
    "--disable-gpu",
    "--disable-dev-shm-usage", // /dev/shm is 64 MB in containers
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-quic",
    "--mute-audio",
    "--lang=en-US",
    "--password-store=basic",
    // Every non-loopback request blocked: no name or address but loopback's resolves (no DNS
    // lookup leaks a name; Chromium applies the rules to IP literals too) ...
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    // ... every connection but loopback's goes to BLOCKING_PROXY (added in `capabilities`),
    // including WebRTC's UDP, which would otherwise not go through proxies.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
];

/// The browser binary: Debian's real one rather than its `/usr/bin/chromium` wrapper script,
/// which adds the flags in `/etc/chromium.d/` (a machine's settings, not the test's).
fn chromium_bin() -> Option<PathBuf> {
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn chromedriver_bin() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A running chromedriver, its log and the profile folder of the browser it will start.
pub struct Driver {
    pub addr: SocketAddr,
    child: Child,
    /// Holds chromedriver's log and the browser's profile; removed on drop.
    dir: tempfile::TempDir,
}

impl Driver {
    /// Spawns chromedriver on a free port and waits until it is ready. Panics with "run
    /// scripts/services.sh" when the packages are missing; an `Err` is worth a retry (a port
    /// taken between choosing and binding it, a machine too loaded to start in time).
    pub fn spawn() -> Result<Driver, String> {
        let (Some(driver), Some(_)) = (chromedriver_bin(), chromium_bin()) else {
            panic!(
                "chromium and chromedriver not found (/usr/lib/chromium/chromium, \
                 /usr/bin/chromedriver): run scripts/services.sh, which installs Debian's \
                 chromium and chromium-driver"
            );
        };
        if std::net::TcpStream::connect(BLOCKING_PROXY.trim_start_matches("http://")).is_ok() {
            panic!(
                "something listens on {BLOCKING_PROXY}, where the browser sends every \
                 non-loopback request to fail: stop it (the discard service?)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("fleetd-browser-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", driver.display()))?;
        let mut d = Driver { addr, child, dir };
        d.wait_ready()?;
        Ok(d)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "chromedriver exited at start ({status}){}",
                    self.log_tail()
                ));
            }
            let status = wire::call(self.addr, "GET", "/status", None, Duration::from_secs(5));
            if status.is_ok_and(|v| v["ready"] == true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "chromedriver not ready on {} after {READY_TIMEOUT:?}{}",
                    self.addr,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The new-session capabilities: W3C, Chromium with [`ARGS`], a profile of its own, the
    /// console captured, generous page-load and script timeouts for a loaded CI machine, no
    /// implicit wait (finding an element waits in [`super::Browser::find`] instead, so that
    /// `find_all` can see "none" at once).
    pub fn capabilities(&self) -> Value {
        let mut args: Vec<String> = ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--proxy-server={BLOCKING_PROXY}"));
        args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
        args.push(format!("--user-data-dir={}", self.profile().display()));
        json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 60_000, "script": 30_000},
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium_bin().expect("checked in spawn"),
                "args": args,
            },
        }}})
    }

    /// chromedriver's, Chromium's and its helpers' running processes.
    pub fn processes(&self) -> Vec<u32> {
        self.live()
    }

    /// The running processes of chromedriver's group, and any other process whose command
    /// line names this session's folder (crashpad).
    fn live(&self) -> Vec<u32> {
        let folder = self.dir.path().to_string_lossy().into_owned();
        running()
            .filter(|&(pid, group)| {
                group == self.child.id() || cmdline(pid).is_some_and(|c| c.contains(&folder))
            })
            .map(|(pid, _)| pid)
            .collect()
    }

    fn profile(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    /// The last lines of chromedriver's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("\nchromedriver's log ends with:\n{tail}")
        }
    }

    /// Kills chromedriver, the browser and all its helpers (the whole process group, and
    /// crashpad), and waits until none is left running.
    fn kill(&mut self) {
        let group = self.child.id();
        let deadline = Instant::now() + REAP_TIMEOUT;
        // SIGKILL through kill(1): the crate has no libc binding, and a test binary installs
        // no signal handlers to interfere. The group first: crashpad then exits by itself.
        sigkill(&[format!("-{group}")]);
        let _ = self.child.wait();
        loop {
            let left = self.live();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                eprintln!("browser harness: processes {left:?} outlived SIGKILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
            sigkill(&left.iter().map(u32::to_string).collect::<Vec<_>>());
        }
    }
}

fn sigkill(targets: &[String]) {
    let _ = Command::new("kill")
        .args(["-KILL", "--"])
        .args(targets)
        .stderr(Stdio::null())
        .status();
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
        // The profile goes with `dir`; Chromium is gone, so nothing writes there any more.
    }
}

/// Every running process and its group (zombies are dead: their parent, or init once
/// chromedriver is gone, reaps them).
fn running() -> impl Iterator<Item = (u32, u32)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (state, group) = stat(&Path::new("/proc").join(pid.to_string()).join("stat"))?;
            (state != 'Z' && state != 'X').then_some((pid, group))
        })
}

fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")).ok()?;
    Some(String::from_utf8_lossy(&raw).into_owned())
}

/// A process's state and process group from `/proc/PID/stat` (fields 3 and 5; the command
/// name in field 2 may hold spaces and parentheses, so parsing starts after its last `)`).
fn stat(path: &Path) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    Some((state, fields.next()?.parse().ok()?))
}
