//! A TCP proxy in front of the replica that can lose the daemon's pooled connections the way
//! a network does: [`Proxy::cut`] closes each connection that was open at the time (and
//! named itself `fleetd-replica`, the pool's application name, in its startup packet) when
//! it next sends a request, or the one after ([`Proxy::cut_mid_read`]: the transaction
//! begins, its query is lost), so the daemon finds the loss only by using it. The monitor's
//! connection (`fleetd-replica-monitor`) and new connections pass untouched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The pool's application name as it appears in a startup packet.
const POOL_NAME: &[u8] = b"fleetd-replica\0";

pub struct Proxy {
    pub port: u16,
    /// Bumped by each cut; a connection opened before the latest is cut.
    cuts: Arc<AtomicU64>,
    /// Requests a connection may still send after the cut.
    pass: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forwards a free loopback port to `target` (its port on 127.0.0.1).
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(AtomicU64::new(0));
        let pass = Arc::new(AtomicU64::new(0));
        let (c, p) = (cuts.clone(), pass.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, target, c.clone(), p.clone()));
            }
        });
        Proxy {
            port,
            cuts,
            pass,
            task,
        }
    }

    /// Loses the pool's open connections, each at its next request (a read's `BEGIN`).
    pub fn cut(&self) {
        self.pass.store(0, Ordering::SeqCst);
        self.cuts.fetch_add(1, Ordering::SeqCst);
    }

    /// Loses them one request later: a read's transaction begins, its query is lost.
    pub fn cut_mid_read(&self) {
        self.pass.store(1, Ordering::SeqCst);
        self.cuts.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(mut client: TcpStream, target: u16, cuts: Arc<AtomicU64>, pass: Arc<AtomicU64>) {
    let born = cuts.load(Ordering::SeqCst);
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await else {
        return; // the replica is down: the client sees its connection closed at once
    };
    let (mut client_rx, mut client_tx) = client.split();
    let (mut server_rx, mut server_tx) = server.split();
    let upstream = async {
        // The first bytes hold the startup packet, with the application name.
        let mut head = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut sent_since_cut = 0;
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if head.len() < 4096 {
                head.extend_from_slice(&buf[..n]);
            }
            let pooled = head.windows(POOL_NAME.len()).any(|w| w == POOL_NAME);
            if pooled && cuts.load(Ordering::SeqCst) > born {
                if sent_since_cut >= pass.load(Ordering::SeqCst) {
                    return; // lost: the request goes nowhere, both ends are closed
                }
                sent_since_cut += 1;
            }
            if server_tx.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downstream = tokio::io::copy(&mut server_rx, &mut client_tx);
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}
