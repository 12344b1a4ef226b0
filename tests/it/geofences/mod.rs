//! Geofences: the engine's shapes against PostGIS `geography`, and `/v1/geofences`.

mod geometry;
mod routes;
