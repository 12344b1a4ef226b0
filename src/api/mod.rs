//! The HTTP server's routes: the probes, `GET /openapi.json` and the `/v1` API (auth and
//! roles, the fleet registry, rentals, maintenance and dispatch).
//!
//! # Layout
//! This file is the router: the middleware order and the route table, assembled from each
//! domain's `routes`. Nothing below it imports it back.
//! - The route table's types: [`routes`] (every route is added with its [`routes::RouteDoc`],
//!   so the router and `GET /openapi.json` ([`openapi`]) come from one list).
//! - Shared by every handler: [`state`] (what handlers share), [`error`] (the error envelope),
//!   [`extract`] (JSON and query parsing with 400/422), [`pagination`], [`now`] (the
//!   request's time from the application clock, which rules pass to SQL instead of `now()`).
//! - [`request_id`]: `x-request-id` on every answer; [`middleware`]: the rate limit, one
//!   transaction per request and `Idempotency-Key`s; [`reads`]: the read-heavy routes'
//!   transaction, on the read replica when it is usable.
//! - [`probes`]: `/healthz`, `/readyz` (its database check: [`readiness`]), `/metrics`, and
//!   the 404/405 answers; [`healthcheck`]: `fleetd healthcheck`, the client side of `/healthz`
//!   (a container's probe).
//! - [`serve`]: the accept loop, with connection limits and the header-read timeout.
//! - [`rules`]: rules several domains share: vehicle commitments (the exclusion constraint's
//!   409) and compare-and-set status transitions.
//! - Domains, one folder each, depending one way (`rentals` and `maintenance` on `vehicles`
//!   and `fleet`; everything on `auth`): [`auth`] (tokens, passwords, users, the
//!   [`auth::Caller`] extractor), [`vehicles`] (registry, status, VIN), [`fleet`] (drivers,
//!   assignments, customers), [`rentals`] (pricing, booking, the rental flow, the ledger,
//!   availability), [`invoices`] (numbered invoices, their tax and printable documents),
//!   [`ledger`] (reading the double-entry ledger), [`maintenance`] (jobs and their flow, preventive schedules and what is due), [`dispatch`] (dispatch jobs, live
//!   positions and nearest drivers, the Server-Sent Events stream), [`webhooks`] (event
//!   subscriptions, their deliveries and replay), [`geofences`], [`locations`] (depots, cities
//!   and custom points where rentals start and end), [`alerts`] (alert rules and alerts).

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod dispatch;
pub mod error;
pub mod extract;
pub mod fleet;
pub mod geofences;
pub mod healthcheck;
pub mod invoices;
pub mod ledger;
pub mod locations;
pub mod maintenance;
pub mod middleware;
pub mod now;
pub mod openapi;
pub mod pagination;
pub mod probes;
pub mod readiness;
pub mod reads;
pub mod rentals;
pub mod reports;
pub mod request_id;
pub mod routes;
pub mod rules;
pub mod serve;
pub mod state;
pub mod stream;
pub mod trips;
pub mod vehicles;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;

pub use auth::Role;
pub use error::ApiError;
pub use state::{ApiState, AppState};

use routes::{RouteDoc, Routes};

/// The whole router: the probes and `GET /openapi.json` outside the API's middleware, the
/// `/v1` API behind it, request ids on everything, the 404/405 envelopes, the body limit.
/// `/readyz` and `/metrics` only when `with_internal` (no `http.internal_addr`). `site`: the
/// console's and Swagger UI's static files ([`crate::web::router`]), outside the API's
/// middleware like the probes.
pub fn router(
    state: Arc<AppState>,
    max_body_bytes: usize,
    with_internal: bool,
    site: Router<Arc<AppState>>,
) -> Router {
    let outside = probes::unversioned(Routes::new(), with_internal);
    let (api, api_docs) = table();
    let mut document = openapi::document(&all_docs(&outside, &api_docs));
    openapi::limit_radius(&mut document, state.dispatch.config.max_radius_m);
    let document = Arc::new(document);
    let outside = outside.add(openapi::ROUTE, move || {
        let document = document.clone();
        async move { axum::Json((*document).clone()) }
    });
    // Layers run outermost last-added: the rate limit answers 429 before a transaction or an
    // idempotency claim costs anything.
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::transaction,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::rate_limit::layer,
        ));
    outside
        .router
        .merge(api)
        .merge(site)
        .fallback(probes::not_found)
        .method_not_allowed_fallback(probes::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}

/// `http.internal_addr`'s router: `/healthz`, `/readyz` and `/metrics`, nothing else.
pub fn internal_router(state: Arc<AppState>) -> Router {
    let probes = probes::internal(probes::unversioned(Routes::new(), false));
    probes
        .router
        .fallback(probes::not_found)
        .method_not_allowed_fallback(probes::method_not_allowed)
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}

/// Every `/v1` route with its documentation, in one table.
pub fn table() -> (Router<Arc<AppState>>, Vec<RouteDoc>) {
    let r = auth::routes(Routes::new());
    let r = vehicles::routes(r);
    let r = fleet::routes(r);
    let r = rentals::routes(r);
    let r = invoices::routes(r);
    let r = ledger::routes(r);
    let r = maintenance::routes(r);
    let r = dispatch::routes(r);
    let r = stream::routes(r);
    let r = trips::routes(r);
    let r = locations::routes(r);
    let r = reports::routes(r);
    let r = audit::routes::routes(r);
    let r = webhooks::routes(r);
    let r = geofences::routes(r);
    let r = alerts::routes(r);
    (r.router, r.docs)
}

/// The answer for a console or Swagger UI path that names no file (the API's 404 envelope).
pub fn file_not_found() -> axum::response::Response {
    use axum::response::IntoResponse;
    ApiError::not_found("file").into_response()
}

/// What `GET /openapi.json` documents: `outside` (routes served without the API's
/// middleware, like `/healthz`), the document itself and the `/v1` table.
pub fn all_docs(outside: &Routes, api: &[RouteDoc]) -> Vec<RouteDoc> {
    let mut docs = outside.docs.clone();
    docs.push(openapi::ROUTE);
    docs.extend_from_slice(api);
    docs
}
