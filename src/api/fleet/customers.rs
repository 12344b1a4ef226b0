//! Customers: who rents. A customer may be linked to a user with role `customer`, who then
//! sees only their own profile and rentals.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{Caller, Role, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{email, text, ApiJson, ApiQuery, EMAIL_PATTERN, TEXT_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged, PARAMS};
use crate::api::routes::{RouteDoc, Routes};

/// A customer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Customer {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub name: String,
    pub email: String,
    /// `false`: may reserve nothing new; existing rentals run on.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// `PATCH /v1/customers/{id}` body: the fields to change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    #[schemars(length(max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: Option<String>,
    /// Holds an `@` and, once trimmed, no whitespace.
    #[schemars(length(max = 254), regex(pattern = EMAIL_PATTERN))]
    pub email: Option<String>,
    /// `false` deactivates the customer: no new reservations (theirs or by staff for them).
    pub active: Option<bool>,
}

/// `POST /v1/customers` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    #[schemars(length(max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: String,
    /// Holds an `@` and, once trimmed, no whitespace.
    #[schemars(length(max = 254), regex(pattern = EMAIL_PATTERN))]
    pub email: String,
    /// A user with role `customer` who will see this customer's rentals.
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const COLUMNS: &str = "id, user_id, name, email, active, created_at";
const OWN: &str = "SELECT id FROM customers WHERE user_id = $1";
const CUSTOMER_USER: &str = "SELECT 1 FROM users WHERE id = $1 AND role = 'customer'";
const INSERT: &str = concatcp!(
    "INSERT INTO customers (id, user_id, name, email) VALUES ($1, $2, $3, $4) RETURNING ",
    COLUMNS
);
/// A page after `$1`; `$2`: only this user's.
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM customers WHERE ($1::uuid IS NULL OR id > $1)
       AND ($2::uuid IS NULL OR user_id = $2)
     ORDER BY id LIMIT $3"
);
const GET_VISIBLE: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM customers WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)"
);
const UPDATE: &str = concatcp!(
    "UPDATE customers SET name = coalesce($2, name), email = coalesce($3, email),
                          active = coalesce($4, active)
     WHERE id = $1 RETURNING ",
    COLUMNS
);
/// Whether customer `$1` may reserve, locked against deactivation until the reservation
/// commits.
const ACTIVE: &str = "SELECT active FROM customers WHERE id = $1 FOR SHARE";
const CAN_SEE: &[Role] = &[Role::Admin, Role::Dispatcher, Role::Customer];

fn from_row(row: &tokio_postgres::Row) -> Customer {
    Customer {
        id: row.get("id"),
        user_id: row.get("user_id"),
        name: row.get("name"),
        email: row.get("email"),
        active: row.get("active"),
        created_at: row.get("created_at"),
    }
}

/// The customer profile of a `customer` caller (403 when it has none).
pub async fn own_customer(
    client: &tokio_postgres::Client,
    caller: &Caller,
) -> Result<Uuid, ApiError> {
    client
        .query_opt(OWN, &[&caller.user_id])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| ApiError::forbidden("this user has no customer profile"))
}

/// 422 unless customer `id` exists and is active (403 for a customer reserving for their
/// own deactivated profile).
pub async fn check_active(
    client: &tokio_postgres::Client,
    caller: &Caller,
    id: Uuid,
) -> Result<(), ApiError> {
    match client.query_opt(ACTIVE, &[&id]).await?.map(|r| r.get(0)) {
        None => Err(ApiError::invalid("customer_id", "no such customer")),
        Some(true) => Ok(()),
        Some(false) if caller.is_staff() => Err(ApiError::invalid(
            "customer_id",
            "the customer is deactivated",
        )),
        Some(false) => Err(ApiError::forbidden("this customer profile is deactivated")),
    }
}

async fn create(
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreateCustomer>,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    let name = text("name", &req.name, 200)?;
    let email = email("email", &req.email)?;
    let tx = db.tx().await?;
    if let Some(user) = req.user_id {
        tx.query_opt(CUSTOMER_USER, &[&user])
            .await?
            .ok_or_else(|| {
                ApiError::invalid("user_id", "no user with role customer has this id")
            })?;
    }
    let row = tx
        .query_one(INSERT, &[&Uuid::new_v4(), &req.user_id, &name, &email])
        .await?;
    Ok((StatusCode::CREATED, Json(from_row(&row))))
}

async fn list(
    db: Db,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Customer>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let own = (!caller.is_staff()).then_some(caller.user_id);
    let client = db.tx().await?;
    let rows = client
        .query(LIST, &[&page.after_uuid()?, &own, &page.fetch()])
        .await?;
    let items: Vec<Customer> = rows.iter().map(from_row).collect();
    Ok(Json(page.finish(items, |c| c.id.to_string())))
}

async fn get(db: Db, caller: Caller, Path(id): Path<String>) -> Result<Json<Customer>, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("customer"))?;
    let own = (!caller.is_staff()).then_some(caller.user_id);
    let client = db.tx().await?;
    let row = client
        .query_opt(GET_VISIBLE, &[&id, &own])
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Json(from_row(&row)))
}

async fn update(
    _: Caller,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateCustomer>,
) -> Result<Json<Customer>, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("customer"))?;
    let name = req
        .name
        .as_deref()
        .map(|n| text("name", n, 200))
        .transpose()?;
    let email = req
        .email
        .as_deref()
        .map(|e| email("email", e))
        .transpose()?;
    let row = db
        .tx()
        .await?
        .query_opt(UPDATE, &[&id, &name, &email, &req.active])
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Json(from_row(&row)))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::create::<CreateCustomer, Customer>("/v1/customers", "Create a customer", STAFF)
            .conflicts(&[ErrorCode::AlreadyExists]),
        create,
    )
    .add(
        RouteDoc::list::<Customer, ListQuery>(
            "/v1/customers",
            "List customers (a customer sees only itself)",
            CAN_SEE,
            PARAMS,
        ),
        list,
    )
    .add(
        RouteDoc::read::<Customer>("/v1/customers/{id}", "A customer", CAN_SEE),
        get,
    )
    .add(
        RouteDoc::change::<UpdateCustomer, Customer>(
            "PATCH",
            "/v1/customers/{id}",
            "Change a customer's name or email, or (de)activate them (a deactivated customer \
             reserves nothing new; their rentals run on)",
            STAFF,
        ),
        update,
    )
}
