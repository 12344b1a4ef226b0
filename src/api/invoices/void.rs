//! `POST /v1/invoices/{id}/void` (staff): an issued invoice is cancelled. A compare-and-set
//! on its status (a paid or void invoice is 409 `illegal_transition`), under the rental's
//! row lock as issuing takes it; its tax entry is reversed in the ledger, and its charges
//! are free to be invoiced again. `invoice.voided` is emitted.

use axum::extract::Path;
use axum::Json;
use uuid::Uuid;

use super::issue::load;
use super::model::Invoice;
use super::read::parse_invoice_id;
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::rules::cas::compare_and_set;
use crate::events::{self, Kind as Event};
use crate::ledger::invoices::voided;

const RENTAL_OF: &str = "SELECT rental_id FROM invoices WHERE id = $1";
const LOCK_RENTAL: &str = "SELECT 1 FROM rentals WHERE id = $1 FOR NO KEY UPDATE";
const VOID: &str = "UPDATE invoices SET status = 'void', voided_at = $2
                    WHERE id = $1 AND status = 'issued' RETURNING entry_id";
const STATUS: &str = "SELECT status FROM invoices WHERE id = $1";
const RELEASE: &str = "DELETE FROM invoiced_charges WHERE invoice_id = $1";

async fn void(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<Invoice>, ApiError> {
    let id = parse_invoice_id(&id)?;
    let tx = db.tx().await?;
    let rental: Uuid = tx
        .query_opt(RENTAL_OF, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("invoice"))?
        .get(0);
    tx.execute(LOCK_RENTAL, &[&rental]).await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&id, &now];
    let row = compare_and_set(&tx, VOID, &params, STATUS, "invoice", "void").await?;
    if let Some(entry) = row.get::<_, Option<i64>>(0) {
        voided(&*tx, id, entry).await?;
    }
    tx.execute(RELEASE, &[&id]).await?;
    let invoice = load(&tx, id).await?;
    let body = serde_json::json!({ "invoice": &invoice });
    events::emit(&*tx, Event::InvoiceVoided, &id.to_string(), body).await?;
    Ok(Json(invoice))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::step::<Invoice>(
            "/v1/invoices/{id}/void",
            "Void an issued invoice: its tax is reversed in the ledger and its charges can be \
             invoiced again; 409 illegal_transition unless it is issued",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        void,
    )
}
