//! Injected time: the issuer's decisions depend on "now" (expiry, velocity per day,
//! business date), so tests pin it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time in Unix milliseconds (UTC).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}

impl SystemClock {
    /// Now, in Unix milliseconds (without a trait object).
    pub fn now_ms_value(self) -> i64 {
        self.now_ms()
    }
}

/// A settable clock for tests and replays.
#[derive(Debug, Default, Clone)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    /// A clock standing at `ms`.
    pub fn new(ms: i64) -> Self {
        FixedClock(Arc::new(AtomicI64::new(ms)))
    }
    /// Moves the clock to `ms`.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Civil date (year, month, day) of a Unix-milliseconds instant (UTC), by the
/// days-from-civil inverse (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
pub fn civil_date(ms: i64) -> (i64, u32, u32) {
    lamina_emv::date::civil_from_days(ms.div_euclid(86_400_000))
}

/// Business date `YYYY-MM-DD` (UTC) of an instant.
pub fn business_date(ms: i64) -> String {
    let (y, m, d) = civil_date(ms);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix milliseconds of midnight UTC starting a `YYYY-MM-DD` date, if valid.
pub fn date_start_ms(date: &str) -> Option<i64> {
    let mut it = date.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let back = business_date(days * 86_400_000);
    (back == date).then_some(days * 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(business_date(0), "1970-01-01");
        // 2026-11-25T08:00:00Z
        assert_eq!(business_date(1_764_057_600_000), "2025-11-25");
        for date in ["2000-02-29", "2026-11-25", "1999-12-31", "2024-03-01"] {
            let ms = date_start_ms(date).unwrap();
            assert_eq!(business_date(ms), date);
            assert_eq!(business_date(ms - 1), business_date(ms - 86_400_000));
        }
        assert_eq!(date_start_ms("2026-02-30"), None);
        assert_eq!(date_start_ms("x"), None);
    }
}
