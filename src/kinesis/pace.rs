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

    /// After a put that ended at `ended`: when that is later than half an interval before
    /// record `next` is due, moves the grid so that `next` is due one interval after `ended`.
    /// Ordinary puts (a few ms, or slow ones well inside the interval) leave the grid as it is.
    pub fn reanchor_if_late(&mut self, next: u32, ended: Instant) {
        if ended + self.interval / 2 > self.due(next) {
            self.start = ended + self.interval - self.interval * next;
        }
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
    fn a_late_put_moves_the_grid_and_an_ordinary_one_does_not() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut p = Pacer::new(t0, second);
        p.reanchor_if_late(1, t0 + Duration::from_millis(150));
        assert_eq!(p.due(1), t0 + second, "a 150 ms put keeps the grid");
        p.reanchor_if_late(3, t0 + Duration::from_secs(10));
        assert_eq!(
            p.due(3),
            t0 + Duration::from_secs(11),
            "one interval after the stall"
        );
        assert_eq!(p.due(4) - p.due(3), second);
    }

    #[test]
    fn lateness_is_signed() {
        let t0 = Instant::now();
        assert_eq!(lateness_us(t0, t0 + Duration::from_millis(3)), 3000);
        assert_eq!(lateness_us(t0 + Duration::from_millis(2), t0), -2000);
    }
}
