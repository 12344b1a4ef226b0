//! `nearest agree`: asks each system the same queries, one at a time, and compares the
//! answers (same vehicle ids in the same order; distance differences to PostGIS).

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::target::Target;
use super::{Answer, Query, Spread};
use crate::peer::args::{AgreeArgs, TargetName};

pub async fn run(args: AgreeArgs) -> anyhow::Result<()> {
    let (spread, seed, q) = (
        Spread::named(args.common.spread),
        args.common.seed,
        Query::of(&args.query),
    );
    let queries = args.queries;
    let mut targets = Vec::new();
    for name in [TargetName::Fleetd, TargetName::Postgis, TargetName::Redis] {
        targets.push(Target::connect(name, &args.common, &args.query).await?);
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 2);
    let (mut same_pg, mut same_redis, mut hits) = (0, 0, 0);
    let mut max_diff_m = 0.0f64;
    for _ in 0..queries {
        let at = spread.point(&mut rng);
        let mut answers = Vec::new();
        for t in &mut targets {
            let answer = t.nearest(at, q).await;
            answers.push(answer.map_err(anyhow::Error::msg).context("query")?);
        }
        let ids = |a: &Answer| a.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        same_pg += usize::from(ids(&answers[0]) == ids(&answers[1]));
        same_redis += usize::from(ids(&answers[0]) == ids(&answers[2]));
        hits += answers[0].len();
        for (a, b) in answers[0].iter().zip(&answers[1]) {
            if a.0 == b.0 {
                max_diff_m = max_diff_m.max((a.1 - b.1).abs());
            }
        }
    }
    println!(
        "{{\"mode\":\"agree\",\"queries\":{queries},\"mean_hits\":{:.2},\"same_as_postgis\":{same_pg},\
         \"same_as_redis\":{same_redis},\"max_distance_diff_vs_postgis_m\":{max_diff_m:.6}}}",
        hits as f64 / queries as f64
    );
    Ok(())
}
