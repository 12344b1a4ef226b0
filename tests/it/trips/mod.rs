//! Trips and stops against real PostgreSQL and Mosquitto: what the segmenter stores equals a
//! batch run over the stored readings, whatever the arrival order, kill -9 or two daemons.

mod api;
mod exact;
mod reports;
