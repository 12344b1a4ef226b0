//! Users: admins create, change and disable them; everyone may read their own and change
//! their own password. A change of role, password or active flag revokes the user's tokens
//! (a trigger bumps `token_version`; see [`crate::api::auth::accounts`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::login::{username_ok, USERNAME_PATTERN};
use crate::api::auth::password::{hash_password, verify_password};
use crate::api::auth::{Caller, Role, ADMIN, ANY};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{ApiJson, ApiQuery, NO_NUL_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged, PARAMS};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;
use crate::events;

/// A user (never its password hash).
#[derive(Debug, Serialize, JsonSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// A disabled user can neither log in nor use a token.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// `PATCH /v1/users/{id}` body (admins).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// Not for a user with a driver or customer profile (the profile needs its role).
    pub role: Option<Role>,
    /// `false` disables the user: no login, every token refused, and a driver is taken off
    /// duty when available.
    pub active: Option<bool>,
}

/// `POST /v1/users/{id}/password` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// 8-1024 characters, no NUL.
    #[schemars(length(min = 8, max = 1024), regex(pattern = NO_NUL_PATTERN))]
    pub password: String,
    /// Required when users change their own password (admins changing another's need not).
    #[schemars(length(max = 1024))]
    pub current_password: Option<String>,
}

/// `POST /v1/users` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1-64 characters of `[A-Za-z0-9._@-]`.
    #[schemars(regex(pattern = USERNAME_PATTERN))]
    pub username: String,
    /// 8-1024 characters, no NUL.
    #[schemars(length(min = 8, max = 1024), regex(pattern = NO_NUL_PATTERN))]
    pub password: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const COLUMNS: &str = "id, username, role, active, created_at";
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
/// Every active admin, locked in id order (so concurrent changes queue rather than deadlock).
const ACTIVE_ADMINS: &str =
    "SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE";
const HAS_PROFILE: &str = "SELECT EXISTS (SELECT 1 FROM drivers WHERE user_id = $1)
                               OR EXISTS (SELECT 1 FROM customers WHERE user_id = $1)";
const UPDATE: &str = concatcp!(
    "UPDATE users SET role = coalesce($2, role), active = coalesce($3, active)
     WHERE id = $1 RETURNING ",
    COLUMNS
);
/// A disabled driver is offered no more jobs.
const OFF_DUTY: &str = "UPDATE drivers SET duty_status = 'off_duty', updated_at = now()
                        WHERE user_id = $1 AND duty_status = 'available' RETURNING id";
const PASSWORD_HASH: &str = "SELECT password_hash FROM users WHERE id = $1";
const SET_PASSWORD: &str = "UPDATE users SET password_hash = $2 WHERE id = $1";

fn from_row(row: &tokio_postgres::Row) -> Result<User, ApiError> {
    let role: String = row.get("role");
    Ok(User {
        id: row.get("id"),
        username: row.get("username"),
        role: Role::parse(&role).ok_or_else(|| ApiError::internal("unknown role"))?,
        active: row.get("active"),
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
    password_ok(&req.password)?;
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

fn password_ok(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if !(8..=1024).contains(&len) {
        return Err(ApiError::invalid("password", "8-1024 characters"));
    }
    if password.contains('\0') {
        return Err(ApiError::invalid(
            "password",
            "must not contain NUL (U+0000)",
        ));
    }
    Ok(())
}

async fn update(
    _: Caller,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateUser>,
) -> Result<Json<User>, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("user"))?;
    let tx = db.tx().await?;
    let current = tx
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let current = from_row(&current)?;
    if req.role.is_some_and(|r| r != current.role)
        && tx.query_one(HAS_PROFILE, &[&id]).await?.get::<_, bool>(0)
    {
        return Err(ApiError::invalid(
            "role",
            "the user has a driver or customer profile, which needs its role",
        ));
    }
    let stays_admin =
        req.role.unwrap_or(current.role) == Role::Admin && req.active.unwrap_or(current.active);
    if current.role == Role::Admin && current.active && !stays_admin {
        let admins = tx.query(ACTIVE_ADMINS, &[]).await?;
        if admins.iter().all(|r| r.get::<_, Uuid>(0) == id) {
            return Err(ApiError::new(
                ErrorCode::LastAdmin,
                "this is the last active admin; make another admin first",
            ));
        }
    }
    let row = tx
        .query_opt(UPDATE, &[&id, &req.role.map(Role::as_str), &req.active])
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if req.active == Some(false) {
        for driver in tx.query(OFF_DUTY, &[&id]).await? {
            events::duty_changed(&*tx, driver.get(0), "available", "off_duty").await?;
        }
    }
    from_row(&row).map(Json)
}

/// Admins set anyone's password; users set their own, giving the current one. Every token of
/// the user is revoked (the caller's own too, when it is theirs: log in again).
async fn set_password(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SetPassword>,
) -> Result<StatusCode, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("user"))?;
    if caller.role != Role::Admin && caller.user_id != id {
        return Err(ApiError::not_found("user"));
    }
    password_ok(&req.password)?;
    if req
        .current_password
        .as_ref()
        .is_some_and(|p| p.chars().count() > 1024)
    {
        return Err(ApiError::invalid(
            "current_password",
            "at most 1024 characters",
        ));
    }
    let check_current = caller.role != Role::Admin;
    if check_current && req.current_password.is_none() {
        return Err(ApiError::invalid("current_password", "required"));
    }
    let tx = db.tx().await?;
    let stored: String = tx
        .query_opt(PASSWORD_HASH, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?
        .get(0);
    let hash = {
        let _slot = state.api.hashing_slot().await?;
        if let Some(current) = req.current_password.filter(|_| check_current) {
            if !verify_password(current, Some(stored)).await {
                return Err(ApiError::invalid("current_password", "does not match"));
            }
        }
        hash_password(req.password)
            .await
            .map_err(ApiError::internal)?
    };
    tx.execute(SET_PASSWORD, &[&id, &hash]).await?;
    Ok(StatusCode::NO_CONTENT)
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
    .add(
        RouteDoc::change::<UpdateUser, User>(
            "PATCH",
            "/v1/users/{id}",
            "Change a user's role or disable/enable them (revokes their tokens)",
            ADMIN,
        )
        .conflicts(&[ErrorCode::LastAdmin]),
        update,
    )
    .add(
        RouteDoc {
            request: Some(|g| g.subschema_for::<SetPassword>()),
            success: 204,
            errors: &[400, 404, 413, 422],
            ..RouteDoc::new(
                "POST",
                "/v1/users/{id}/password",
                "Set a password (admins: anyone's; users: their own, with the current one); \
                 revokes the user's tokens",
                ANY,
            )
        },
        set_password,
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
