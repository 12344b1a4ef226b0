//! What operators watch the daemon with: the Grafana dashboard `docs/grafana/fleetd.json` is a
//! well-formed dashboard whose every query names a metric a running daemon exposes
//! ([`dashboard`]); the metrics added for it follow the database and the routes
//! ([`gauges`]); `fleetd healthcheck`, the container's probe, against a live daemon, a
//! closed port and a malformed URL ([`healthcheck`]).

mod dashboard;
mod gauges;
mod healthcheck;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::common::http_get;

/// One scrape of `/metrics`: each family's type (`# TYPE` lines) and every sample name.
pub struct Scrape {
    pub families: BTreeMap<String, String>,
    pub samples: BTreeSet<String>,
}

pub async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, _, body) = http_get(addr, "/metrics", &[]).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let mut families = BTreeMap::new();
    let mut samples = BTreeSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            samples.insert(line[..end].to_string());
        }
    }
    Scrape { families, samples }
}
