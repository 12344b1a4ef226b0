//! A real HTTP receiver for webhook tests: it records every request (path, headers, body)
//! and answers as told: 200, a fixed status, a failure on chosen first attempts, a redirect,
//! or after a long sleep. It can also go down (its port closed, connections refused) and
//! come back on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Mode {
    Ok,
    /// Every request gets this status.
    Status(u16),
    /// A first attempt (`fleetd-delivery-attempt: 1`) of an event id divisible by `n` gets
    /// 503; every other request 200.
    FailFirstOfEvery(i64),
    /// 302 to this location.
    Redirect(String),
    /// Sleeps this long, then 200.
    Sleep(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The status it was answered with.
    pub answered: u16,
}

impl Hit {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn event_id(&self) -> i64 {
        self.header("fleetd-event-id").parse().unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Clone)]
struct Shared {
    /// Requests begun (a sleeping answer is counted before it sleeps).
    arrivals: Arc<std::sync::atomic::AtomicUsize>,
    hits: Arc<Mutex<Vec<Hit>>>,
    mode: Arc<Mutex<Mode>>,
}

/// The server while it is up: what stops it, and its task.
type Serving = (CancellationToken, tokio::task::JoinHandle<()>);

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    /// `None` while down. A std lock: held only to swap the value, never across an await.
    serving: Mutex<Option<Serving>>,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let shared = Shared {
            arrivals: Arc::default(),
            hits: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = Mutex::new(Some(serve(listener, shared.clone())));
        Receiver {
            addr,
            shared,
            serving,
        }
    }

    /// Goes down: stops listening (a connection is refused) and closes every connection
    /// once its request in progress, if any, is answered. What it received is kept.
    pub async fn down(&self) {
        let (stop, task) = self.serving.lock().unwrap().take().expect("already down");
        stop.cancel();
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    /// Comes back on the same port.
    pub async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        let serving = serve(listener, self.shared.clone());
        assert!(
            self.serving.lock().unwrap().replace(serving).is_none(),
            "already up"
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Requests begun so far, answered or not.
    pub fn arrivals(&self) -> usize {
        self.shared
            .arrivals
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request answered so far, in the order they were answered.
    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| (200..300).contains(&h.answered))
            .collect()
    }
}

fn serve(listener: tokio::net::TcpListener, shared: Shared) -> Serving {
    let app = axum::Router::new().fallback(answer).with_state(shared);
    let stop = CancellationToken::new();
    let signal = stop.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
            .unwrap()
    });
    (stop, task)
}

async fn answer(State(s): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.arrivals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mode = s.mode.lock().unwrap().clone();
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let attempt = headers.get("fleetd-delivery-attempt").cloned();
    let event: i64 = headers
        .get("fleetd-event-id")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (status, location) = match &mode {
        Mode::Ok => (200, None),
        Mode::Status(code) => (*code, None),
        Mode::FailFirstOfEvery(n) if event % n == 0 && attempt.as_deref() == Some("1") => {
            (503, None)
        }
        Mode::FailFirstOfEvery(_) => (200, None),
        Mode::Redirect(to) => (302, Some(to.clone())),
        Mode::Sleep(d) => {
            tokio::time::sleep(*d).await;
            (200, None)
        }
    };
    s.hits.lock().unwrap().push(Hit {
        path: uri.path().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered: status,
    });
    let status = StatusCode::from_u16(status).unwrap();
    match location {
        Some(to) => (status, [("location", to)]).into_response(),
        None => status.into_response(),
    }
}
