//! Live positions: the live index's property tests (all vehicles, and the dispatchable ones)
//! and the Redis write-through.

mod dispatchable_props;
mod index_props;
mod redis_feed;
