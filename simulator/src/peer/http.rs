//! A minimal HTTP/1.1 keep-alive client: one request at a time on one connection, bodies
//! framed by `content-length` (what fleetd sends). Cheap enough not to be what is measured.

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Http {
    stream: BufReader<TcpStream>,
    /// Everything of a request after its path.
    head: String,
    line: String,
}

impl Http {
    pub async fn connect(addr: &str, token: &str) -> anyhow::Result<Http> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to fleetd at {addr}"))?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        Ok(Http {
            stream: BufReader::new(stream),
            head: format!("HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\r\n"),
            line: String::new(),
        })
    }

    /// The body of a 200 answer; anything else is an error with the status and body.
    pub async fn get(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let request = format!("GET {path} {}", self.head);
        let io = |e: std::io::Error| e.to_string();
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(io)?;
        let mut status = 0;
        let mut length = None;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await.map_err(io)? == 0 {
                return Err("connection closed".into());
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if status == 0 {
                status = line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            } else if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length.ok_or("no content-length")?];
        self.stream.read_exact(&mut body).await.map_err(io)?;
        if status != 200 {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        Ok(body)
    }
}
