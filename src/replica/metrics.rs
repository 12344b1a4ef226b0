//! The replica's metrics: its lag, whether it is read, and who served the reads of the
//! routes that prefer it.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `served_by`: `replica` or `primary`.
pub type ServedBy = [(&'static str, &'static str); 1];

/// Registered with the daemon's other metrics; all stay at 0 without a replica.
#[derive(Default)]
pub struct ReplicaMetrics {
    /// The bound on the replica's lag at the last successful check (unchanged while it is
    /// unreachable: `usable` says so).
    pub lag_seconds: Gauge<f64, AtomicU64>,
    /// 1 while reads go to the replica.
    pub usable: Gauge,
    /// Reads of the replica routes, by the server that answered.
    pub reads: Family<ServedBy, Counter>,
    /// Reads the replica failed (connection refused or lost, query cancelled by a recovery
    /// conflict) that were run on the primary instead.
    pub retried: Counter,
}

impl ReplicaMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "fleetd_replica_lag_seconds",
            "Upper bound on how far the read replica was behind the primary at its last check",
            self.lag_seconds.clone(),
        );
        r.register(
            "fleetd_replica_usable",
            "1 while the read replica is reachable and within database.replica_max_lag_ms",
            self.usable.clone(),
        );
        r.register(
            "fleetd_replica_reads",
            "Reads of the routes that prefer the replica, by the server that answered",
            self.reads.clone(),
        );
        r.register(
            "fleetd_replica_retried",
            "Reads the replica failed (connection refused or lost, query cancelled) that were \
             run on the primary instead",
            self.retried.clone(),
        );
        for by in ["replica", "primary"] {
            let _ = self.reads.get_or_create(&[("served_by", by)]);
        }
    }
}
