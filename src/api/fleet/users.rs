//! Users: admins create them; everyone may read their own.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::password::hash_password;
use crate::api::auth::{Caller, Role, ADMIN, ANY};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged, PARAMS};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;

/// A user (never its password hash).
#[derive(Debug, Serialize, JsonSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/users` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1-64 characters of `[A-Za-z0-9._@-]`.
    #[schemars(regex(pattern = USERNAME_PATTERN))]
    pub username: String,
    /// 8-1024 characters.
    #[schemars(length(min = 8, max = 1024))]
    pub password: String,
    pub role: Role,
}

/// What [`username_ok`] accepts.
const USERNAME_PATTERN: &str = r"^[A-Za-z0-9._@-]{1,64}$";

/// 1-64 characters of `[A-Za-z0-9._@-]`.
fn username_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const COLUMNS: &str = "id, username, role, created_at";
const INSERT: &str = concatcp!(
    "INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, $4) RETURNING ",
    COLUMNS
);
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM users WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
);
const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM users WHERE id = $1");

fn from_row(row: &tokio_postgres::Row) -> Result<User, ApiError> {
    let role: String = row.get("role");
    Ok(User {
        id: row.get("id"),
        username: row.get("username"),
        role: Role::parse(&role).ok_or_else(|| ApiError::internal("unknown role"))?,
        created_at: row.get("created_at"),
    })
}

async fn create(
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    if !username_ok(&req.username) {
        return Err(ApiError::invalid(
            "username",
            "1-64 characters of [A-Za-z0-9._@-]",
        ));
    }
    let len = req.password.chars().count();
    if !(8..=1024).contains(&len) {
        return Err(ApiError::invalid("password", "8-1024 characters"));
    }
    let hash = hash_password(req.password)
        .await
        .map_err(ApiError::internal)?;
    let row = db
        .tx()
        .await?
        .query_one(
            INSERT,
            &[&Uuid::new_v4(), &req.username, &hash, &req.role.as_str()],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(from_row(&row)?)))
}

async fn list(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<User>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let client = state.pool.get().await?;
    let rows = client
        .query(LIST, &[&page.after_uuid()?, &page.fetch()])
        .await?;
    let users = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(page.finish(users, |u| u.id.to_string())))
}

async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("user"))?;
    if caller.role != Role::Admin && caller.user_id != id {
        return Err(ApiError::not_found("user"));
    }
    fetch(&state, id).await.map(Json)
}

async fn me(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<User>, ApiError> {
    fetch(&state, caller.user_id).await.map(Json)
}

async fn fetch(state: &AppState, id: Uuid) -> Result<User, ApiError> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    from_row(&row)
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::create::<CreateUser, User>("/v1/users", "Create a user", ADMIN)
            .conflicts(&[ErrorCode::AlreadyExists]),
        create,
    )
    .add(
        RouteDoc::list::<User, ListQuery>("/v1/users", "List users", ADMIN, PARAMS),
        list,
    )
    .add(
        RouteDoc::read::<User>("/v1/users/{id}", "A user (admins, or the user itself)", ANY),
        get,
    )
    .add(
        RouteDoc {
            errors: &[],
            ..RouteDoc::read::<User>("/v1/me", "The caller's own user", ANY)
        },
        me,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_username_pattern_is_the_username_rule() {
        let re = regex::Regex::new(USERNAME_PATTERN).unwrap();
        let mut cases: Vec<String> = ["", "a", "admin@example.org", "a b", "a\n", "é", "a+b"]
            .map(String::from)
            .to_vec();
        cases.extend(["x".repeat(64), "x".repeat(65)]);
        cases.extend((0u8..=127).map(|b| format!("u{}", b as char)));
        for s in cases {
            assert_eq!(re.is_match(&s), username_ok(&s), "{s:?}");
        }
    }
}
