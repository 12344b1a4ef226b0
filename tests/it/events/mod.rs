//! The event outbox (docs/events.md).

mod drills;
mod mqtt;
mod outbox;
mod schemas;
mod stream;
mod webhook_routes;
mod webhooks;

/// Ids of every numbered event whose type starts with `prefix`, in order, once the
/// daemon's sequencer has numbered everything staged.
pub async fn numbered<C: FromIterator<i64>>(db: &tokio_postgres::Client, prefix: &str) -> C {
    crate::common::dispatch::eventually("staged events numbered", || async {
        let staged: i64 = db
            .query_one("SELECT count(*) FROM event_outbox", &[])
            .await
            .unwrap()
            .get(0);
        (staged == 0).then_some(())
    })
    .await;
    db.query(
        "SELECT id FROM events WHERE starts_with(type, $1) ORDER BY id",
        &[&prefix],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}
