//! Pacing without drift: record k is due at t0 + k·interval, whatever each put cost.
//! (The old script slept a full interval after each put, so every put's latency accumulated.)

use std::time::Duration;

use tokio::time::Instant;

/// The fixed send schedule of one run.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    start: Instant,
    interval: Duration,
}

impl Pacer {
    pub fn new(start: Instant, interval: Duration) -> Self {
        Self { start, interval }
    }

    /// When record `k` (0-based) is due.
    pub fn due(&self, k: u32) -> Instant {
        self.start + self.interval * k
    }

    /// Sleeps until record `k` is due (at once if it is already late) and returns its due time.
    pub async fn wait(&self, k: u32) -> Instant {
        let due = self.due(k);
        tokio::time::sleep_until(due).await;
        due
    }
}

/// Signed lateness of `actual` against `due`, in microseconds (negative = early).
pub fn lateness_us(due: Instant, actual: Instant) -> i64 {
    if actual >= due {
        (actual - due).as_micros() as i64
    } else {
        -((due - actual).as_micros() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_a_fixed_grid() {
        let t0 = Instant::now();
        let p = Pacer::new(t0, Duration::from_millis(250));
        assert_eq!(p.due(0), t0);
        assert_eq!(p.due(4), t0 + Duration::from_secs(1));
        assert_eq!(p.due(60) - p.due(59), Duration::from_millis(250));
    }

    #[test]
    fn lateness_is_signed() {
        let t0 = Instant::now();
        assert_eq!(lateness_us(t0, t0 + Duration::from_millis(3)), 3000);
        assert_eq!(lateness_us(t0 + Duration::from_millis(2), t0), -2000);
    }
}
