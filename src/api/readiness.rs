//! `/readyz`'s PostgreSQL check, made at most once per [`TTL`] however many callers ask:
//! they queue on one lock, and those after the first share its answer.

use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use prometheus_client::metrics::counter::Counter;

/// How long a check answers `/readyz`.
pub const TTL: Duration = Duration::from_secs(1);
/// How long one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The last check: when, and whether it passed.
#[derive(Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl Readiness {
    /// Whether PostgreSQL answered `pool`'s query, asked at most once per [`TTL`]; `checks`
    /// counts the queries.
    pub async fn database(&self, pool: &Pool, checks: &Counter) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, ok)) = *last {
            if at.elapsed() < TTL {
                return ok;
            }
        }
        checks.inc();
        let check = tokio::time::timeout(CHECK_TIMEOUT, async {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        let ok = matches!(check, Ok(Ok(_)));
        *last = Some((Instant::now(), ok));
        ok
    }
}
