//! The route table's types: every route is added together with its documentation
//! ([`RouteDoc`]), so the router and `GET /openapi.json` come from one list.

use std::sync::Arc;

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use schemars::{Schema, SchemaGenerator};

use super::auth::caller::Allowed;
use super::auth::roles::Role;
use super::error::ErrorCode;
use super::pagination;
use super::state::AppState;

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
    /// The type the handler parses the query into ([`params`]): each parameter is documented
    /// with its property's schema (type, range, enum, format), so the document and the parser
    /// agree. Every parameter named above must be one of its properties.
    pub params: Option<SchemaFn>,
    pub request: Option<SchemaFn>,
    /// The request body may be left out (an empty body reads as its defaults).
    pub optional_body: bool,
    pub response: Option<SchemaFn>,
    /// Media type of the success response (`application/json` unless a route streams).
    pub content_type: &'static str,
    pub success: u16,
    /// Error statuses this route can answer (besides 401/403/429/503, added for authed
    /// routes, and 409/422 for authed `POST`s: see `openapi::codes`).
    pub errors: &'static [u16],
    /// The 409 codes this route can answer beyond the ones every write can
    /// (`concurrent_update`, `idempotency_in_progress`); any makes 409 documented.
    pub conflicts: &'static [ErrorCode],
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
            params: None,
            request: None,
            optional_body: false,
            response: None,
            content_type: "application/json",
            success: 200,
            errors: &[],
            conflicts: &[],
        }
    }

    /// The same route answering 409 with `codes` (see [`RouteDoc::conflicts`]).
    pub const fn conflicts(mut self, codes: &'static [ErrorCode]) -> RouteDoc {
        self.conflicts = codes;
        self
    }
}

/// The schema of `T`, for [`RouteDoc::request`] and [`RouteDoc::response`].
pub fn schema<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The inline object schema of a query type `T`, for [`RouteDoc::params`].
pub fn params<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    T::json_schema(g)
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
            errors: &[400, 413, 422],
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

    /// `GET` of a page of `Item`s, its query parsed into `Q`.
    pub fn list<Item: schemars::JsonSchema, Q: schemars::JsonSchema>(
        path: &'static str,
        summary: &'static str,
        roles: &'static [Role],
        query: &'static [(&'static str, &'static str)],
    ) -> RouteDoc {
        RouteDoc {
            query,
            params: Some(params::<Q>),
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
            errors: &[404],
            ..RouteDoc::new("POST", path, summary, roles)
        }
    }

    /// `DELETE` of one resource by id: 204, or 404.
    pub fn delete(path: &'static str, summary: &'static str, roles: &'static [Role]) -> RouteDoc {
        RouteDoc {
            success: 204,
            errors: &[404],
            ..RouteDoc::new("DELETE", path, summary, roles)
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
            errors: &[400, 404, 413, 422],
            ..RouteDoc::new(method, path, summary, roles)
        }
    }
}

/// The route table under construction: each `add` registers a handler and its doc.
pub struct Routes {
    pub(super) router: Router<Arc<AppState>>,
    pub(super) docs: Vec<RouteDoc>,
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
        let route = on(filter, handler).layer(axum::Extension(Allowed(doc.roles)));
        self.router = self.router.route(doc.path, route);
        self.docs.push(doc);
        self
    }
}
