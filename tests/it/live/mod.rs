//! Live positions: the live index's property tests and the Redis write-through.

mod index_props;
mod redis_feed;
