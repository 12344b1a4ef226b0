//! The WebDriver wire: one JSON command to chromedriver over a fresh TCP connection, answered
//! with the command's `value` or the WebDriver error it reported.
//!
//! Blocking on purpose: [`super::Browser`]'s `Drop` must talk to chromedriver (a screenshot on
//! failure, deleting the session) and cannot await; the async methods run it on tokio's
//! blocking pool. A connection per command (`Connection: close`); chromedriver says it will
//! close but may not, so an answer ends where its `Content-Length` says.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// What can go wrong with one WebDriver command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// chromedriver could not be reached, or hung up or went silent before answering.
    #[error("chromedriver at {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// chromedriver answered with a WebDriver error (`no such element`, `javascript error`,
    /// `unknown error: net::ERR_…` for a failed navigation, …).
    #[error("{error} (HTTP {status}): {message}")]
    WebDriver {
        status: u16,
        error: String,
        message: String,
    },
    /// The answer was not a WebDriver answer.
    #[error("not a WebDriver answer ({reason}): {raw:?}")]
    Protocol { reason: &'static str, raw: String },
}

impl Error {
    /// The WebDriver error code (`no such element`, …), if chromedriver sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::WebDriver { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Sends `method path` with `body` (JSON) and returns the answer's `value`. `timeout` bounds
/// every read and write, so a hung chromedriver fails the command instead of the test run.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<Value, Error> {
    let io = |source| Error::Io { addr, source };
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    s.write_all(head.as_bytes()).map_err(io)?;
    s.write_all(body.as_bytes()).map_err(io)?;
    parse(&read_answer(&mut s).map_err(io)?)
}

/// Reads the head and then `Content-Length` bytes of body (or until the end, without one).
fn read_answer(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let mut wanted: Option<usize> = None;
    loop {
        if wanted.is_some_and(|n| raw.len() >= n) {
            return Ok(raw);
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&buf[..n]);
        if wanted.is_none() {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                wanted = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim() == "content-length")
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .map(|len| end + 4 + len);
            }
        }
    }
}

fn parse(raw: &[u8]) -> Result<Value, Error> {
    let text = String::from_utf8_lossy(raw);
    let protocol = |reason| Error::Protocol {
        reason,
        raw: text.chars().take(2_000).collect(),
    };
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| protocol("no end of head"))?;
    let status: u16 = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol("no status line"))?;
    if head.to_ascii_lowercase().contains("chunked") {
        return Err(protocol("chunked answers are not read"));
    }
    let json: Value = serde_json::from_str(body).map_err(|_| protocol("body is not JSON"))?;
    let value = json.get("value").cloned().unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let field = |k: &str| value[k].as_str().unwrap_or_default().to_string();
    Err(Error::WebDriver {
        status,
        error: field("error"),
        message: field("message"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_errors_are_told_apart() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"value\":[1,2,3]}";
        assert_eq!(parse(ok).unwrap(), serde_json::json!([1, 2, 3]));
        let err = b"HTTP/1.1 404 Not Found\r\n\r\n\
            {\"value\":{\"error\":\"no such element\",\"message\":\"m\",\"stacktrace\":\"\"}}";
        let e = parse(err).unwrap_err();
        assert_eq!(e.code(), Some("no such element"));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\n\r\nnope"),
            Err(Error::Protocol { .. })
        ));
        assert!(matches!(parse(b""), Err(Error::Protocol { .. })));
    }
}
