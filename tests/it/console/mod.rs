//! The operator's console (`/console`) and Swagger UI (`/docs`): the embedded files and their
//! headers ([`files`]), the map's snapshot `GET /v1/positions` ([`snapshot`]), and the console
//! itself in a real browser ([`live`], [`dispatch`], [`alerts`]; helpers in [`page`]).

mod alerts;
mod dispatch;
mod files;
mod live;
mod page;
mod snapshot;
