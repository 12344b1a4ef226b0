//! Trackers' broker accounts: `POST /v1/vehicles/{id}/tracker-credentials` issues (or
//! rotates) the account a vehicle's tracker connects with, `GET` tells whether it has one,
//! `DELETE` revokes it. Decommissioning or deleting a vehicle revokes it too ([`revoke`]).
//!
//! The broker holds the account (and only a hash of its password); `tracker_credentials`
//! records which vehicles have one. The broker is changed first, inside the request's
//! transaction with the vehicle's row locked: if the broker cannot be reached nothing
//! changes (503 `broker_unavailable`); if the transaction fails afterwards, the broker holds
//! an account nobody was told the password of, which the next issue or revocation replaces.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;
use crate::broker::{self, BrokerError};

const LOCK_VEHICLE: &str =
    "SELECT status FROM vehicles WHERE id = $1 AND deleted_at IS NULL FOR UPDATE";
const UPSERT: &str = "INSERT INTO tracker_credentials (vehicle_id, username, created_at, issued_at)
                      VALUES ($1, $2, $3, $3)
                      ON CONFLICT (vehicle_id) DO UPDATE
                      SET username = EXCLUDED.username, issued_at = EXCLUDED.issued_at,
                          rotations = tracker_credentials.rotations + 1
                      RETURNING created_at, issued_at, rotations";
const GET: &str = "SELECT username, created_at, issued_at, rotations
                   FROM tracker_credentials WHERE vehicle_id = $1";
const DELETE: &str = "DELETE FROM tracker_credentials WHERE vehicle_id = $1 RETURNING 1";

/// A tracker's account, without its password.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TrackerCredentials {
    pub vehicle_id: String,
    /// MQTT username: `tracker-{vehicle_id}`.
    pub username: String,
    /// The client id the tracker must connect with (the broker refuses any other).
    pub client_id: String,
    /// Topics the tracker may publish to (`{prefix}/{vehicle_id}/gps` and `/obd`); it may
    /// subscribe to nothing.
    pub topics: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// When the current password was issued.
    pub issued_at: DateTime<Utc>,
    /// Rotations since the account was created.
    pub rotations: i32,
}

/// The account as issued: shown once, never stored by fleetd.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IssuedCredentials {
    #[serde(flatten)]
    pub account: TrackerCredentials,
    /// The MQTT password (43 characters). Issuing again rotates it: the old one stops
    /// working and a tracker connected with it is disconnected.
    pub password: String,
}

fn describe(
    prefix: &str,
    id: &str,
    username: String,
    row: &tokio_postgres::Row,
    offset: usize,
) -> TrackerCredentials {
    TrackerCredentials {
        vehicle_id: id.to_string(),
        client_id: username.clone(),
        username,
        topics: vec![format!("{prefix}/{id}/gps"), format!("{prefix}/{id}/obd")],
        created_at: row.get(offset),
        issued_at: row.get(offset + 1),
        rotations: row.get(offset + 2),
    }
}

fn admin(state: &AppState) -> Result<&broker::Admin, ApiError> {
    state.api.broker.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::BrokerUnavailable,
            "broker account administration is not configured (broker.admin_username)",
        )
    })
}

fn broker_error(error: BrokerError) -> ApiError {
    tracing::warn!(%error, "broker administration failed");
    match error {
        BrokerError::Unavailable(why) => ApiError::new(ErrorCode::BrokerUnavailable, why),
        BrokerError::Refused { command, error } => ApiError::new(
            ErrorCode::BrokerUnavailable,
            format!("the broker refused {command}: {error}"),
        ),
    }
}

/// Locks the vehicle's row; 404 when it does not exist, 409 when it is decommissioned.
async fn lock_in_service(tx: &tokio_postgres::Client, id: &str) -> Result<(), ApiError> {
    let row = tx
        .query_opt(LOCK_VEHICLE, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("vehicle"))?;
    let status: String = row.get(0);
    if status == "decommissioned" {
        return Err(ApiError::new(
            ErrorCode::VehicleDecommissioned,
            format!("vehicle {id} is decommissioned"),
        ));
    }
    Ok(())
}

async fn issue(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    Now(now): Now,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tx = db.tx().await?;
    lock_in_service(&tx, &id).await?;
    let admin = admin(&state)?;
    let prefix = &state.api.topic_prefix;
    let account = broker::issue_tracker(admin, prefix, &id)
        .await
        .map_err(broker_error)?;
    let row = tx
        .query_one(UPSERT, &[&id, &account.username, &now])
        .await?;
    let body = IssuedCredentials {
        account: describe(prefix, &id, account.username, &row, 0),
        password: account.password,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    // A credential: never to be kept by a browser or proxy cache.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

async fn read(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<TrackerCredentials>, ApiError> {
    let tx = db.tx().await?;
    let row = tx
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("tracker credentials"))?;
    let username: String = row.get(0);
    Ok(Json(describe(
        &state.api.topic_prefix,
        &id,
        username,
        &row,
        1,
    )))
}

async fn delete(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tx = db.tx().await?;
    tx.query_opt(LOCK_VEHICLE, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("vehicle"))?;
    // Revoked at the broker whether or not a row says so: a failed issue may have left one.
    broker::revoke_tracker(admin(&state)?, &id)
        .await
        .map_err(broker_error)?;
    tx.execute(DELETE, &[&id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes `id`'s tracker account, if it has one, inside `tx` (the vehicle's row locked by
/// the caller): for decommissioning and deleting a vehicle. 503 when it has one and the
/// broker cannot be reached, so the vehicle is not retired with a working tracker.
pub async fn revoke(
    state: &AppState,
    tx: &tokio_postgres::Client,
    id: &str,
) -> Result<(), ApiError> {
    if tx.query_opt(DELETE, &[&id]).await?.is_some() {
        broker::revoke_tracker(admin(state)?, id)
            .await
            .map_err(broker_error)?;
    }
    Ok(())
}

pub fn routes(r: Routes) -> Routes {
    const PATH: &str = "/v1/vehicles/{id}/tracker-credentials";
    r.add(
        RouteDoc {
            success: 201,
            ..RouteDoc::step::<IssuedCredentials>(
                PATH,
                "Issue the vehicle's tracker account at the MQTT broker, or rotate its \
                 password (the old one stops working at once and a tracker connected with it \
                 is disconnected). The password is in this answer only (`Cache-Control: \
                 no-store`, never stored for Idempotency-Key replays). The tracker connects \
                 with the username as client id and may publish to its own topics only. 409 \
                 vehicle_decommissioned; 503 broker_unavailable when account administration \
                 is not configured or the broker does not answer (nothing changed).",
                STAFF,
            )
        }
        .conflicts(&[ErrorCode::VehicleDecommissioned]),
        issue,
    )
    .add(
        RouteDoc::read::<TrackerCredentials>(
            PATH,
            "Whether the vehicle's tracker has an account, and when its password was issued \
             (never the password)",
            STAFF,
        ),
        read,
    )
    .add(
        RouteDoc::delete(
            PATH,
            "Revoke the vehicle's tracker account: the broker disconnects the tracker and \
                 refuses it from now on. Idempotent (204 whether or not it had one); 503 \
                 broker_unavailable as for issuing.",
            STAFF,
        ),
        delete,
    )
}
