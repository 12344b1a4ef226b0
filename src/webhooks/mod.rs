//! Webhooks (docs/webhooks.md): events delivered to subscribed URLs, signed, at least once,
//! each aggregate's in order per subscription, retried with backoff for
//! `webhooks.max_retry_hours` and then dead-lettered. The queues and claims live in
//! PostgreSQL (migrations/0018_webhooks.sql), so every daemon runs a [`relay::Relay`] and
//! they share the work.
//!
//! - [`guard`]: the SSRF guard on URLs and on every resolution.
//! - [`sign`]: the `fleetd-signature` header and new secrets.
//! - [`deliver`]: the HTTP client and one claimed queue's deliveries.
//! - [`relay`]: the loop that fans events out and claims queues.
//! - [`gauges`]: each subscription's lag and dead letters, for `/metrics`.

pub mod deliver;
pub mod gauges;
pub mod guard;
pub mod relay;
pub mod sign;

/// Forgets up to `$2` deliveries finished (delivered or dead-lettered) before `$1`, and
/// idle queues; returns how many deliveries.
pub const EXPIRE: &str = "SELECT webhooks_expire($1, $2)";
