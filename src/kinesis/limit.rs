//! Per-shard rate limits for the backfill: a Kinesis shard takes at most 1,000 records and
//! 1 MiB per second, and refuses the excess with `ProvisionedThroughputExceeded`. Keeping each
//! shard under its own limit means a well-spread backfill is never throttled, and a hot key
//! slows only the shard it lands on.
//!
//! Each shard has two GCRA meters (records and bytes). A meter lets through a burst of what a
//! shard's share of one full PutRecords request needs (500 records over the shards), at least
//! 5% and at most 12.5% of a second's worth, and runs at 85% of its limit less that burst: no
//! 1-second window of sends carries more than 85% of the limit (plus, for bytes, the one record
//! that tipped it over), which leaves room for requests that arrive closer together than they
//! were sent. The bigger burst is for streams of few shards: a request to each of 4 shards can
//! carry 125 records instead of 50, so a backfill sends 500-entry requests, and the per-request
//! cost of the SDK (signing, serialising, a round trip) is paid for a third as many. Pure: the
//! caller passes the time.

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

/// Share of the limit that no 1-second window of sends goes over: the meters' rate plus their
/// burst.
const WINDOW_SHARE: f64 = 0.85;
/// The burst (of one second's worth) is a shard's share of a full request, within these.
const MIN_BURST_SHARE: f64 = 0.05;
const MAX_BURST_SHARE: f64 = 0.125;
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
    /// A meter for `limit_per_sec` that lets `burst` of a second's worth through at once.
    fn new(limit_per_sec: f64, burst: f64, now: Instant) -> Meter {
        let rate_share = WINDOW_SHARE - burst;
        let rate = (limit_per_sec * rate_share).max(f64::MIN_POSITIVE);
        // A unit's cost rounded up and the tolerance down (to whole nanoseconds): rounded the
        // other way, a second could carry one unit over the window share.
        let nanos = |secs: f64, round: fn(f64) -> f64| {
            Duration::from_nanos(round(secs * 1e9).min(u64::MAX as f64) as u64)
        };
        Meter {
            tat: now,
            per_unit: nanos(1.0 / rate, f64::ceil),
            tolerance: nanos(burst / rate_share, f64::floor),
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
    /// Records one full request carries, spread over the shards: each shard's burst is sized
    /// for its share.
    request: usize,
    shards: Vec<ShardMeters>,
}

impl Limiter {
    /// Meters for `shards` shards, with bursts sized for requests of `request` records.
    pub fn new(limits: Limits, shards: usize, request: usize, now: Instant) -> Limiter {
        let mut limiter = Limiter {
            limits,
            request,
            shards: Vec::new(),
        };
        limiter.reset(shards, now);
        limiter
    }

    /// Fresh meters for a new shard map (after a reshard the shards are new ones, and their
    /// number sets each one's share of a request).
    pub fn reset(&mut self, shards: usize, now: Instant) {
        let burst = burst_share(self.request, shards, self.limits.records_per_sec);
        let fresh = ShardMeters {
            records: Meter::new(f64::from(self.limits.records_per_sec), burst, now),
            bytes: Meter::new(self.limits.bytes_per_sec as f64, burst, now),
            hold_until: now,
            throttles: 0,
        };
        self.shards = vec![fresh; shards];
    }

    /// How long a shard whose burst was all taken needs to have it whole again (one unit more,
    /// for the part of a unit the last take left over): the spacing of requests that each take
    /// every shard's burst.
    pub fn refill(&self) -> Duration {
        let whole = |m: &Meter| m.tolerance + m.per_unit;
        self.shards
            .first()
            .map_or(Duration::ZERO, |m| whole(&m.records).max(whole(&m.bytes)))
    }

    /// How long the shards together take to earn `records` more, spread evenly: after a full
    /// request, the soonest the next can be full (on many shards, before every burst is whole).
    pub fn fill_time(&self, records: usize) -> Duration {
        let shards = self.shards.len().max(1) as u128;
        self.shards.first().map_or(Duration::ZERO, |m| {
            let nanos = m.records.per_unit.as_nanos() * records as u128 / shards;
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        })
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

/// A shard's share of a request of `request` records, as a share of its second's worth of
/// records, within [`MIN_BURST_SHARE`] and [`MAX_BURST_SHARE`].
fn burst_share(request: usize, shards: usize, records_per_sec: u32) -> f64 {
    let per_shard = request as f64 / shards.max(1) as f64;
    (per_shard / f64::from(records_per_sec.max(1))).clamp(MIN_BURST_SHARE, MAX_BURST_SHARE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full PutRecords request, as the backfill sizes the bursts.
    const REQUEST: usize = 500;

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
        let mut l = Limiter::new(Limits::default(), 1, REQUEST, Instant::now());
        let sent = saturate(&mut l, 100, 10);
        let most = max_in_window(&sent, Duration::from_secs(1));
        assert!(most <= 850, "{most} records in one second");
        assert!(most >= 800, "the limiter wastes capacity: {most}/s");
    }

    #[test]
    fn large_records_are_held_to_the_byte_limit() {
        let mut l = Limiter::new(Limits::default(), 1, REQUEST, Instant::now());
        let sent = saturate(&mut l, 100 * 1024, 10);
        let most = max_in_window(&sent, Duration::from_secs(1));
        // 10 records of 100 KiB fill 1 MiB/s: 8 make 80%, one more may tip over, never two.
        assert!(most <= 10, "{most} records of 100 KiB in one second");
        assert!(most >= 8, "{most}");
    }

    #[test]
    fn shards_are_independent_and_a_hold_delays_only_its_shard() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Limits::default(), 2, REQUEST, t0);
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
        let mut l = Limiter::new(Limits::default(), 2, REQUEST, t0);
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
        let mut l = Limiter::new(Limits::default(), 1, REQUEST, t0);
        assert!(l.ready_at(0) <= t0);
        l.take(0, 1024 * 1024, t0);
        let wait = l.ready_at(0) - t0;
        assert!(
            wait > Duration::from_millis(1100) && wait < Duration::from_millis(1300),
            "{wait:?}"
        );
    }

    #[test]
    fn on_few_shards_a_shards_share_of_a_full_request_goes_at_once_and_the_window_stays_at_85_percent()
     {
        for shards in [1, 2, 4, 5, 10, 50] {
            let t0 = Instant::now();
            let mut l = Limiter::new(Limits::default(), shards, REQUEST, t0);
            let mut at_once = 0;
            while l.ready_at(0) <= t0 {
                l.take(0, 100, t0);
                at_once += 1;
            }
            let share = (REQUEST / shards).clamp(50, 125);
            assert!(
                (share..=share + 1).contains(&at_once),
                "{shards} shards: {at_once} at once, {share} wanted"
            );
            let mut l = Limiter::new(Limits::default(), shards, REQUEST, t0);
            let sent = saturate(&mut l, 100, 10);
            let most = max_in_window(&sent, Duration::from_secs(1));
            assert!(
                (800..=850).contains(&most),
                "{shards} shards: {most} records in one second"
            );
        }
    }

    #[test]
    fn requests_spaced_by_the_refill_each_find_every_burst_whole() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Limits::default(), 4, REQUEST, t0);
        let mut now = t0;
        for request in 0..20 {
            let mut taken = 0;
            for shard in 0..4 {
                while l.ready_at(shard) <= now {
                    l.take(shard, 430, now);
                    taken += 1;
                }
            }
            assert!(taken >= REQUEST, "request {request}: {taken} records");
            now += l.refill();
        }
    }
}
