//! `fleetd healthcheck`: one `GET` of the daemon's `/healthz` over plain HTTP/1.1, for a
//! container's `HEALTHCHECK`, whose runtime image has no curl. Blocking std I/O with a
//! deadline over the whole exchange (connecting, sending, reading the status line): it runs
//! in its own short-lived process, before any runtime starts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What `fleetd healthcheck` asks without `--url`: the daemon's default `http.addr`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/healthz";

/// The most of an answer read while looking for the end of its status line.
const MAX_STATUS_LINE: usize = 1024;

/// Why a health check failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The URL does not parse, is not `http://`, or names no host.
    #[error("invalid url {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// The host name does not resolve.
    #[error("cannot resolve {url}: {source}")]
    Resolve { url: String, source: std::io::Error },
    /// No address of the host accepted a connection within the timeout.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// Sending the request or reading the answer failed or ran out of time.
    #[error("no answer from {addr}: {source}")]
    Exchange {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// What came back does not start with an HTTP/1.x status line.
    #[error("not an http answer from {addr}: {line:?}")]
    NotHttp { addr: SocketAddr, line: String },
    /// The server answered, with another status than 200.
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
}

/// GETs `url` and succeeds on status 200; everything, resolving the name aside, within
/// `timeout`.
pub fn check(url: &str, timeout: Duration) -> Result<(), HealthError> {
    let bad = |reason: &str| HealthError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.scheme() != "http" {
        return Err(bad("only http:// is supported"));
    }
    let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs = parsed
        .socket_addrs(|| Some(80))
        .and_then(|a| match a.is_empty() {
            true => Err(std::io::Error::other("no address")),
            false => Ok(a),
        })
        .map_err(|source| HealthError::Resolve {
            url: url.to_string(),
            source,
        })?;
    let deadline = Instant::now() + timeout;
    let (mut stream, addr) = connect(&addrs, deadline)?;
    let target = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: fleetd-healthcheck\r\n\
         Connection: close\r\n\r\n"
    );
    let line = exchange(&mut stream, request.as_bytes(), deadline)
        .map_err(|source| HealthError::Exchange { addr, source })?;
    match status(&line) {
        Some(200) => Ok(()),
        Some(status) => Err(HealthError::Status {
            url: url.to_string(),
            status,
        }),
        None => Err(HealthError::NotHttp { addr, line }),
    }
}

/// Connects to the first of `addrs` (not empty) that accepts before `deadline`; else the
/// last one's error.
fn connect(
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), HealthError> {
    let mut last = None;
    for &addr in addrs {
        match TcpStream::connect_timeout(&addr, left(deadline)) {
            Ok(stream) => return Ok((stream, addr)),
            Err(source) => last = Some(HealthError::Connect { addr, source }),
        }
    }
    Err(last.expect("addrs is not empty"))
}

/// Sends `request` and reads up to the end of the status line, before `deadline`.
fn exchange(stream: &mut TcpStream, request: &[u8], deadline: Instant) -> std::io::Result<String> {
    stream.set_write_timeout(Some(left(deadline)))?;
    stream.write_all(request)?;
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while answer.len() < MAX_STATUS_LINE && !answer.windows(2).any(|w| w == b"\r\n") {
        stream.set_read_timeout(Some(left(deadline)))?;
        match stream.read(&mut buf)? {
            0 => break,
            n => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// The time left before `deadline`; never zero, which the socket timeouts refuse.
fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// The status code of an `HTTP/1.x NNN reason` line.
fn status(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/1.") && code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server on a free port that answers one connection with `answer` (after reading the
    /// request's head), or holds it silent when `answer` is `None`.
    fn serve_once(answer: Option<&'static str>) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 512];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).unwrap() {
                    0 => break,
                    n => head.extend_from_slice(&buf[..n]),
                }
            }
            match answer {
                Some(a) => s.write_all(a.as_bytes()).unwrap(),
                None => std::thread::sleep(Duration::from_millis(500)),
            }
            String::from_utf8(head).unwrap()
        });
        (url, server)
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn ok_on_200_with_a_proper_request() {
        let (url, server) = serve_once(Some(
            "HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}",
        ));
        check(&url, SECOND).unwrap();
        let head = server.join().unwrap();
        let port = url.split(':').nth(2).unwrap().split('/').next().unwrap();
        assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
        assert!(head.contains("Connection: close\r\n"), "{head}");
    }

    #[test]
    fn fails_on_another_status() {
        let (url, server) = serve_once(Some("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
        let error = check(&url, SECOND).unwrap_err();
        server.join().unwrap();
        assert!(
            matches!(error, HealthError::Status { status: 503, .. }),
            "{error}"
        );
        assert_eq!(error.to_string(), format!("{url} answered 503"));
    }

    #[test]
    fn fails_on_what_is_not_http() {
        let (url, server) = serve_once(Some("SSH-2.0-OpenSSH_9.2\r\n"));
        let error = check(&url, SECOND).unwrap_err();
        server.join().unwrap();
        assert!(matches!(error, HealthError::NotHttp { .. }), "{error}");
    }

    #[test]
    fn fails_on_a_closed_port() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = check(&format!("http://127.0.0.1:{port}/healthz"), SECOND).unwrap_err();
        assert!(matches!(error, HealthError::Connect { .. }), "{error}");
        assert!(error
            .to_string()
            .starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")));
    }

    #[test]
    fn gives_up_on_a_silent_server_at_the_timeout() {
        let (url, server) = serve_once(None);
        let started = Instant::now();
        let error = check(&url, Duration::from_millis(200)).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_millis(450),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(error, HealthError::Exchange { .. }), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn refuses_malformed_urls() {
        for (url, reason) in [
            (
                "127.0.0.1:8080/healthz",
                "invalid url \"127.0.0.1:8080/healthz\": ",
            ),
            ("https://127.0.0.1/healthz", "only http:// is supported"),
            ("http://", "invalid url \"http://\": empty host"),
            ("not a url", "relative URL without a base"),
        ] {
            let error = check(url, SECOND).unwrap_err();
            assert!(
                matches!(error, HealthError::BadUrl { .. }),
                "{url}: {error}"
            );
            assert!(error.to_string().contains(reason), "{url}: {error}");
        }
    }

    #[test]
    fn reads_status_lines() {
        assert_eq!(status("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status("HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(status("HTTP/2 200"), None);
        assert_eq!(status("HTTP/1.1 20 OK"), None);
        assert_eq!(status(""), None);
    }
}
