//! Ingestion: the pipeline end to end, storage (migrations, partitions), the delivery
//! guarantee under failure (reliability, drills) and the decoder's property tests.

mod contention;
mod decode_props;
mod drills;
mod pipeline;
mod reject_budget;
mod reliability;
mod storage;
mod unknown_vehicles;
