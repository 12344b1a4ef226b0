//! A TCP link to a broker whose answers arrive late, as from a broker working off a backlog
//! (nats-server after a JetStream leader election), and that can be cut: [`SlowLink::cut`]
//! closes every connection open at the time, as a broker closing its clients does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub struct SlowLink {
    pub port: u16,
    /// Cancelled by the next cut; connections opened since hold the new one.
    cut: Arc<Mutex<CancellationToken>>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowLink {
    /// Forwards a free loopback port to `target` (a port on 127.0.0.1), delaying every byte
    /// the broker sends by `delay`.
    pub async fn start(target: u16, delay: Duration) -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(Mutex::new(CancellationToken::new()));
        let tokens = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let token = tokens.lock().unwrap().clone();
                tokio::spawn(forward(client, target, delay, token));
            }
        });
        SlowLink { port, cut, task }
    }

    /// Closes every connection open now; later ones pass.
    pub fn cut(&self) {
        let mut token = self.cut.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.task.abort();
        self.cut.lock().unwrap().cancel();
    }
}

async fn forward(client: TcpStream, target: u16, delay: Duration, cut: CancellationToken) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
        return;
    };
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let up = tokio::io::copy(&mut client_rx, &mut server_tx);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read_down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = server_rx.read(&mut buf).await {
            if tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
        // The broker closed: what it sent still arrives, late, then `write_down` ends.
        drop(tx);
        std::future::pending::<()>().await
    };
    let write_down = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if client_tx.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = read_down => {}
        _ = write_down => {}
        _ = cut.cancelled() => {}
    }
}
