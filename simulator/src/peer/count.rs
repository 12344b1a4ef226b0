//! `fleet-sim peer count`: the broker's own QoS 1 pass-through rate. Subscribes and counts
//! readings, nothing else (scripts/bench/e2e.sh's "broker" row).

use super::args::SubscribeArgs;
use super::subscribe::consume;

pub async fn run(args: SubscribeArgs) -> anyhow::Result<()> {
    consume("count", &args, None).await
}
