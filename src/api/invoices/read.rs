//! `GET /v1/invoices` and `GET /v1/invoices/{id}`: staff see every invoice, a customer only
//! those of its own customer profile (another's is 404), as for rentals. The list is in
//! number order (year, then sequence), its cursor the last number.

use axum::extract::Path;
use axum::Json;
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::model::{assemble, parse_number, Invoice, InvoiceStatus, COLUMNS};
use crate::api::auth::{Caller, Role};
use crate::api::error::ApiError;
use crate::api::extract::{int_range, ApiQuery};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};

/// Staff, and customers for their own.
pub const READERS: &[Role] = &[Role::Admin, Role::Dispatcher, Role::Customer];

/// Staff see all; a customer only its own customer profile's.
const VISIBLE: &str =
    "($1::uuid IS NULL OR i.customer_id IN (SELECT id FROM customers WHERE user_id = $1))";
const GET: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM invoices i WHERE ",
    VISIBLE,
    " AND i.id = $2"
);
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM invoices i WHERE ",
    VISIBLE,
    " AND ($2::int IS NULL OR (i.year, i.seq) > ($2, $3::bigint))
       AND ($4::uuid IS NULL OR i.rental_id = $4)
       AND ($5::uuid IS NULL OR i.customer_id = $5)
       AND ($6::text IS NULL OR i.status = $6)
       AND ($7::int IS NULL OR i.year = $7)
     ORDER BY i.year, i.seq LIMIT $8"
);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub rental_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub status: Option<InvoiceStatus>,
    /// The year that numbers them, 1..=9999.
    #[schemars(range(min = 1, max = 9999))]
    pub year: Option<i32>,
}

pub fn parse_invoice_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("invoice"))
}

/// Invoice `id` if the caller may see it; 404 otherwise.
pub async fn visible(
    client: &tokio_postgres::Client,
    caller: &Caller,
    id: &str,
) -> Result<Invoice, ApiError> {
    let id = parse_invoice_id(id)?;
    let own = (!caller.is_staff()).then_some(caller.user_id);
    let row = client
        .query_opt(GET, &[&own, &id])
        .await?
        .ok_or_else(|| ApiError::not_found("invoice"))?;
    Ok(assemble(client, &[row])
        .await?
        .pop()
        .expect("one row, one invoice"))
}

async fn get(db: Db, caller: Caller, Path(id): Path<String>) -> Result<Json<Invoice>, ApiError> {
    let client = db.tx().await?;
    visible(&client, &caller, &id).await.map(Json)
}

async fn list(
    db: Db,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Invoice>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let after = match page.after.as_deref() {
        None => None,
        Some(a) => {
            Some(parse_number(a).ok_or_else(|| ApiError::invalid("cursor", "not a cursor"))?)
        }
    };
    if let Some(y) = q.year {
        int_range("year", y.into(), 1, 9999)?;
    }
    let own = (!caller.is_staff()).then_some(caller.user_id);
    let client = db.tx().await?;
    let rows = client
        .query(
            LIST,
            &[
                &own,
                &after.map(|a| a.0),
                &after.map(|a| a.1),
                &q.rental_id,
                &q.customer_id,
                &q.status.map(InvoiceStatus::as_str),
                &q.year,
                &page.fetch(),
            ],
        )
        .await?;
    let items = assemble(&*client, &rows).await?;
    Ok(Json(page.finish(items, |i| i.number.clone())))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::list::<Invoice, ListQuery>(
            "/v1/invoices",
            "List invoices in number order (customers: their own)",
            READERS,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("rental_id", "only this rental's"),
                ("customer_id", "only this customer's"),
                ("status", "issued, paid or void"),
                ("year", "only those numbered in this year"),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<Invoice>(
            "/v1/invoices/{id}",
            "An invoice with its lines, net, tax and total (JSON; printable HTML at \
             /v1/invoices/{id}/html)",
            READERS,
        ),
        get,
    )
}
