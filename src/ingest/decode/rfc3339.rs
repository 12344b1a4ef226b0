//! RFC 3339 timestamps to Unix microseconds, without building chrono values on the hot path.
//!
//! Accepts exactly what `chrono::DateTime::parse_from_rfc3339` accepts (`T`, `t` or a space
//! between date and time, `Z`/`z` or `±HH:MM`, any number of fractional digits, second 60),
//! except the Unicode minus sign in offsets. Fractional seconds are truncated to microseconds,
//! and a leap second counts as the first second of the next minute, as chrono and PostgreSQL do.

/// Microseconds since the Unix epoch, or `None` when `s` is not an RFC 3339 date-time.
pub(crate) fn parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // "YYYY-MM-DDTHH:MM:SS" then at least "Z".
    if b.len() < 20 {
        return None;
    }
    let year = num(b, 0, 4)?;
    let month = num(b, 5, 2)?;
    let day = num(b, 8, 2)?;
    let hour = num(b, 11, 2)?;
    let minute = num(b, 14, 2)?;
    let second = num(b, 17, 2)?;
    let separators_ok = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !separators_ok
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut i = 19;
    let mut micros = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            if i - start < 6 {
                micros = micros * 10 + i64::from(d - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..6 {
            micros *= 10;
        }
    }

    let offset_s = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = num(&[*h1, *h2], 0, 2)?;
            let minutes = num(&[*m1, *m2], 0, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some(seconds * 1_000_000 + micros)
}

/// `len` ASCII digits at `at` as a number.
fn num(b: &[u8], at: usize, len: usize) -> Option<i64> {
    b.get(at..at + len)?.iter().try_fold(0i64, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn chrono_micros(s: &str) -> Option<i64> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_micros())
    }

    #[test]
    fn known_instants() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse("2024-02-29T12:34:56.789Z"),
            Some(1_709_210_096_789_000)
        );
        assert_eq!(
            parse("2024-02-29T14:34:56.7891239+02:00"),
            Some(1_709_210_096_789_123)
        );
        assert_eq!(parse("1969-12-31T23:59:59.999999Z"), Some(-1));
    }

    #[test]
    fn agrees_with_chrono() {
        let cases = [
            "2023-11-14T22:13:20Z",
            "2023-11-14t22:13:20z",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20.5Z",
            "2023-11-14T22:13:20.123456789123Z",
            "2023-11-14T22:13:20-05:30",
            "2023-11-14T22:13:20+23:59",
            "2023-11-14T22:13:20-00:00",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.25+01:00",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2000-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-04-31T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-00-01T00:00:00Z",
            "2023-01-00T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T23:60:00Z",
            "2023-01-01T23:59:61Z",
            "2023-01-01T00:00:00+24:00",
            "2023-01-01T00:00:00+01:60",
            "2023-01-01T00:00:00+0100",
            "2023-01-01T00:00:00+01",
            "2023-01-01T00:00:00",
            "2023-01-01T00:00:00.Z",
            "2023-01-01T00:00:00ZZ",
            "2023-01-01T00:00:00Z ",
            " 2023-01-01T00:00:00Z",
            "2023-01-01X00:00:00Z",
            "2023/01/01T00:00:00Z",
            "+2023-01-01T00:00:00Z",
            "2023-1-01T00:00:00Z",
            "2023-01-01T00:00:0aZ",
            "",
            "Z",
            "2023-01-01T00:00:00.1234567890123456789012345678901234567890Z",
        ];
        for s in cases {
            assert_eq!(parse(s), chrono_micros(s), "{s:?}");
        }
    }

    #[test]
    fn rejects_non_ascii_without_panicking() {
        assert_eq!(parse("2023-01-01T00:00:00\u{2212}01:00"), None);
        assert_eq!(parse("２０２３-01-01T00:00:00Z"), None);
        assert_eq!(parse("2023-01-01T00:00:00.é"), None);
    }

    #[test]
    fn every_day_of_four_centuries_agrees_with_chrono() {
        let mut date = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        let end = chrono::NaiveDate::from_ymd_opt(2300, 1, 1).unwrap();
        while date < end {
            let s = format!("{}T01:02:03.4Z", date.format("%Y-%m-%d"));
            assert_eq!(parse(&s), chrono_micros(&s), "{s}");
            date = date.succ_opt().unwrap();
        }
    }
}
