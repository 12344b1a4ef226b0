//! Geofences: the engine's shapes against PostGIS `geography`.

mod geometry;
