//! The event outbox (docs/events.md).

mod outbox;
mod stream;
mod webhooks;
