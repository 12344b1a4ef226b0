//! The sequencer: every [`EVERY`], `SELECT events_sequence(…)` numbers the staged events of
//! committed transactions and moves them into `events` (migrations/0017_events.sql), again
//! at once while batches come back full. Every daemon runs one; the database lets one
//! session number at a time, so ids stay gapless whatever the number of daemons.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

/// How often staged events are looked for: the delay they add before they are numbered.
pub const EVERY: Duration = Duration::from_millis(20);
/// Events numbered per statement.
pub const BATCH: i32 = 1_000;

pub struct Sequencer {
    pool: Pool,
}

impl Sequencer {
    pub fn new(pool: Pool) -> Sequencer {
        Sequencer { pool }
    }

    /// Sequences every [`EVERY`] until `stop`. A failure is logged once until a pass works
    /// again (PostgreSQL down): the staged events wait in the outbox meanwhile.
    pub async fn run(self, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match self.pass().await {
                Ok(_) => failing = false,
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "numbering events failed; they wait in the outbox"
                    );
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Numbers what is staged now; returns how many events it numbered (0 when another
    /// daemon is numbering).
    pub async fn pass(&self) -> anyhow::Result<u64> {
        let client = self.pool.get().await?;
        let mut total = 0;
        loop {
            let n: i32 = client
                .query_one("SELECT events_sequence($1)", &[&BATCH])
                .await?
                .get(0);
            total += n.max(0) as u64;
            if n < BATCH {
                return Ok(total);
            }
        }
    }
}
