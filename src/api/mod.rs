//! The `/v1` HTTP API: auth and roles, the fleet registry, commitments, rentals and
//! maintenance.
//!
//! # Layout
//! - [`routes`]: the route table. Every route is added together with its documentation
//!   ([`RouteDoc`]), so the router and `GET /openapi.json` ([`openapi`]) come from one list.
//! - Cross-cutting: [`auth`] (tokens, passwords, the [`auth::Caller`] extractor),
//!   [`extract`] (JSON and query parsing with 400/422), [`pagination`], [`txn`] (one
//!   transaction per request), [`idempotency`] and [`rate_limit`] (middleware),
//!   [`commitments`] (the exclusion constraint's 409), [`cas`] (compare-and-set transitions).
//! - Resources, one file each: [`users`], [`vehicles`] (+ [`vin`], [`vehicle_state`]), [`drivers`],
//!   [`assignments`], [`customers`], [`pricing`] (plans and the pure quote), [`rentals`]
//!   (+ [`rental_flow`], [`rental_ledger`], [`availability`]), [`maintenance`]
//!   (+ [`maintenance_flow`]).
//! - Dispatch over HTTP: [`jobs`] (dispatch jobs and their transitions), [`positions`] (live
//!   position, nearest drivers, stored track) and [`stream`] (Server-Sent Events).

pub mod assignments;
pub mod auth;
pub mod availability;
pub mod cas;
pub mod commitments;
pub mod customers;
pub mod drivers;
pub mod extract;
pub mod idempotency;
pub mod jobs;
pub mod maintenance;
pub mod maintenance_flow;
pub mod openapi;
pub mod pagination;
pub mod positions;
pub mod pricing;
pub mod rate_limit;
pub mod rental_flow;
pub mod rental_ledger;
pub mod rentals;
pub mod stream;
pub mod txn;
pub mod users;
pub mod vehicle_state;
pub mod vehicles;
pub mod vin;

use std::sync::Arc;

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use schemars::{Schema, SchemaGenerator};

use crate::config::Config;
use crate::http::AppState;

pub use auth::Role;

/// What the API needs besides the database pool.
pub struct ApiState {
    /// Token signing key; `None` when `jwt.secret` is empty (the `/v1` API answers 503).
    pub jwt: Option<auth::Keys>,
    /// Token lifetime.
    pub ttl_s: u64,
    /// Per-client request budget.
    pub limiter: rate_limit::Limiter,
    /// Largest request body (the idempotency layer buffers bodies itself).
    pub max_body_bytes: usize,
}

impl ApiState {
    pub fn from_config(config: &Config) -> ApiState {
        let secret = config.jwt.secret.expose();
        ApiState {
            jwt: (!secret.is_empty()).then(|| auth::Keys::new(secret.as_bytes())),
            ttl_s: config.jwt.ttl_s,
            limiter: rate_limit::Limiter::new(
                config.http.rate_limit_per_minute,
                config.http.rate_limit_burst,
            ),
            max_body_bytes: config.http.max_body_bytes,
        }
    }
}

/// Builds a request or response schema for the OpenAPI document.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One route as documented in `GET /openapi.json`.
#[derive(Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    /// axum path syntax, which is also OpenAPI's (`/v1/vehicles/{id}`).
    pub path: &'static str,
    pub summary: &'static str,
    /// Roles allowed; empty means no token is needed.
    pub roles: &'static [Role],
    /// Query parameters a request must carry: name and description. Documented as
    /// `required: true`, before the optional ones; declare a parameter here or in
    /// [`RouteDoc::query`], never both.
    pub required_query: &'static [(&'static str, &'static str)],
    /// Optional query parameters: name and description.
    pub query: &'static [(&'static str, &'static str)],
    pub request: Option<SchemaFn>,
    pub response: Option<SchemaFn>,
    /// Media type of the success response (`application/json` unless a route streams).
    pub content_type: &'static str,
    pub success: u16,
    /// Error statuses this route can answer (besides 401/403/429, added for authed routes).
    pub errors: &'static [u16],
}

impl RouteDoc {
    /// A route with no body, no query parameters and a 200 answer, to be refined.
    pub const fn new(
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        roles: &'static [Role],
    ) -> RouteDoc {
        RouteDoc {
            method,
            path,
            summary,
            roles,
            required_query: &[],
            query: &[],
            request: None,
            response: None,
            content_type: "application/json",
            success: 200,
            errors: &[],
        }
    }
}

/// The schema of `T`, for [`RouteDoc::request`] and [`RouteDoc::response`].
pub fn schema<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The shapes most routes have.
impl RouteDoc {
    /// `POST` creating a resource: 201 with it.
    pub fn create<Req: schemars::JsonSchema, Resp: schemars::JsonSchema>(
        path: &'static str,
        summary: &'static str,
        roles: &'static [Role],
    ) -> RouteDoc {
        RouteDoc {
            request: Some(schema::<Req>),
            response: Some(schema::<Resp>),
            success: 201,
            errors: &[400, 409, 413, 422],
            ..RouteDoc::new("POST", path, summary, roles)
        }
    }

    /// `GET` of one resource by id.
    pub fn read<Resp: schemars::JsonSchema>(
        path: &'static str,
        summary: &'static str,
        roles: &'static [Role],
    ) -> RouteDoc {
        RouteDoc {
            response: Some(schema::<Resp>),
            errors: &[404],
            ..RouteDoc::new("GET", path, summary, roles)
        }
    }

    /// `GET` of a page of `Item`s.
    pub fn list<Item: schemars::JsonSchema>(
        path: &'static str,
        summary: &'static str,
        roles: &'static [Role],
        query: &'static [(&'static str, &'static str)],
    ) -> RouteDoc {
        RouteDoc {
            query,
            response: Some(schema::<pagination::Paged<Item>>),
            errors: &[422],
            ..RouteDoc::new("GET", path, summary, roles)
        }
    }

    /// `POST` without a body moving a resource on (a state transition).
    pub fn step<Resp: schemars::JsonSchema>(
        path: &'static str,
        summary: &'static str,
        roles: &'static [Role],
    ) -> RouteDoc {
        RouteDoc {
            response: Some(schema::<Resp>),
            errors: &[404, 409],
            ..RouteDoc::new("POST", path, summary, roles)
        }
    }

    /// `method` with a body changing an existing resource.
    pub fn change<Req: schemars::JsonSchema, Resp: schemars::JsonSchema>(
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        roles: &'static [Role],
    ) -> RouteDoc {
        RouteDoc {
            request: Some(schema::<Req>),
            response: Some(schema::<Resp>),
            errors: &[400, 404, 409, 413, 422],
            ..RouteDoc::new(method, path, summary, roles)
        }
    }
}

/// The route table under construction: each `add` registers a handler and its doc.
pub struct Routes {
    router: Router<Arc<AppState>>,
    docs: Vec<RouteDoc>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            docs: Vec::new(),
        }
    }

    pub fn add<H, T>(mut self, doc: RouteDoc, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let filter = match doc.method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PATCH" => MethodFilter::PATCH,
            "PUT" => MethodFilter::PUT,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("unsupported method {other} in the route table"),
        };
        // The documented roles are the enforced ones: `auth::Caller` reads them from the
        // request, so 401/403 come before any body is parsed.
        let route = on(filter, handler).layer(axum::Extension(auth::Allowed(doc.roles)));
        self.router = self.router.route(doc.path, route);
        self.docs.push(doc);
        self
    }
}

/// Every API route with its documentation, in one table.
pub fn routes() -> (Router<Arc<AppState>>, Vec<RouteDoc>) {
    let r = auth::routes(Routes::new());
    let r = users::routes(r);
    let r = vehicles::routes(r);
    let r = vehicle_state::routes(r);
    let r = drivers::routes(r);
    let r = assignments::routes(r);
    let r = customers::routes(r);
    let r = pricing::routes(r);
    let r = rentals::routes(r);
    let r = maintenance::routes(r);
    let r = maintenance_flow::routes(r);
    let r = availability::routes(r);
    let r = positions::routes(r);
    let r = jobs::routes(r);
    let r = stream::routes(r);
    (r.router, r.docs)
}

/// What `GET /openapi.json` documents: `outside` (routes served without the API's
/// middleware, like `/healthz`), the document itself and the `/v1` table.
pub fn all_docs(outside: &Routes, api: &[RouteDoc]) -> Vec<RouteDoc> {
    let mut docs = outside.docs.clone();
    docs.push(openapi::ROUTE);
    docs.extend_from_slice(api);
    docs
}

/// The whole router: `outside` as given, `GET /openapi.json`, and the API with its
/// middleware (rate limit outside idempotency). The document is built from the
/// same tables the routes come from, so nothing is served undocumented.
pub fn router(state: Arc<AppState>, outside: Routes) -> Router<Arc<AppState>> {
    let (api, api_docs) = routes();
    let document = Arc::new(openapi::document(&all_docs(&outside, &api_docs)));
    let outside = outside.add(openapi::ROUTE, move || {
        let document = document.clone();
        async move { axum::Json((*document).clone()) }
    });
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            txn::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state,
            rate_limit::layer,
        ));
    outside.router.merge(api)
}
