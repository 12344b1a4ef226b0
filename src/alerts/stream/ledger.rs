//! The alerts of one pass in memory: a sighting of an alert already open is counted here and
//! written with the others in one statement at the end; opening and resolving go through
//! [`crate::alerts::store`] at once, with their events, in the order the readings say.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::sql::{self, Unresolved};
use crate::alerts::readings::MICROS;
use crate::alerts::store::{self, Raised};
use crate::alerts::{Rule, Subject};

type Db = tokio_postgres::Error;

/// Sightings not written yet.
#[derive(Debug)]
struct Pending {
    n: i32,
    at_us: i64,
    details: Value,
}

#[derive(Debug)]
struct Entry {
    id: Uuid,
    last_seen_us: i64,
    pending: Option<Pending>,
}

/// Per (rule, vehicle), the alert not yet resolved.
#[derive(Debug, Default)]
pub struct Ledger {
    open: HashMap<(Uuid, String), Entry>,
    pub opened: usize,
    pub resolved: usize,
}

fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl Ledger {
    pub fn new(unresolved: HashMap<(Uuid, String), Unresolved>) -> Ledger {
        let open = unresolved
            .into_iter()
            .map(|(k, u)| {
                let e = Entry {
                    id: u.id,
                    last_seen_us: u.last_seen_us,
                    pending: None,
                };
                (k, e)
            })
            .collect();
        Ledger {
            open,
            ..Ledger::default()
        }
    }

    /// `rule`'s condition seen on `vehicle` at `ts` (µs).
    pub async fn raise(
        &mut self,
        c: &impl GenericClient,
        rule: &Rule,
        vehicle: &str,
        ts: i64,
        details: Value,
    ) -> Result<(), Db> {
        if let Some(e) = self.open.get_mut(&(rule.id, vehicle.to_string())) {
            let p = e.pending.get_or_insert(Pending {
                n: 0,
                at_us: ts,
                details: Value::Null,
            });
            p.n += 1;
            if ts >= p.at_us {
                p.at_us = ts;
                p.details = details;
            }
            e.last_seen_us = e.last_seen_us.max(ts);
            return Ok(());
        }
        let subject = Subject::vehicle(vehicle);
        let raised = store::raise(c, rule, &subject, at(ts), &details).await?;
        if let Raised::Opened(_) = raised {
            self.opened += 1;
        }
        let e = Entry {
            id: raised.id(),
            last_seen_us: ts,
            pending: None,
        };
        self.open.insert((rule.id, vehicle.to_string()), e);
        Ok(())
    }

    /// `rule`'s condition seen clear on `vehicle` at `ts`: resolves its alert once it has
    /// not been seen for the rule's `clear_s`.
    pub async fn clear(
        &mut self,
        c: &impl GenericClient,
        rule: &Rule,
        vehicle: &str,
        ts: i64,
    ) -> Result<(), Db> {
        let key = (rule.id, vehicle.to_string());
        let Some(e) = self.open.get_mut(&key) else {
            return Ok(());
        };
        if ts - e.last_seen_us < i64::from(rule.clear_s) * MICROS {
            return Ok(());
        }
        if let Some(p) = e.pending.take() {
            sql::seen(c, &[(e.id, p.n, at(p.at_us), p.details)]).await?;
        }
        if store::clear(c, rule.id, &Subject::vehicle(vehicle), at(ts)).await? {
            self.resolved += 1;
            self.open.remove(&key);
        }
        Ok(())
    }

    /// Writes the sightings not written yet.
    pub async fn finish(self, c: &impl GenericClient) -> Result<(), Db> {
        let all: Vec<_> = self
            .open
            .into_values()
            .filter_map(|e| {
                let p = e.pending?;
                Some((e.id, p.n, at(p.at_us), p.details))
            })
            .collect();
        sql::seen(c, &all).await
    }
}
