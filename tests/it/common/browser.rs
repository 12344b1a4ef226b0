//! A real browser for the tests: Debian's Chromium, headless, driven over W3C WebDriver by its
//! chromedriver (both installed by scripts/services.sh), one private browser per [`Browser`].
//!
//! - [`driver`]: the chromedriver process, Chromium's flags and the teardown.
//! - [`wire`]: one WebDriver command over HTTP, blocking.
//! - [`element`]: an element of the page.
//! - [`artifacts`]: screenshots, the console log, a failing test's files.
//!
//! Every request to anything but loopback fails, twice over: nothing but `localhost` and
//! `127.0.0.1` resolves, and every connection but loopback's goes to a proxy that is not there
//! (`driver::BLOCKING_PROXY`), raw IP addresses included; `tests/it/browser/blocking.rs`
//! proves it.
//! A test that panics while it holds a [`Browser`] leaves the page's screenshot and console
//! log in `target/browser-failures/` (the paths are printed).
//!
//! The methods are async (commands run on tokio's blocking pool) so that a daemon in the same
//! runtime keeps serving the browser; use a multi-thread runtime, as the other tests do.
//! [`Browser::start`] takes 1.1-1.4 s on a 2-core machine (chromedriver is ready in 0.05 s,
//! Chromium takes the rest), cheap enough for a browser per test rather than a shared one.

mod artifacts;
mod driver;
mod element;
mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use artifacts::{failure_path, LogEntry};
use driver::Driver;
pub use driver::WINDOW;
pub use element::Element;
use element::ELEMENT_KEY;
pub use wire::Error;

/// Attempts at starting chromedriver and a session before the test fails.
const START_ATTEMPTS: usize = 3;
/// Bound on creating a session (Chromium's start-up, on a loaded machine).
const SESSION_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on any other command: above the session's page-load (60 s) and script (30 s) limits,
/// so that chromedriver reports those itself.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
/// How long [`Browser::find`] waits for an element to appear.
pub const FIND_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// One WebDriver session: what an [`Element`] needs to send commands too.
#[derive(Clone)]
struct Session {
    addr: SocketAddr,
    id: String,
}

impl Session {
    fn call_blocking(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let path = format!("/session/{}{path}", self.id);
        wire::call(self.addr, method, &path, body, COMMAND_TIMEOUT)
    }

    async fn call(&self, method: &'static str, path: String, body: Value) -> Result<Value, Error> {
        let session = self.clone();
        let body = (method == "POST").then_some(body);
        tokio::task::spawn_blocking(move || session.call_blocking(method, &path, body.as_ref()))
            .await
            .expect("a WebDriver command panicked")
    }
}

/// A headless Chromium of its own, closed (with chromedriver, every helper process and its
/// profile) when dropped.
pub struct Browser {
    session: Session,
    /// The test's name (its thread's), for the failure artifacts.
    test: String,
    startup: Duration,
    driver: Option<Driver>,
}

impl Browser {
    /// Starts chromedriver and a browser session, retrying a failed start. Panics, saying to
    /// run scripts/services.sh, when Chromium is not installed.
    pub async fn start() -> Browser {
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        let started = Instant::now();
        let (driver, id) = tokio::task::spawn_blocking(start_session)
            .await
            .expect("starting the browser panicked");
        Browser {
            session: Session {
                addr: driver.addr,
                id,
            },
            test,
            startup: started.elapsed(),
            driver: Some(driver),
        }
    }

    /// How long [`Browser::start`] took.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// The running processes of this browser: chromedriver, Chromium and its helpers.
    pub fn processes(&self) -> Vec<u32> {
        self.driver
            .as_ref()
            .map(Driver::processes)
            .unwrap_or_default()
    }

    /// Loads `url` and waits for it to load (the document's load event). Panics on failure.
    pub async fn goto(&self, url: &str) {
        self.try_goto(url)
            .await
            .unwrap_or_else(|e| panic!("loading {url}: {e}"));
    }

    /// [`Browser::goto`], returning a failed navigation: chromedriver reports the network error
    /// (`unknown error: net::ERR_PROXY_CONNECTION_FAILED`, …).
    pub async fn try_goto(&self, url: &str) -> Result<(), Error> {
        self.cmd("POST", "/url", json!({ "url": url }))
            .await
            .map(drop)
    }

    /// The current page's URL.
    pub async fn url(&self) -> String {
        let v = self
            .must("GET", "/url", Value::Null, "reading the URL")
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The first element matching `css`, waiting up to [`FIND_TIMEOUT`] for one to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + FIND_TIMEOUT;
        let by = json!({"using": "css selector", "value": css});
        loop {
            match self.cmd("POST", "/element", by.clone()).await {
                Ok(v) => return self.element(&v),
                Err(e) if e.code() == Some("no such element") && Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await
                }
                Err(e) => panic!("finding {css:?} on {}: {e}", self.url().await),
            }
        }
    }

    /// Every element matching `css` now (none is an answer, not a wait).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let by = json!({"using": "css selector", "value": css});
        let v = self.must("POST", "/elements", by, css).await;
        v.as_array()
            .into_iter()
            .flatten()
            .map(|e| self.element(e))
            .collect()
    }

    fn element(&self, reference: &Value) -> Element {
        let id = reference[ELEMENT_KEY].as_str();
        Element {
            session: self.session.clone(),
            id: id
                .unwrap_or_else(|| panic!("not an element: {reference}"))
                .to_string(),
        }
    }

    /// Runs `script` (a function body: `return` its answer) with `args` (an [`Element::arg`]
    /// passes an element) and returns its answer. Panics if the script throws.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.try_execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// [`Browser::execute`], returning the script's error.
    pub async fn try_execute(&self, script: &str, args: &[Value]) -> Result<Value, Error> {
        let body = json!({"script": script, "args": args});
        self.cmd("POST", "/execute/sync", body).await
    }

    /// Runs `script` asynchronously: it answers by calling its last argument
    /// (`arguments[arguments.length - 1]`), within the session's 30 s script timeout.
    pub async fn execute_async(&self, script: &str, args: &[Value]) -> Value {
        let body = json!({"script": script, "args": args});
        self.cmd("POST", "/execute/async", body)
            .await
            .unwrap_or_else(|e| panic!("async script failed: {e}\n{script}"))
    }

    /// Evaluates the JavaScript expression `condition` until it is truthy and returns its
    /// value; panics after `timeout` with the last value (or error) it had.
    pub async fn wait_for(&self, condition: &str, timeout: Duration) -> Value {
        let script = format!(
            "const value = ({condition});\n\
             return {{truthy: !!value, value: value === undefined ? null : value}};"
        );
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            match self.try_execute(&script, &[]).await {
                Ok(v) if v["truthy"] == true => return v["value"].clone(),
                Ok(v) => last = format!("value {}", v["value"]),
                Err(e) => last = format!("error {e}"),
            }
            if Instant::now() >= deadline {
                panic!("wait_for({condition}): not true after {timeout:?}; last {last}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A real mouse click (pointer down and up) at viewport point (`x`, `y`) in CSS pixels:
    /// what a user's click on a map is, where no element stands for the spot.
    pub async fn click_at(&self, x: f64, y: f64) {
        let body = json!({"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "duration": 0, "x": x.round() as i64, "y": y.round() as i64, "origin": "viewport"},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0}
            ]
        }]});
        self.must("POST", "/actions", body, "clicking").await;
        self.must("DELETE", "/actions", Value::Null, "releasing the mouse")
            .await;
    }

    /// Saves a PNG of the viewport to `path` (folders created).
    pub async fn screenshot(&self, path: &Path) {
        let session = self.session.clone();
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || artifacts::save_screenshot(&session, &path))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
    }

    /// The browser console's entries since the last call (chromedriver hands each out once).
    pub async fn console_log(&self) -> Vec<LogEntry> {
        let body = json!({"type": "browser"});
        let v = self
            .must("POST", "/se/log", body, "reading the console")
            .await;
        LogEntry::parse_all(&v)
    }

    /// What a failed test leaves: a screenshot at `png` and the console log beside it (`.log`),
    /// returned as (png, log). Blocking: it runs in `Drop` too.
    pub fn save_artifacts(&self, png: &Path) -> Result<(PathBuf, PathBuf), String> {
        artifacts::save(&self.session, png)
    }

    async fn cmd(&self, method: &'static str, path: &str, body: Value) -> Result<Value, Error> {
        self.session.call(method, path.to_string(), body).await
    }

    async fn must(&self, method: &'static str, path: &str, body: Value, what: &str) -> Value {
        self.cmd(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let png = failure_path(&self.test);
            match self.save_artifacts(&png) {
                Ok((png, log)) => eprintln!(
                    "browser harness: the page when {} failed: {} (console: {})",
                    self.test,
                    png.display(),
                    log.display()
                ),
                Err(e) => eprintln!("browser harness: no failure screenshot: {e}"),
            }
        }
        // Quits Chromium cleanly; the driver's drop then kills whatever is left.
        let path = format!("/session/{}", self.session.id);
        let _ = wire::call(
            self.session.addr,
            "DELETE",
            &path,
            None,
            Duration::from_secs(10),
        );
        drop(self.driver.take());
    }
}

/// Starts chromedriver and a session, [`START_ATTEMPTS`] times at most.
fn start_session() -> (Driver, String) {
    let mut errors = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let driver = match Driver::spawn() {
            Ok(d) => d,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let caps = driver.capabilities();
        match wire::call(
            driver.addr,
            "POST",
            "/session",
            Some(&caps),
            SESSION_TIMEOUT,
        ) {
            Ok(v) => match v["sessionId"].as_str() {
                Some(id) => match fit_viewport(driver.addr, id) {
                    Ok(()) => return (driver, id.to_string()),
                    Err(e) => errors.push(format!("sizing the window: {e}")),
                },
                None => errors.push(format!("no sessionId in {v}")),
            },
            Err(e) => errors.push(format!("new session: {e}{}", driver.log_tail())),
        }
    }
    panic!(
        "the browser did not start ({START_ATTEMPTS} attempts):\n{}",
        errors.join("\n")
    );
}

/// Grows the window so that the page's viewport is [`WINDOW`]: headless Chromium keeps room
/// for browser UI it does not draw (`--window-size=1280,800` gives a 1280x657 viewport).
fn fit_viewport(addr: SocketAddr, id: &str) -> Result<(), Error> {
    let session = Session {
        addr,
        id: id.to_string(),
    };
    let script = json!({"script": "return [window.outerWidth - window.innerWidth, \
        window.outerHeight - window.innerHeight]", "args": []});
    let extra = session.call_blocking("POST", "/execute/sync", Some(&script))?;
    let (dw, dh) = (
        extra[0].as_u64().unwrap_or(0),
        extra[1].as_u64().unwrap_or(0),
    );
    let rect = json!({"width": u64::from(WINDOW.0) + dw, "height": u64::from(WINDOW.1) + dh});
    session.call_blocking("POST", "/window/rect", Some(&rect))?;
    Ok(())
}
