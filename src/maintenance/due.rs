//! When a preventive maintenance schedule falls due for one vehicle: the reference rule,
//! pure and synchronous. `due.sql` computes the same in PostgreSQL for a whole fleet in one
//! query; the integration tests check on random fleets that both agree.
//!
//! The rule (docs/maintenance.md, "When is maintenance due"):
//! - The **baseline** is the last completed maintenance job linked to the schedule for that
//!   vehicle (its `completed_at`); without one, when the schedule started to apply: its
//!   creation, or the vehicle's registration if that is later. The baseline odometer is
//!   [`odometer_at`] that moment.
//! - Next due at `baseline km + every_km`, and on `baseline date (UTC) + every_months`
//!   calendar months, clamped to the end of a shorter month as PostgreSQL's
//!   `+ interval 'N months'` does (31 January + 1 month = 28 or 29 February).
//! - `overdue` once the odometer reaches the due km or the UTC date reaches the due date;
//!   `due` once within `lead_km` of the due km or `lead_days` of the due date; else `ok`.

use chrono::{DateTime, Months, NaiveDate, Utc};

crate::text_enum! {
    /// Where a (schedule, vehicle) pair stands: `ok`, `due` (within the lead) or `overdue`.
    pub enum DueStatus {
        Ok => "ok",
        Due => "due",
        Overdue => "overdue",
    }
}

impl DueStatus {
    /// Sort rank, most urgent first.
    pub fn rank(self) -> i32 {
        match self {
            DueStatus::Overdue => 0,
            DueStatus::Due => 1,
            DueStatus::Ok => 2,
        }
    }
}

/// A schedule's intervals and leads (at least one interval; a lead without its interval
/// is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub every_km: Option<i64>,
    pub every_months: Option<i32>,
    pub lead_km: i64,
    pub lead_days: i32,
}

/// Where counting starts: a time and the odometer then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub at: DateTime<Utc>,
    pub km: i64,
}

/// An odometer reading as `odometer_readings` holds it: when fleetd recorded it, and km.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub km: i64,
}

/// A pair's state at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueState {
    pub due_at_km: Option<i64>,
    pub due_on: Option<NaiveDate>,
    /// `due_at_km` minus the odometer (negative once past).
    pub km_remaining: Option<i64>,
    /// `due_on` minus today, UTC (negative once past).
    pub days_remaining: Option<i32>,
    pub status: DueStatus,
    /// The share of the interval used, in thousandths, rounded down: the larger of the km
    /// and the time shares. 1000 or more exactly when overdue. Orders the due list.
    pub progress: i64,
}

/// The odometer at `t`: the latest reading recorded at or before `t` (of two at the same
/// time, the later recorded); before the first reading, the first one (the odometer only
/// grows, and a vehicle is rarely driven far before its first reading, whereas 0 would make
/// every used vehicle overdue at once); with no reading at all, `current_km`.
///
/// `readings` are in the order recorded (`odometer_readings.id`).
pub fn odometer_at(readings: &[Reading], t: DateTime<Utc>, current_km: i64) -> i64 {
    let before = readings
        .iter()
        .enumerate()
        .filter(|(_, r)| r.at <= t)
        .max_by_key(|(i, r)| (r.at, *i));
    let after = readings
        .iter()
        .enumerate()
        .filter(|(_, r)| r.at > t)
        .min_by_key(|(i, r)| (r.at, *i));
    before.or(after).map_or(current_km, |(_, r)| r.km)
}

/// The baseline of a (schedule, vehicle) pair: the last completion of a linked job, else
/// `start` (the schedule's creation or the vehicle's registration, the later); with the
/// odometer then.
pub fn baseline(
    start: DateTime<Utc>,
    last_completed: Option<DateTime<Utc>>,
    readings: &[Reading],
    current_km: i64,
) -> Baseline {
    let at = last_completed.unwrap_or(start);
    Baseline {
        at,
        km: odometer_at(readings, at, current_km),
    }
}

/// `date` plus `months` calendar months, clamped to the end of a shorter month (PostgreSQL's
/// `timestamp + interval 'N months'`).
pub fn add_months(date: NaiveDate, months: i32) -> NaiveDate {
    date.checked_add_months(Months::new(months.unsigned_abs()))
        .unwrap_or(NaiveDate::MAX)
}

/// The state of a pair counted from `baseline`, with the odometer at `odometer_km`, at `now`.
pub fn due_state(
    interval: &Interval,
    baseline: Baseline,
    odometer_km: i64,
    now: DateTime<Utc>,
) -> DueState {
    let today = now.date_naive();
    let base_on = baseline.at.date_naive();
    let due_at_km = interval.every_km.map(|every| baseline.km + every);
    let due_on = interval.every_months.map(|m| add_months(base_on, m));
    let km_remaining = due_at_km.map(|due| due - odometer_km);
    let days_remaining = due_on.map(|due| (due - today).num_days() as i32);
    let km_progress = interval
        .every_km
        .map(|every| (1000 * (odometer_km - baseline.km)).div_euclid(every));
    let time_progress = due_on.map(|due| {
        let span = (due - base_on).num_days();
        (1000 * (today - base_on).num_days()).div_euclid(span)
    });
    let overdue = km_remaining.is_some_and(|k| k <= 0) || days_remaining.is_some_and(|d| d <= 0);
    let within_lead = km_remaining.is_some_and(|k| k <= interval.lead_km)
        || days_remaining.is_some_and(|d| d <= interval.lead_days);
    let status = if overdue {
        DueStatus::Overdue
    } else if within_lead {
        DueStatus::Due
    } else {
        DueStatus::Ok
    };
    DueState {
        due_at_km,
        due_on,
        km_remaining,
        days_remaining,
        status,
        progress: km_progress.max(time_progress).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Duration};
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn km(every: i64, lead: i64) -> Interval {
        Interval {
            every_km: Some(every),
            every_months: None,
            lead_km: lead,
            lead_days: 0,
        }
    }

    fn months(every: i32, lead_days: i32) -> Interval {
        Interval {
            every_km: None,
            every_months: Some(every),
            lead_km: 0,
            lead_days,
        }
    }

    #[test]
    fn kilometres_go_ok_then_due_then_overdue() {
        let base = Baseline {
            at: t("2031-01-10T08:00:00Z"),
            km: 12_000,
        };
        let i = km(10_000, 500);
        let now = t("2031-02-01T00:00:00Z");
        let s = due_state(&i, base, 21_499, now);
        assert_eq!(
            (s.status, s.due_at_km, s.km_remaining),
            (DueStatus::Ok, Some(22_000), Some(501))
        );
        assert_eq!((s.due_on, s.days_remaining), (None, None));
        assert_eq!(s.progress, 949);
        assert_eq!(due_state(&i, base, 21_500, now).status, DueStatus::Due);
        let s = due_state(&i, base, 22_000, now);
        assert_eq!(
            (s.status, s.km_remaining, s.progress),
            (DueStatus::Overdue, Some(0), 1000)
        );
        assert_eq!(due_state(&i, base, 30_000, now).km_remaining, Some(-8_000));
    }

    #[test]
    fn months_clamp_to_the_end_of_a_shorter_month() {
        assert_eq!(add_months(d("2031-01-31"), 1), d("2031-02-28"));
        assert_eq!(add_months(d("2032-01-31"), 1), d("2032-02-29"));
        assert_eq!(add_months(d("2031-01-31"), 2), d("2031-03-31"));
        assert_eq!(add_months(d("2031-03-31"), 1), d("2031-04-30"));
        assert_eq!(add_months(d("2031-08-15"), 6), d("2032-02-15"));
        assert_eq!(add_months(d("2031-11-30"), 120), d("2041-11-30"));
    }

    #[test]
    fn a_months_schedule_with_lead_days_from_the_31st() {
        let base = Baseline {
            at: t("2031-01-31T22:30:00Z"),
            km: 0,
        };
        let i = months(1, 7);
        let at = |s| due_state(&i, base, 0, t(s));
        let s = at("2031-02-20T23:59:59Z");
        assert_eq!(
            (s.due_on, s.days_remaining, s.status),
            (Some(d("2031-02-28")), Some(8), DueStatus::Ok)
        );
        let s = at("2031-02-21T00:00:00Z");
        assert_eq!((s.days_remaining, s.status), (Some(7), DueStatus::Due));
        let s = at("2031-02-27T23:59:59Z");
        assert_eq!((s.days_remaining, s.status), (Some(1), DueStatus::Due));
        let s = at("2031-02-28T00:00:00Z");
        assert_eq!(
            (s.days_remaining, s.status, s.progress),
            (Some(0), DueStatus::Overdue, 1000)
        );
        assert_eq!(at("2031-03-10T00:00:00Z").days_remaining, Some(-10));
    }

    #[test]
    fn with_both_intervals_the_first_reached_decides() {
        let base = Baseline {
            at: t("2031-01-01T00:00:00Z"),
            km: 0,
        };
        let i = Interval {
            every_km: Some(15_000),
            every_months: Some(12),
            lead_km: 1_000,
            lead_days: 30,
        };
        let s = due_state(&i, base, 14_000, t("2031-03-01T00:00:00Z"));
        assert_eq!(s.status, DueStatus::Due, "by km");
        let s = due_state(&i, base, 100, t("2031-12-15T00:00:00Z"));
        assert_eq!(s.status, DueStatus::Due, "by date");
        let s = due_state(&i, base, 100, t("2032-01-01T00:00:00Z"));
        assert_eq!(s.status, DueStatus::Overdue, "by date, whatever the km");
        assert_eq!(s.progress, 1000);
    }

    #[test]
    fn the_baseline_is_the_last_completion_and_the_odometer_then() {
        let readings = [
            Reading {
                at: t("2031-01-01T00:00:00Z"),
                km: 100,
            },
            Reading {
                at: t("2031-02-01T00:00:00Z"),
                km: 900,
            },
            Reading {
                at: t("2031-02-01T00:00:00Z"),
                km: 950,
            },
            Reading {
                at: t("2031-03-01T00:00:00Z"),
                km: 2_000,
            },
        ];
        let start = t("2030-12-01T00:00:00Z");
        // Before the first reading: the first reading.
        assert_eq!(baseline(start, None, &readings, 2_000).km, 100);
        let b = baseline(start, Some(t("2031-02-15T00:00:00Z")), &readings, 2_000);
        assert_eq!(
            b,
            Baseline {
                at: t("2031-02-15T00:00:00Z"),
                km: 950
            }
        );
        // At the instant of a reading, that reading.
        assert_eq!(
            odometer_at(&readings, t("2031-03-01T00:00:00Z"), 2_000),
            2_000
        );
        // No reading at all: the vehicle's odometer.
        assert_eq!(odometer_at(&[], start, 0), 0);
        assert_eq!(odometer_at(&[], start, 42), 42);
    }

    fn arb_interval() -> impl Strategy<Value = Interval> {
        (
            prop::option::of(1i64..=1_000_000),
            prop::option::of(1i32..=120),
            0i64..1_000_000,
            0i32..3_360,
        )
            .prop_filter("at least one interval", |(k, m, _, _)| {
                k.is_some() || m.is_some()
            })
            .prop_map(|(every_km, every_months, lead_km, lead_days)| Interval {
                every_km,
                every_months,
                lead_km: every_km.map_or(0, |e| lead_km % e),
                lead_days: every_months.map_or(0, |m| lead_days % (28 * m)),
            })
    }

    fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
        // 2000-01-01 to about 2060.
        (946_684_800i64..2_840_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    proptest! {
        /// Overdue exactly when the interval is used up; the remainders are the
        /// differences they claim to be; without a lead nothing is ever just `due`.
        #[test]
        fn the_state_is_consistent(
            i in arb_interval(),
            base_at in arb_time(),
            base_km in 0i64..100_000_000,
            driven in 0i64..2_000_000,
            days in -10i64..8_000,
        ) {
            let base = Baseline { at: base_at, km: base_km };
            let now = base_at + Duration::days(days);
            let s = due_state(&i, base, base_km + driven, now);
            prop_assert_eq!(s.status == DueStatus::Overdue, s.progress >= 1000);
            if let (Some(due), Some(left)) = (s.due_at_km, s.km_remaining) {
                prop_assert_eq!(due - left, base_km + driven);
            }
            if let (Some(due), Some(left)) = (s.due_on, s.days_remaining) {
                prop_assert_eq!(due - Duration::days(left.into()), now.date_naive());
                // The same day of the month, or the month's last day when it is shorter.
                let base_day = base_at.date_naive().day();
                let next_first = add_months(due.with_day(1).unwrap(), 1);
                let last_day = next_first.pred_opt().unwrap().day();
                prop_assert_eq!(due.day(), base_day.min(last_day));
            }
            if i.lead_km == 0 && i.lead_days == 0 {
                prop_assert_ne!(s.status, DueStatus::Due);
            }
        }

        /// Driving on or time passing never makes a pair less urgent.
        #[test]
        fn urgency_never_falls(
            i in arb_interval(),
            base_at in arb_time(),
            driven in 0i64..2_000_000,
            more_km in 0i64..500_000,
            days in 0i64..8_000,
            more_days in 0i64..2_000,
        ) {
            let base = Baseline { at: base_at, km: 0 };
            let now = base_at + Duration::days(days);
            let before = due_state(&i, base, driven, now);
            let after = due_state(&i, base, driven + more_km, now + Duration::days(more_days));
            prop_assert!(after.status.rank() <= before.status.rank(), "{before:?} → {after:?}");
            prop_assert!(after.progress >= before.progress);
        }

        /// The odometer at a time is a reading at or before it when there is one, else the
        /// first; and later times never read less.
        #[test]
        fn odometer_at_follows_the_readings(
            mut steps in prop::collection::vec((0i64..1_000_000, 0i64..5_000), 0..12),
            probe in 0i64..1_200_000,
            later in 0i64..100_000,
        ) {
            steps.sort();
            let t0 = t("2031-01-01T00:00:00Z");
            let mut km = 0;
            let readings: Vec<Reading> = steps
                .iter()
                .map(|(s, add)| {
                    km += add;
                    Reading { at: t0 + Duration::seconds(*s), km }
                })
                .collect();
            let at = t0 + Duration::seconds(probe);
            let got = odometer_at(&readings, at, km);
            match readings.iter().rev().find(|r| r.at <= at) {
                Some(r) => prop_assert_eq!(got, r.km),
                None => prop_assert_eq!(got, readings.first().map_or(km, |r| r.km)),
            }
            prop_assert!(odometer_at(&readings, at + Duration::seconds(later), km) >= got);
        }
    }
}
