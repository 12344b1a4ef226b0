//! Daily range partitions of the readings tables (docs/storage.md).
//!
//! One partition per UTC day, named `{table}_pYYYYMMDD`, created ahead of time on a timer and
//! on demand for an older day a reading needs; there is no DEFAULT partition, so dropping a
//! day past the retention is a metadata operation (`DROP TABLE`), never a `DELETE`.
//! DDL runs under a transaction-scoped advisory lock so concurrent daemons never race on
//! `CREATE TABLE IF NOT EXISTS`.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate};
use deadpool_postgres::Pool;

/// The partitioned tables, each split by day on `ts`.
pub const TABLES: [&str; 2] = ["gps_readings", "obd_readings"];
const DAY_US: i64 = 86_400_000_000;
/// Advisory lock key serialising partition DDL across daemons.
const LOCK_KEY: i64 = 0x666c_6565_7464_7074;

/// Why partition maintenance failed.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// No connection could be had from the pool.
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// PostgreSQL refused the DDL or the connection broke.
    #[error("partition ddl: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// A day outside chrono's calendar (only from a corrupt timestamp).
    #[error("day {0} is outside the calendar")]
    BadDay(i64),
}

/// What one maintenance pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Days whose partitions were created (or already existed) during the pass.
    pub ensured: Vec<i64>,
    /// Partition tables dropped past the retention.
    pub dropped: Vec<String>,
    /// Rows deleted from `telemetry_rejects` past the retention.
    pub rejects_deleted: u64,
}

/// Creates and drops day partitions; remembers which days exist so the write path asks the
/// database only for a day it has not seen.
pub struct Partitions {
    pool: Pool,
    retention_days: u32,
    days_behind: u32,
    days_ahead: u32,
    // std Mutex: held only to look up or insert a few integers, never across an await.
    known: Mutex<HashSet<i64>>,
}

/// The UTC day number (days since 1970-01-01) of a timestamp in Unix microseconds.
pub fn day_of(ts_us: i64) -> i64 {
    ts_us.div_euclid(DAY_US)
}

/// `gps_readings_p20261122` for day `day` of `table`.
pub fn partition_name(table: &str, day: i64) -> Result<String, PartitionError> {
    Ok(format!("{table}_p{}", date_of(day)?.format("%Y%m%d")))
}

/// The day number a partition name stands for, if it is one of ours.
pub fn parse_partition_name(table: &str, name: &str) -> Option<i64> {
    let digits = name.strip_prefix(table)?.strip_prefix("_p")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?;
    Some(date.signed_duration_since(NaiveDate::default()).num_days())
}

fn date_of(day: i64) -> Result<NaiveDate, PartitionError> {
    DateTime::from_timestamp(
        day.checked_mul(86_400).ok_or(PartitionError::BadDay(day))?,
        0,
    )
    .map(|d| d.date_naive())
    .ok_or(PartitionError::BadDay(day))
}

/// True when every reading a partition of `day` can hold is past the retention at `now_us`.
pub fn is_expired(day: i64, now_us: i64, retention_days: u32) -> bool {
    (day + 1) * DAY_US <= now_us - retention_days as i64 * DAY_US
}

impl Partitions {
    pub fn new(pool: Pool, retention_days: u32, days_behind: u32, days_ahead: u32) -> Self {
        Partitions {
            pool,
            retention_days,
            days_behind,
            days_ahead,
            known: Mutex::new(HashSet::new()),
        }
    }

    /// Makes sure every day in `days` has its partitions. Cheap when all are known.
    pub async fn ensure(&self, days: &[i64]) -> Result<(), PartitionError> {
        let missing: Vec<i64> = {
            let known = self.known.lock().expect("partition cache poisoned");
            days.iter()
                .copied()
                .filter(|d| !known.contains(d))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        // `IF NOT EXISTS` answers an existing partition with a NOTICE, which the driver logs at
        // INFO: one line per partition on every start. Nothing here is worth one.
        let mut ddl = String::from("SET LOCAL client_min_messages = warning;\n");
        for &day in &missing {
            let (from, to) = (date_of(day)?, date_of(day + 1)?);
            for table in TABLES {
                ddl.push_str(&format!(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF {table} \
                     FOR VALUES FROM ('{from} 00:00:00+00') TO ('{to} 00:00:00+00');\n",
                    partition_name(table, day)?
                ));
            }
        }
        tx.batch_execute(&ddl).await?;
        tx.commit().await?;
        self.known
            .lock()
            .expect("partition cache poisoned")
            .extend(missing);
        Ok(())
    }

    /// Forgets a day, so the next write re-checks it (after a "no partition" error).
    pub fn forget(&self, days: &[i64]) {
        let mut known = self.known.lock().expect("partition cache poisoned");
        for d in days {
            known.remove(d);
        }
    }

    /// One maintenance pass at `now_us`: create today − days_behind ..= today + days_ahead,
    /// drop partitions past the retention, delete rejects past the retention.
    pub async fn run_pass(&self, now_us: i64) -> Result<PassReport, PartitionError> {
        let today = day_of(now_us);
        let oldest_kept = today - self.retention_days as i64;
        let first = (today - self.days_behind as i64).max(oldest_kept);
        let days: Vec<i64> = (first..=today + self.days_ahead as i64).collect();
        // The database is the truth: re-check even days the cache knows, in case an operator
        // dropped one by hand.
        self.forget(&days);
        self.ensure(&days).await?;

        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        let rows = tx
            .query(
                "SELECT p.relname::text, c.relname::text FROM pg_inherits i
                   JOIN pg_class c ON c.oid = i.inhrelid
                   JOIN pg_class p ON p.oid = i.inhparent
                  WHERE p.relname = ANY($1) AND p.relnamespace = c.relnamespace
                    AND pg_table_is_visible(p.oid)",
                &[&TABLES.to_vec()],
            )
            .await?;
        // A day is dropped only once the trip segmenter and the rollups have taken every
        // reading of it (src/trips): the earliest reading they have yet to see.
        let pending: Option<DateTime<chrono::Utc>> = tx
            .query_one(
                "SELECT least(
                     (SELECT min(least(dirty_from, obd_dirty_from)) FROM segment_state),
                     (SELECT min(f) FROM segment_marks, unnest(gps_from || obd_from) AS f))",
                &[],
            )
            .await?
            .get(0);
        let pending_day = pending.map(|p| day_of(p.timestamp_micros()));
        let mut dropped = Vec::new();
        let mut expired_days = Vec::new();
        for row in rows {
            let (parent, child): (String, String) = (row.get(0), row.get(1));
            let Some(day) = parse_partition_name(&parent, &child) else {
                continue; // not ours: an operator's own partition is left alone
            };
            if is_expired(day, now_us, self.retention_days) {
                if pending_day.is_some_and(|p| p <= day) {
                    tracing::warn!(partition = %child, "past the retention, kept until trips and rollups have taken its readings");
                    continue;
                }
                tx.batch_execute(&format!("DROP TABLE IF EXISTS {child}"))
                    .await?;
                dropped.push(child);
                expired_days.push(day);
            }
        }
        let cutoff = now_us - self.retention_days as i64 * DAY_US;
        let cutoff =
            DateTime::from_timestamp_micros(cutoff).ok_or(PartitionError::BadDay(today))?;
        let rejects_deleted = tx
            .execute(
                "DELETE FROM telemetry_rejects WHERE received_at < $1",
                &[&cutoff],
            )
            .await?;
        tx.commit().await?;
        self.forget(&expired_days);
        dropped.sort();
        Ok(PassReport {
            ensured: days,
            dropped,
            rejects_deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip_through_names() {
        let day = day_of(1_795_000_000_000_000);
        let name = partition_name("gps_readings", day).unwrap();
        assert!(name.starts_with("gps_readings_p20"));
        assert_eq!(parse_partition_name("gps_readings", &name), Some(day));
        assert_eq!(
            partition_name("obd_readings", 0).unwrap(),
            "obd_readings_p19700101"
        );
    }

    #[test]
    fn day_of_floors_before_the_epoch() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_US - 1), 0);
        assert_eq!(day_of(-1), -1);
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for n in [
            "gps_readings_p2026112",
            "gps_readings_p20261399",
            "gps_readings_old",
            "obd_readings_p20261122",
            "gps_readings_p20261122x",
        ] {
            assert_eq!(parse_partition_name("gps_readings", n), None, "{n}");
        }
    }

    #[test]
    fn a_day_expires_only_when_all_of_it_is_past_retention() {
        let now = 100 * DAY_US + 3_600_000_000; // day 100, 01:00
                                                // Retention 30 days: readings older than day 70 01:00 are rejected.
        assert!(is_expired(69, now, 30));
        assert!(
            !is_expired(70, now, 30),
            "day 70 still holds acceptable readings"
        );
        assert!(!is_expired(100, now, 30));
    }
}
