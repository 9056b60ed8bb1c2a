//! Calendar arithmetic for EMV dates (`YYMMDD`, `n 6`) and the clocks that feed
//! them: days since 1970-01-01 to a proleptic Gregorian civil date. Pure: the
//! callers read their own clocks.

/// Days since 1970-01-01 (negative before) → (year, month 1–12, day 1–31), by
/// H. Hinnant's `civil_from_days` ("chrono-Compatible Low-Level Date
/// Algorithms").
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Seconds since 1970-01-01 UTC → (year, month, day, hour, minute, second).
pub fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let part = |v: i64| u32::try_from(v).unwrap_or(0);
    (
        y,
        m,
        d,
        part(rem / 3600),
        part(rem / 60 % 60),
        part(rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        // Day counts checked with Python's datetime.date subtraction.
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
        assert_eq!(
            civil_from_unix(20_782 * 86_400 + 3_661),
            (2026, 11, 25, 1, 1, 1)
        );
    }
}
