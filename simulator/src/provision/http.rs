//! A minimal HTTP/1.1 client for fleetd's API on a trusted address (`http://host:port`
//! only): one request per connection, JSON in and out.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(30);
/// Larger answers are refused rather than buffered.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// An answer: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    /// `Retry-After` in seconds, when present.
    pub retry_after: Option<u64>,
}

/// `http://host:port` (an optional trailing `/`) into `host:port`.
pub fn authority(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http://host:port is supported"))?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!("{url}: expected http://host:port"));
    }
    Ok(if rest.contains(':') {
        rest.to_string()
    } else {
        format!("{rest}:80")
    })
}

/// Sends one request and reads the whole answer.
pub async fn request(
    authority: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let exchange = async {
        let mut s = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("{authority}: {e}"))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(body.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        (&mut s)
            .take(MAX_ANSWER_BYTES as u64 + 1)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
        if raw.len() > MAX_ANSWER_BYTES {
            return Err("answer too large".to_string());
        }
        parse(&raw)
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{method} {path}: no answer within {TIMEOUT:?}"))?
}

/// Splits a raw answer into status and body (de-chunked when needed).
pub fn parse(raw: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the answer has no end of headers")?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("the answer has no status line")?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let retry_after = header("retry-after").and_then(|v| v.parse().ok());
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Answer {
        status,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        text: body,
        retry_after,
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(
            authority("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(authority("http://h:1/").unwrap(), "h:1");
        assert_eq!(authority("http://h").unwrap(), "h:80");
        for bad in [
            "https://h:1",
            "h:1",
            "http://",
            "http://h:1/v1",
            "http://u@h:1",
        ] {
            assert!(authority(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_plain_and_chunked() {
        let a = parse(b"HTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\n{\"a\":1}\n").unwrap();
        assert_eq!((a.status, a.body["a"].as_i64()), (201, Some(1)));
        let a = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":2}\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(a.body["a"], 2);
        assert!(parse(b"garbage").is_err());
        let a = parse(b"HTTP/1.1 429 Too Many\r\nretry-after: 3\r\n\r\n{}").unwrap();
        assert_eq!((a.status, a.retry_after), (429, Some(3)));
        assert_eq!(
            parse(b"HTTP/1.1 503 x\r\n\r\nnot json").unwrap().body,
            Value::Null
        );
    }
}
