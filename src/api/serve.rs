//! The HTTP server's accept loop: axum's router on hyper's HTTP/1 connections, with the
//! limits `axum::serve` does not have, so that nobody can exhaust the daemon without a
//! password:
//! - at most `http.max_connections` open connections, and `http.max_connections_per_ip` from
//!   one address; a connection over either is closed at once, before anything is read;
//! - `http.header_read_timeout_ms` to send a request's head, counted from the connection's
//!   start and, on a kept-alive connection, from the end of the previous answer: a client
//!   that dribbles its headers or holds an idle connection open is disconnected.
//!
//! Each request carries its peer address (`ConnectInfo<SocketAddr>`) for the rate limiter.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::middleware::slots::Slots;

/// The server's limits (from `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_ip: u32,
    pub header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `stop`, then lets open connections finish their
/// current request (event streams end with the dispatcher's own stop).
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, stop: CancellationToken) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip: Slots<IpAddr> = Slots::new(limits.max_connections_per_ip);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // Out of descriptors, typically: wait rather than spin.
                    tracing::warn!(%error, "accepting an http connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "http.max_connections reached; connection closed");
            continue;
        };
        let Some(slot) = per_ip.take(peer.ip()) else {
            tracing::debug!(%peer, "http.max_connections_per_ip reached; connection closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let stop = stop.clone();
        connections.spawn(async move {
            let _held = (permit, slot);
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(connection);
            let result = tokio::select! {
                r = connection.as_mut() => r,
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                // Timeouts and clients going away are routine.
                tracing::debug!(%peer, %error, "http connection ended");
            }
        });
    }
    connections.close();
    connections.wait().await;
}
