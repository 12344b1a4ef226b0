//! Events as a live feed, for `GET /v1/stream?events=…`: one [`Feed`] per daemon tails
//! `events` while anyone listens and broadcasts each new event once; each client follows
//! it through a [`Cursor`], which first reads what it missed from the table (after the id it
//! resumes from) and then takes the broadcast, going back to the table whenever it falls
//! behind or sees a gap. Ids are gapless and numbered in commit order, so "after id n" is
//! exact: a client that resumes from the last id it saw misses nothing and sees nothing twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::pattern;

/// How often the feed looks for new events while someone listens.
pub const EVERY: Duration = Duration::from_millis(50);
/// Events read per query.
pub const PAGE: i64 = 500;
/// Events the broadcast holds for a slow client before it must read the table instead.
pub const CAPACITY: usize = 4_096;

/// One event as the stream (and webhooks) send it: `body` is `event_body(e)`
/// (migrations/0018_webhooks.sql).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub event_type: String,
    pub body: String,
}

/// Events after `after`, in id order, at most `limit`.
pub async fn read(
    c: &impl tokio_postgres::GenericClient,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    Ok(c.query(
        "SELECT e.id, e.type, event_body(e) FROM events e
              WHERE e.id > $1 ORDER BY e.id LIMIT $2",
        &[&after, &limit],
    )
    .await?
    .iter()
    .map(|r| StoredEvent {
        id: r.get(0),
        event_type: r.get(1),
        body: r.get(2),
    })
    .collect())
}

/// The oldest event still retained (none when the table is empty) and the last numbered.
pub async fn bounds(
    c: &impl tokio_postgres::GenericClient,
) -> Result<(Option<i64>, i64), tokio_postgres::Error> {
    let row = c
        .query_one(
            "SELECT (SELECT min(id) FROM events), (SELECT last_id FROM event_counter)",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// The daemon's tail of `events`.
pub struct Feed {
    pool: Pool,
    tx: broadcast::Sender<Arc<StoredEvent>>,
    /// The last event id when the latest cursors were made (and when): an idle feed
    /// resumes from there, so that no event numbered between a cursor's start and the
    /// feed's next pass goes unbroadcast.
    floor: std::sync::Mutex<Option<(i64, std::time::Instant)>>,
}

impl Feed {
    pub fn new(pool: Pool) -> Arc<Feed> {
        let (tx, _) = broadcast::channel(CAPACITY);
        Arc::new(Feed {
            pool,
            tx,
            floor: std::sync::Mutex::new(None),
        })
    }

    /// Tails `events` every [`EVERY`] while anyone listens, until `stop`. When nobody
    /// listens it reads nothing; a new listener is served from the table meanwhile.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut last: Option<i64> = None;
        loop {
            if self.tx.receiver_count() == 0 {
                last = None;
            } else if let Err(e) = self.pass(&mut last).await {
                tracing::debug!(
                    error = format!("{e:#}"),
                    "reading new events for the stream failed"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    async fn pass(&self, last: &mut Option<i64>) -> anyhow::Result<()> {
        // A floor older than this was left by a cursor gone again: starting there would
        // only reread what nobody waits for.
        let floor = self
            .floor
            .lock()
            .expect("never poisoned")
            .take()
            .filter(|(_, at)| at.elapsed() < Duration::from_secs(5))
            .map(|(id, _)| id);
        let client = self.pool.get().await?;
        let mut after = match (*last, floor) {
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => bounds(&**client).await?.1,
        };
        loop {
            let page = read(&**client, after, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for e in page {
                after = e.id;
                // No receiver left is no error: the next pass starts over.
                let _ = self.tx.send(Arc::new(e));
            }
            *last = Some(after);
            if !full {
                return Ok(());
            }
        }
    }

    /// A cursor over the events after `after` whose types match `patterns` (already
    /// [`pattern::parse`]d); `last` is the last event id now (the cursor reads the table up to
    /// at least there, the feed broadcasts what follows).
    pub fn cursor(&self, patterns: Vec<String>, after: i64, last: i64) -> Cursor {
        // Before subscribing: an idle feed's next pass must start no later than `last`.
        {
            let mut floor = self.floor.lock().expect("never poisoned");
            let id = floor.map_or(last, |(f, _)| f.min(last));
            *floor = Some((id, std::time::Instant::now()));
        }
        Cursor {
            rx: self.tx.subscribe(),
            pool: self.pool.clone(),
            patterns,
            after,
            buffer: VecDeque::new(),
            catching_up: true,
        }
    }
}

/// One client's place in the events.
pub struct Cursor {
    rx: broadcast::Receiver<Arc<StoredEvent>>,
    pool: Pool,
    patterns: Vec<String>,
    /// The last id passed (sent or filtered out).
    after: i64,
    /// Matching events read from the table, not yet returned.
    buffer: VecDeque<Arc<StoredEvent>>,
    /// Reading the table rather than the broadcast.
    catching_up: bool,
}

impl Cursor {
    /// The next matching event. Cancel-safe: dropped mid-way, it loses nothing.
    pub async fn next(&mut self) -> anyhow::Result<Arc<StoredEvent>> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Ok(e);
            }
            if self.catching_up {
                let page = read(&**self.pool.get().await?, self.after, PAGE).await?;
                self.catching_up = page.len() as i64 == PAGE;
                for e in page {
                    self.after = e.id;
                    if pattern::any_matches(&self.patterns, &e.event_type) {
                        self.buffer.push_back(Arc::new(e));
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(e) if e.id <= self.after => {}
                Ok(e) if e.id == self.after + 1 => {
                    self.after = e.id;
                    if pattern::any_matches(&self.patterns, &e.event_type) {
                        return Ok(e);
                    }
                }
                // A gap (the feed started after this cursor's place) or a lag: the table
                // has it all.
                Ok(_) | Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => anyhow::bail!("the event feed stopped"),
            }
        }
    }
}
