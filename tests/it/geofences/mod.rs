//! Geofences: the engine's shapes against PostGIS `geography`, `/v1/geofences`, and the
//! engine on the stream.

mod geometry;
mod restart;
mod routes;
mod stream;
