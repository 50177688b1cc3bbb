//! Per-shard rate limits for the backfill: a Kinesis shard takes at most 1,000 records and
//! 1 MiB per second, and refuses the excess with `ProvisionedThroughputExceeded`. Keeping each
//! shard under its own limit means a well-spread backfill is never throttled, and a hot key
//! slows only the shard it lands on.
//!
//! Each shard has two GCRA meters (records and bytes). A meter runs at 80% of its limit and
//! lets through a burst of 5% of a second's worth: no 1-second window of sends carries more
//! than 85% of the limit (plus, for bytes, the one record that tipped it over), which leaves
//! room for requests that arrive closer together than they were sent. Pure: the caller passes
//! the time.

use std::time::Duration;

use tokio::time::Instant;

/// What one shard accepts per second (Kinesis: 1,000 records and 1 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub records_per_sec: u32,
    pub bytes_per_sec: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            records_per_sec: 1000,
            bytes_per_sec: 1024 * 1024,
        }
    }
}

/// Share of the limit the meters aim at, and the burst they allow (of one second's worth).
const RATE_SHARE: f64 = 0.80;
const BURST_SHARE: f64 = 0.05;
/// After a throttle, a shard waits 100 ms, doubling (with jitter) while it stays throttled, at
/// most this long.
const THROTTLE_BASE: Duration = Duration::from_millis(100);
const MAX_THROTTLE_HOLD: Duration = Duration::from_secs(1);

/// One GCRA meter: `tat` is when the meter would be empty again.
#[derive(Debug, Clone, Copy)]
struct Meter {
    tat: Instant,
    /// Time one unit costs.
    per_unit: Duration,
    /// How far ahead of now `tat` may run before the next item must wait.
    tolerance: Duration,
}

impl Meter {
    fn new(limit_per_sec: f64, now: Instant) -> Meter {
        let rate = (limit_per_sec * RATE_SHARE).max(f64::MIN_POSITIVE);
        Meter {
            tat: now,
            per_unit: Duration::from_secs_f64(1.0 / rate),
            tolerance: Duration::from_secs_f64(BURST_SHARE / RATE_SHARE),
        }
    }

    /// Earliest time an item may go.
    fn ready_at(&self) -> Instant {
        self.tat.checked_sub(self.tolerance).unwrap_or(self.tat)
    }

    fn take(&mut self, units: u64, now: Instant) {
        let cost = self
            .per_unit
            .saturating_mul(units.min(u32::MAX as u64) as u32);
        self.tat = self.tat.max(now) + cost;
    }
}

#[derive(Debug, Clone, Copy)]
struct ShardMeters {
    records: Meter,
    bytes: Meter,
    /// After a throttle: nothing goes to the shard before this.
    hold_until: Instant,
    /// Answers in a row that found the shard throttled.
    throttles: u32,
}

/// The meters of every shard of the current shard map (by index).
#[derive(Debug, Clone)]
pub struct Limiter {
    limits: Limits,
    shards: Vec<ShardMeters>,
}

impl Limiter {
    pub fn new(limits: Limits, shards: usize, now: Instant) -> Limiter {
        let mut limiter = Limiter {
            limits,
            shards: Vec::new(),
        };
        limiter.reset(shards, now);
        limiter
    }

    /// Fresh meters for a new shard map (after a reshard the shards are new ones).
    pub fn reset(&mut self, shards: usize, now: Instant) {
        let fresh = ShardMeters {
            records: Meter::new(f64::from(self.limits.records_per_sec), now),
            bytes: Meter::new(self.limits.bytes_per_sec as f64, now),
            hold_until: now,
            throttles: 0,
        };
        self.shards = vec![fresh; shards];
    }

    /// Earliest time a record of `bytes` may go to `shard`.
    pub fn ready_at(&self, shard: usize) -> Instant {
        let m = &self.shards[shard];
        m.records
            .ready_at()
            .max(m.bytes.ready_at())
            .max(m.hold_until)
    }

    /// Counts a record of `bytes` sent to `shard` at `now`.
    pub fn take(&mut self, shard: usize, bytes: usize, now: Instant) {
        let m = &mut self.shards[shard];
        m.records.take(1, now);
        m.bytes.take(bytes as u64, now);
    }

    /// Kinesis throttled `shard` (again): it waits a backoff that grows while it stays
    /// throttled, [`MAX_THROTTLE_HOLD`] at most. Returns the wait.
    pub fn throttled(&mut self, shard: usize, now: Instant) -> Duration {
        let m = &mut self.shards[shard];
        m.throttles = m.throttles.saturating_add(1);
        let wait = crate::backoff::delay(THROTTLE_BASE, m.throttles).min(MAX_THROTTLE_HOLD);
        self.hold(shard, now + wait);
        wait
    }

    /// `shard` took a record: its throttle backoff starts again from the bottom.
    pub fn clear_throttles(&mut self, shard: usize) {
        self.shards[shard].throttles = 0;
    }

    /// Whether any shard is in a throttle backoff.
    pub fn any_throttled(&self) -> bool {
        self.shards.iter().any(|m| m.throttles > 0)
    }

    /// After Kinesis throttled `shard`: send it nothing before `until`.
    pub fn hold(&mut self, shard: usize, until: Instant) {
        let m = &mut self.shards[shard];
        m.hold_until = m.hold_until.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives one shard as fast as the limiter allows for `secs`, recording send times.
    fn saturate(limiter: &mut Limiter, record_bytes: usize, secs: u64) -> Vec<Duration> {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(secs);
        let mut now = t0;
        let mut sent = Vec::new();
        while now < end {
            now = now.max(limiter.ready_at(0));
            limiter.take(0, record_bytes, now);
            sent.push(now - t0);
        }
        sent
    }

    /// Most sends in any window of `window` (sliding, anchored at each send).
    fn max_in_window(times: &[Duration], window: Duration) -> usize {
        let mut best = 0;
        let mut j = 0;
        for i in 0..times.len() {
            while times[i] - times[j] >= window {
                j += 1;
            }
            best = best.max(i - j + 1);
        }
        best
    }

    #[test]
    fn no_second_carries_more_than_the_record_limit() {
        let mut l = Limiter::new(Limits::default(), 1, Instant::now());
        let sent = saturate(&mut l, 100, 10);
        let most = max_in_window(&sent, Duration::from_secs(1));
        assert!(most <= 850, "{most} records in one second");
        assert!(most >= 800, "the limiter wastes capacity: {most}/s");
    }

    #[test]
    fn large_records_are_held_to_the_byte_limit() {
        let mut l = Limiter::new(Limits::default(), 1, Instant::now());
        let sent = saturate(&mut l, 100 * 1024, 10);
        let most = max_in_window(&sent, Duration::from_secs(1));
        // 10 records of 100 KiB fill 1 MiB/s: 8 make 80%, one more may tip over, never two.
        assert!(most <= 10, "{most} records of 100 KiB in one second");
        assert!(most >= 8, "{most}");
    }

    #[test]
    fn shards_are_independent_and_a_hold_delays_only_its_shard() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Limits::default(), 2, t0);
        for _ in 0..1000 {
            let at = l.ready_at(0).max(t0);
            l.take(0, 10, at);
        }
        assert!(l.ready_at(0) > t0 + Duration::from_millis(900));
        assert!(l.ready_at(1) <= t0, "shard 1 is untouched");
        l.hold(1, t0 + Duration::from_secs(2));
        assert_eq!(l.ready_at(1), t0 + Duration::from_secs(2));
    }

    #[test]
    fn a_throttled_shard_backs_off_more_while_it_stays_throttled_and_not_forever() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Limits::default(), 2, t0);
        let waits: Vec<Duration> = (0..12).map(|_| l.throttled(0, t0)).collect();
        assert!(
            waits[0] <= THROTTLE_BASE && waits[3] >= THROTTLE_BASE * 4,
            "{waits:?}"
        );
        assert!(waits.iter().all(|&w| w <= MAX_THROTTLE_HOLD), "{waits:?}");
        assert!(
            l.any_throttled() && l.ready_at(1) <= t0,
            "shard 1 untouched"
        );
        l.clear_throttles(0);
        assert!(!l.any_throttled());
        assert!(l.throttled(0, t0) <= THROTTLE_BASE, "back to the bottom");
    }

    #[test]
    fn a_record_larger_than_the_burst_still_goes_then_pays_for_itself() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Limits::default(), 1, t0);
        assert!(l.ready_at(0) <= t0);
        l.take(0, 1024 * 1024, t0);
        let wait = l.ready_at(0) - t0;
        assert!(
            wait > Duration::from_millis(1100) && wait < Duration::from_millis(1300),
            "{wait:?}"
        );
    }
}
