//! No-shows: a reservation not activated within `rentals.no_show_hours` of its start becomes
//! `no_show`, is charged per its plan ([`pricing::no_show`]) and releases its booking, so the
//! vehicle can be reserved again. Run by the time rules ([`crate::timed`]) on every daemon;
//! `FOR UPDATE SKIP LOCKED` lets several daemons (and a concurrent activation or
//! cancellation) share the work without waiting on each other, and the status check in the
//! update makes each rental change at most once.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::booking;
use super::ledger::{add_charges, charges};
use super::plans;
use super::pricing;
use crate::api::error::ApiError;
use crate::api::rules::commitments::{self, Kind};
use crate::events::Kind as Event;

/// Up to `$2` reservations that started at or before `$1` (now − `no_show_hours`), oldest first.
const DUE: &str = "SELECT id FROM rentals WHERE status = 'reserved' AND starts_at <= $1
                   ORDER BY starts_at LIMIT $2 FOR UPDATE SKIP LOCKED";
const MARK: &str = "UPDATE rentals SET status = 'no_show', updated_at = now()
                    WHERE id = $1 AND status = 'reserved' RETURNING plan_id, currency";

/// Turns up to `limit` reservations whose start is `no_show_hours` or more before `now` into
/// no-shows, in the caller's transaction; returns their ids.
pub async fn mark(
    tx: &tokio_postgres::Client,
    now: DateTime<Utc>,
    no_show_hours: u32,
    limit: i64,
) -> Result<Vec<Uuid>, ApiError> {
    let deadline = now - chrono::Duration::hours(i64::from(no_show_hours));
    let rows = tx.query(DUE, &[&deadline, &limit]).await?;
    let mut marked = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.get(0);
        let Some(r) = tx.query_opt(MARK, &[&id]).await? else {
            continue;
        };
        let (plan_id, currency): (Uuid, String) = (r.get(0), r.get(1));
        let plan = plans::fetch(tx, plan_id, "plan_id").await?;
        let charged = pricing::total(&charges(tx, id).await?)?;
        let added = pricing::no_show(&plan.terms, charged)?;
        add_charges(tx, Event::RentalNoShow, id, &currency, &added).await?;
        commitments::release(tx, Kind::Rental, id).await?;
        booking::emit_loaded(tx, Event::RentalNoShow, id).await?;
        marked.push(id);
    }
    Ok(marked)
}
