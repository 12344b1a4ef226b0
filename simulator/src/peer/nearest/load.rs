//! `nearest load`: closed-loop load from `--concurrency` connections to one system, each
//! asking its next query as soon as the previous one is answered; one JSON line of results.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::target::Target;
use super::{Query, Spread};
use crate::peer::args::LoadArgs;

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let (spread, seed, q) = (
        Spread::named(args.common.spread),
        args.common.seed,
        Query::of(&args.query),
    );
    let target = args.target.as_str();
    let concurrency = args.concurrency;
    let measure = args.seconds;
    let cpu0 = own_cpu_s();
    let start = Instant::now() + args.warmup;
    let end = start + measure;
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut conn = Target::connect(args.target, &args.common, &args.query).await?;
        // Each task's latencies in µs, hits, errors and its first error.
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ (100 + i));
            let (mut lat_us, mut hits, mut errors) = (Vec::with_capacity(1 << 16), 0u64, 0u64);
            let mut first_error = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let answer = conn.nearest(spread.point(&mut rng), q).await;
                if t0 < start {
                    continue;
                }
                match answer {
                    Ok(a) => {
                        hits += a.len() as u64;
                        lat_us.push(t0.elapsed().as_micros() as u32);
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat_us, hits, errors, first_error)
        }));
    }
    let (mut all, mut hits, mut errors, mut first_error) = (Vec::new(), 0, 0, None);
    for t in tasks {
        let (l, h, e, f) = t.await?;
        all.extend(l);
        hits += h;
        errors += e;
        first_error = first_error.or(f);
    }
    if let Some(e) = first_error {
        eprintln!("[nearest] {target}: first error: {e}");
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let n = all.len();
    println!(
        "{{\"mode\":\"load\",\"target\":\"{target}\",\"concurrency\":{concurrency},\"queries\":{n},\
         \"errors\":{errors},\"qps\":{:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\
         \"mean_hits\":{:.2},\"tool_cpu_s\":{:.2}}}",
        n as f64 / measure.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        hits as f64 / n.max(1) as f64,
        own_cpu_s() - cpu0
    );
    Ok(())
}

/// This process's user + system CPU seconds (Linux `/proc/self/stat`, 100 ticks a second).
fn own_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
