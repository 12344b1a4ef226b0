//! `nearest setup`: places every registered vehicle of the prefix at a seeded point of the
//! spread and stores the points three ways: as fleetd's latest GPS readings (loaded into the
//! live index when fleetd starts), as the PostGIS table and as the Redis GEO key.

use anyhow::{ensure, Context};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{redis_connect, Spread, KNN, REDIS_KEY, TABLE};
use crate::peer::args::SetupArgs;
use crate::peer::pg_connect;

pub async fn run(args: SetupArgs) -> anyhow::Result<()> {
    let (spread, seed) = (Spread::named(args.common.spread), args.common.seed);
    let prefix = &args.prefix;
    let db = pg_connect(&args.common.database_url).await?;
    let ids: Vec<String> = db
        .query(
            "SELECT id FROM vehicles WHERE starts_with(id, $1) ORDER BY id",
            &[prefix],
        )
        .await
        .context("read the registered vehicles")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    ensure!(
        !ids.is_empty(),
        "no vehicles registered with prefix {prefix}"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let points: Vec<(f64, f64)> = ids.iter().map(|_| spread.point(&mut rng)).collect();

    // Today's partition, made as fleetd makes it, then the readings fleetd loads at start.
    let pool = fleetd::db::pool(&fleetd::config::DatabaseConfig {
        url: fleetd::config::Secret::new(args.common.database_url.clone()),
        ..Default::default()
    })
    .context("database pool")?;
    fleetd::ingest::partitions::Partitions::new(pool, 30, 1, 1)
        .run_pass(fleetd::ingest::decoders::now_us())
        .await
        .context("create partitions")?;
    for (ids, points) in ids.chunks(20_000).zip(points.chunks(20_000)) {
        let lats: Vec<f64> = points.iter().map(|p| p.0).collect();
        let lons: Vec<f64> = points.iter().map(|p| p.1).collect();
        db.execute(
            "INSERT INTO gps_readings (vehicle_id, ts, position, speed_kmh, heading_deg, received_at)
             SELECT id, now(), ST_SetSRID(ST_MakePoint(lon, lat), 4326), 0, 0, now()
               FROM unnest($1::text[], $2::float8[], $3::float8[]) AS t(id, lat, lon)",
            &[&ids, &lats, &lons],
        )
        .await
        .context("insert readings")?;
    }
    // `prefix` passed parse_id_prefix: letters, digits, '.', '_' and '-' only.
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {TABLE};
         CREATE TABLE {TABLE} AS
           SELECT vehicle_id, position::geography(Point, 4326) AS position
             FROM gps_readings WHERE starts_with(vehicle_id, '{prefix}');
         ALTER TABLE {TABLE} ADD PRIMARY KEY (vehicle_id);
         CREATE INDEX ON {TABLE} USING gist (position);"
    ))
    .await
    .context("build the PostGIS table")?;
    // Alone: VACUUM cannot run in the implicit transaction of a multi-statement batch.
    db.batch_execute(&format!("VACUUM ANALYZE {TABLE}"))
        .await
        .context("vacuum the PostGIS table")?;
    let (lat, lon) = spread.point(&mut StdRng::seed_from_u64(seed ^ 1));
    let plan: Vec<String> = db
        .query(&format!("EXPLAIN {KNN}"), &[&lat, &lon, &5000.0f64, &10i64])
        .await
        .context("explain")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    eprintln!("[nearest] PostGIS plan:\n  {}", plan.join("\n  "));

    let mut conn = redis_connect(&args.common.redis_url).await?;
    let _: () = redis::cmd("DEL")
        .arg(REDIS_KEY)
        .query_async(&mut conn)
        .await
        .context("DEL")?;
    for (ids, points) in ids.chunks(10_000).zip(points.chunks(10_000)) {
        let mut geoadd = redis::cmd("GEOADD");
        geoadd.arg(REDIS_KEY);
        for (id, (lat, lon)) in ids.iter().zip(points) {
            geoadd.arg(lon).arg(lat).arg(id);
        }
        let _: i64 = geoadd.query_async(&mut conn).await.context("GEOADD")?;
    }
    println!("{{\"mode\":\"setup\",\"vehicles\":{}}}", ids.len());
    Ok(())
}
