//! `trips fleet`: the whole fleet's history without a whole fleet's readings. Registers
//! vehicles 1 to `--vehicles` and gives each vehicle beyond the sampled ones the trips,
//! stops and hourly and daily rollups of sampled vehicle ((n - 1) mod sampled) + 1, so the
//! tables the trips report reads hold as many rows as a fleet of that size would. Raw readings
//! stay with the sampled vehicles only: 1,000 vehicles × 30 days at 1 Hz would be 2.6 billion
//! rows. Running it again gives the same tables.

use anyhow::{ensure, Context};
use serde_json::json;
use tokio_postgres::Client;

use super::args::TripsFleetArgs;
use crate::peer::pg_connect;

/// Tables copied from the sampled vehicles, keyed by `vehicle_id`.
const TABLES: [&str; 4] = ["trips", "stops", "vehicle_hourly", "vehicle_daily"];

/// Vehicles `$2` to `$3` (prefix `$1`), with valid plates and VINs.
const REGISTER: &str = "
    INSERT INTO vehicles (id, plate, vin, make, model, year, type, seats, load_kg)
    SELECT $1 || lpad(n::text, 6, '0'), 'TRB-' || n, 'BENCH' || lpad(n::text, 12, '0'),
           'Bench', 'Van', 2024, 'van', 3, 800
      FROM generate_series($2::int, $3::int) AS n
    ON CONFLICT (id) DO NOTHING";

pub async fn run(a: TripsFleetArgs) -> anyhow::Result<()> {
    let h = &a.history;
    ensure!(
        a.vehicles >= h.sampled,
        "--vehicles ({}) must be at least --sampled ({})",
        a.vehicles,
        h.sampled
    );
    let db = pg_connect(&h.database_url).await?;
    let (sampled, fleet) = (h.sampled as i32, a.vehicles as i32);
    db.execute(REGISTER, &[&h.id_prefix, &1i32, &fleet])
        .await
        .context("register the fleet")?;
    let mut rows = serde_json::Map::new();
    for table in TABLES {
        let copied = copy_table(&db, table, &h.id_prefix, sampled, fleet).await?;
        rows.insert(table.to_string(), json!(copied));
    }
    db.batch_execute(&format!("ANALYZE {}", TABLES.join(", ")))
        .await?;
    println!(
        "{}",
        json!({ "vehicles": fleet, "sampled": sampled, "rows": rows })
    );
    Ok(())
}

/// Replaces the copies in `table` and returns the table's rows after.
async fn copy_table(
    db: &Client,
    table: &str,
    prefix: &str,
    sampled: i32,
    fleet: i32,
) -> anyhow::Result<i64> {
    let columns: Vec<String> = db
        .query(
            "SELECT quote_ident(column_name) FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = $1
                AND column_name <> 'vehicle_id' AND is_identity = 'NO' AND is_generated = 'NEVER'
              ORDER BY ordinal_position",
            &[&table],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    ensure!(!columns.is_empty(), "no table {table}");
    let cols = columns.join(", ");
    let number = format!("substr(vehicle_id, {})::int", prefix.chars().count() + 1);
    db.batch_execute("BEGIN").await?;
    db.execute(
        &format!("DELETE FROM {table} WHERE starts_with(vehicle_id, $1) AND {number} > $2"),
        &[&prefix, &sampled],
    )
    .await?;
    // Vehicle n = s + k·sampled (k ≥ 1) copies sampled vehicle s.
    db.execute(
        &format!(
            "INSERT INTO {table} (vehicle_id, {cols})
             SELECT $1 || lpad(n::text, 6, '0'), {cols}
               FROM (SELECT *, {number} AS s FROM {table}
                      WHERE starts_with(vehicle_id, $1) AND {number} <= $2) AS src,
                    generate_series(src.s + $2, $3::int, $2) AS n"
        ),
        &[&prefix, &sampled, &fleet],
    )
    .await
    .with_context(|| format!("copy {table}"))?;
    db.batch_execute("COMMIT").await?;
    let n: i64 = db
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await?
        .get(0);
    Ok(n)
}
