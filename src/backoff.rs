//! Retry delays shared by the scraper and the producer.

use std::time::Duration;

/// Exponential backoff with full jitter on the upper half: base·2^(n-1) · [0.5, 1.0).
pub fn delay(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << (attempt.saturating_sub(1)).min(10));
    exp.mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_within_jitter_bounds() {
        let base = Duration::from_millis(100);
        for attempt in 1..=5 {
            let full = base * (1 << (attempt - 1));
            let d = delay(base, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
