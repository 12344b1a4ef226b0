//! Ageing of a receivable, first in first out: payments and other credits settle the oldest
//! debits first, so what is still owed is the newest debits that add up to the balance. Each
//! outstanding debit is aged by whole days from its posting to the report's time
//! (`as_of`): 0 days is current, then 1–30, 31–60, 61–90 and over 90 days. A balance of zero
//! or below has nothing to age; below zero it is the customer's credit.

use chrono::{DateTime, Utc};

/// A receivable's balance split by age, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buckets {
    /// Debits − credits.
    pub balance: i64,
    /// Less than a day old.
    pub current: i64,
    pub days_1_30: i64,
    pub days_31_60: i64,
    pub days_61_90: i64,
    pub over_90: i64,
    /// What the fleet owes the customer (a negative balance, as a positive number).
    pub credit: i64,
}

impl Buckets {
    /// Adds `other` (another receivable in the same currency) to these.
    pub fn add(&mut self, other: &Buckets) {
        self.balance += other.balance;
        self.current += other.current;
        self.days_1_30 += other.days_1_30;
        self.days_31_60 += other.days_31_60;
        self.days_61_90 += other.days_61_90;
        self.over_90 += other.over_90;
        self.credit += other.credit;
    }

    fn bucket(&mut self, age_days: i64) -> &mut i64 {
        match age_days {
            ..=0 => &mut self.current,
            1..=30 => &mut self.days_1_30,
            31..=60 => &mut self.days_31_60,
            61..=90 => &mut self.days_61_90,
            _ => &mut self.over_90,
        }
    }
}

/// Ages `balance` at `as_of`; `debits` are the receivable's debit lines (posting time,
/// positive amount), newest first; more than needed is fine: the oldest are settled.
pub fn age(balance: i64, debits: &[(DateTime<Utc>, i64)], as_of: DateTime<Utc>) -> Buckets {
    let mut b = Buckets {
        balance,
        ..Buckets::default()
    };
    if balance <= 0 {
        b.credit = -balance;
        return b;
    }
    let mut left = balance;
    for (at, amount) in debits {
        if left == 0 {
            break;
        }
        let owed = (*amount).min(left);
        *b.bucket((as_of - *at).num_days()) += owed;
        left -= owed;
    }
    // Debits always cover a positive balance; if the caller passed fewer, the rest is the
    // oldest there is.
    b.over_90 += left;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// The example of docs/financial-reports.md: charges of 100 (day 0), 50 (day 40) and 30
    /// (day 85), a payment of 120 (day 86); as of day 100 the 60 still owed are the newest
    /// 30 (15 days old) and 30 of the 50 (60 days old).
    #[test]
    fn credits_settle_the_oldest_debits_first() {
        let as_of = at("2026-04-11T12:00:00Z");
        let debits = [
            (at("2026-03-27T12:00:00Z"), 30),  // 15 days
            (at("2026-02-10T12:00:00Z"), 50),  // 60 days
            (at("2026-01-01T12:00:00Z"), 100), // 100 days
        ];
        let b = age(60, &debits, as_of);
        assert_eq!(
            b,
            Buckets {
                balance: 60,
                days_1_30: 30,
                days_31_60: 30,
                ..Buckets::default()
            }
        );
        let b = age(180, &debits, as_of);
        assert_eq!((b.days_1_30, b.days_31_60, b.over_90), (30, 50, 100));
        // Less than a whole day is current; 90 days is still 61–90.
        let b = age(7, &[(at("2026-04-11T00:00:01Z"), 7)], as_of);
        assert_eq!(b.current, 7);
        let b = age(7, &[(at("2026-01-11T12:00:00Z"), 7)], as_of);
        assert_eq!(b.days_61_90, 7);
    }

    #[test]
    fn a_credit_has_nothing_to_age() {
        let b = age(
            -25,
            &[(at("2026-01-01T00:00:00Z"), 10)],
            at("2026-02-01T00:00:00Z"),
        );
        assert_eq!(
            b,
            Buckets {
                balance: -25,
                credit: 25,
                ..Buckets::default()
            }
        );
        let mut total = b;
        total.add(&age(5, &[], at("2026-02-01T00:00:00Z")));
        assert_eq!((total.balance, total.credit, total.over_90), (-20, 25, 5));
    }
}
