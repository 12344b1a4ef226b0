//! The HTTP server cannot be exhausted without a password: connections over the per-address
//! limit are closed at once while other addresses are served, idle and slow-header
//! connections are closed after `http.header_read_timeout_ms`, and then the address is served
//! again.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::api::Api;
use crate::common::dispatch::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `local` (any 127.0.0.0/8 address works on Linux loopback).
async fn connect_from(local: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((local, 0)))
        .expect("bind a loopback source address");
    socket.connect(to).await.unwrap()
}

/// Whether the server closed `s` (EOF or reset) within `wait`.
async fn closed(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// `GET /healthz` over a fresh connection from `local`: the status, or `None` when the
/// server closed the connection without answering.
async fn healthz_from(local: [u8; 4], to: SocketAddr) -> Option<u16> {
    let mut s = connect_from(local, to).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_and_header_timeouts_keep_the_server_answering() {
    let api = Api::start_with(|c| {
        c.http.max_connections_per_ip = 20;
        c.http.max_connections = 100;
        c.http.header_read_timeout_ms = 1_500;
    })
    .await;
    let addr = api.daemon.addr;
    const ATTACKER: [u8; 4] = [127, 0, 0, 2];
    const OTHER: [u8; 4] = [127, 0, 0, 3];

    // 20 idle connections from one address fill its quota: the 21st is closed at once.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(connect_from(ATTACKER, addr).await);
    }
    // The server counts a connection once it accepts it; wait until the quota is seen full.
    let mut extra = eventually("the 21st connection is refused", || async {
        let mut s = connect_from(ATTACKER, addr).await;
        closed(&mut s, Duration::from_millis(500))
            .await
            .then_some(s)
    })
    .await;
    assert!(closed(&mut extra, Duration::from_secs(1)).await);
    // Another address is served meanwhile.
    assert_eq!(healthz_from(OTHER, addr).await, Some(200));

    // A slow client: part of a request head, then nothing; closed after the timeout, like
    // the idle ones.
    let mut slow = connect_from(OTHER, addr).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed(&mut slow, Duration::from_secs(30)).await,
        "slow header"
    );
    for s in &mut idle {
        assert!(closed(s, Duration::from_secs(30)).await, "idle connection");
    }
    // The quota is free again.
    let status = eventually("the address is served again", || async {
        healthz_from(ATTACKER, addr).await
    })
    .await;
    assert_eq!(status, 200);
    // A kept-alive connection that goes quiet after an answer is closed too.
    let mut kept = connect_from(OTHER, addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed(&mut kept, Duration::from_secs(30)).await,
        "idle keep-alive"
    );
    api.daemon.shutdown().await;
}
