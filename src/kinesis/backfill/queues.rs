//! The backfill's waiting room: one queue per shard (and one KPL aggregator per shard), what
//! the next PutRecords request takes from them under the per-shard limits, and when anything
//! may next be sendable; with the run's totals, timers and [`Phase`]. No I/O: the fields are
//! private, and the send loop and the answers change them only through the methods here.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::phase::{Phase, Stop};
use super::{
    Item, MAX_ENTRIES, MAX_QUEUED, MAX_QUEUED_BYTES, MAX_REQUEST_BYTES, Options, Refused, Stats,
};
use crate::kinesis::Outgoing;
use crate::kinesis::aggregate::{Aggregated, Aggregator};
use crate::kinesis::limit::Limiter;
use crate::kinesis::producer::MAX_RECORD_BYTES;
use crate::kinesis::shards::ShardMap;

/// A Kinesis record waiting for its shard: one input record, or a KPL aggregate of several.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) record: Outgoing,
    pub(super) user_records: u64,
    /// Sends so far, less those Kinesis refused as throttled (a throttle is not an attempt:
    /// see `answer.rs`).
    pub(super) attempts: u32,
    /// An earlier send's outcome is unknown (lost in transit, a 5xx, abandoned at a stop):
    /// Kinesis may hold it already, so sending it again may make a copy.
    pub(super) maybe_written: bool,
}

impl Pending {
    pub(super) fn bytes(&self) -> usize {
        self.record.data.len() + self.record.partition_key.len()
    }
}

/// The mutable side of one run.
pub(super) struct Run {
    phase: Phase,
    map: ShardMap,
    /// `true` when the stream's shards could not be listed: the whole stream is metered as one
    /// shard and answers naming other shards do not trigger a re-read.
    blind: bool,
    limiter: Limiter,
    queues: Vec<VecDeque<Pending>>,
    aggregators: Vec<(Aggregator, Instant)>,
    queued: usize,
    queued_bytes: usize,
    /// Bytes held in unfinished aggregates.
    aggregated_bytes: usize,
    stats: Stats,
    refused: Vec<Refused>,
    /// Nothing is sent before this (after a request failed as a whole).
    hold_until: Instant,
    /// No request goes out before this: a request that was not full is followed by the next
    /// only once the shards' bursts are whole again (or a linger, if that is longer).
    next_send: Instant,
    remap_at: Instant,
    remapped_at: Instant,
    remap_now: bool,
    /// Round-robin start for the next request.
    next_shard: usize,
    /// The last acknowledgement, or the last time nothing was waiting: the backfill gives up
    /// when nothing has been acknowledged for `Options::give_up_after` while records wait.
    last_progress: Instant,
    /// Whole requests refused as throttled in a row (the backoff grows with it).
    throttle_streak: u32,
    /// The last failure seen, for the message when the backfill gives up.
    last_error: String,
    /// How long the run waits at least for admissible records to fill a request, and for an
    /// idle shard's aggregate.
    linger: Duration,
    remap_every: Duration,
}

impl Pending {
    pub(super) fn aggregate(done: Aggregated) -> Pending {
        Pending {
            user_records: done.user_records as u64,
            record: Outgoing {
                label: format!("aggregate of {} records", done.user_records),
                data: done.data,
                partition_key: done.partition_key,
            },
            attempts: 0,
            maybe_written: false,
        }
    }
}

impl Run {
    pub(super) fn new(map: ShardMap, blind: bool, options: &Options, now: Instant) -> Run {
        let n = map.len();
        Run {
            phase: Phase::Reading,
            linger: options.linger,
            remap_every: options.remap_every,
            limiter: Limiter::new(options.limits, n, MAX_ENTRIES, now),
            queues: (0..n).map(|_| VecDeque::new()).collect(),
            aggregators: (0..n).map(|_| (aggregator(), now)).collect(),
            queued: 0,
            queued_bytes: 0,
            aggregated_bytes: 0,
            stats: Stats {
                shards: n,
                ..Stats::default()
            },
            refused: Vec::new(),
            hold_until: now,
            next_send: now,
            remap_at: now + options.remap_every,
            remapped_at: now,
            remap_now: false,
            next_shard: 0,
            last_progress: now,
            throttle_streak: 0,
            last_error: "none".to_owned(),
            map,
            blind,
        }
    }

    // The phase.

    pub(super) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The input has closed: what waits is sent, then the run is done.
    pub(super) fn input_ended(&mut self) {
        if matches!(self.phase, Phase::Reading) {
            self.phase = Phase::Draining;
        }
    }

    /// Stops the run; requests in flight may answer for `grace` more.
    pub(super) fn stop(&mut self, cause: Stop, now: Instant, grace: Duration) {
        self.phase.stop(cause, now + grace);
    }

    /// Whether input is taken now: still reading, and room in the queues.
    pub(super) fn takes_input(&self) -> bool {
        matches!(self.phase, Phase::Reading) && self.has_room()
    }

    /// Whether the run is over, once no request is in flight: stopping, or the input ended
    /// and everything was sent.
    pub(super) fn is_done(&self) -> bool {
        match self.phase {
            Phase::Reading => false,
            Phase::Draining => self.is_drained(),
            Phase::Stopping { .. } => true,
        }
    }

    // Totals.

    pub(super) fn stats(&self) -> &Stats {
        &self.stats
    }

    pub(super) fn shards(&self) -> usize {
        self.map.len()
    }

    /// Records taken in and not yet acknowledged or refused.
    pub(super) fn waiting(&self) -> u64 {
        self.stats.read - self.stats.sent - self.stats.refused
    }

    pub(super) fn last_error(&self) -> &str {
        &self.last_error
    }

    // Progress: the backfill gives up when nothing is acknowledged for a while with records
    // waiting.

    /// Nothing waits: no progress is due.
    pub(super) fn idle(&mut self, now: Instant) {
        self.last_progress = now;
    }

    /// When the run gives up if nothing is acknowledged before.
    pub(super) fn gives_up_at(&self, after: Duration) -> Instant {
        self.last_progress + after
    }

    // Sending.

    /// Whether a request may go out now: no hold after a failed request, and the spacing
    /// after the last one that was not full.
    pub(super) fn may_send(&self, now: Instant) -> bool {
        now >= self.hold_until && now >= self.next_send
    }

    /// A request of `batch` went out. After a full one the next goes as soon as the shards
    /// can have earned another full one (on many shards that is before the linger is over);
    /// after another, once the shards' bursts are whole again, and a linger at least. On a
    /// stream of few shards every request is then full, where one every linger would carry a
    /// third as much, and each costs the SDK's signing and serialising, a round trip and the
    /// wake-ups; after a full one, going at once would send the few records admissible since
    /// in a request of their own.
    pub(super) fn sent(&mut self, batch: &[Pending], now: Instant) {
        self.stats.requests += 1;
        self.next_send = if batch.len() == MAX_ENTRIES {
            now + self.limiter.fill_time(MAX_ENTRIES)
        } else {
            now + self.linger.max(self.limiter.refill())
        };
    }

    /// Nothing is sent before `until` (after a request failed as a whole).
    pub(super) fn hold(&mut self, until: Instant) {
        self.hold_until = self.hold_until.max(until);
    }

    // The shard map.

    pub(super) fn map(&self) -> &ShardMap {
        &self.map
    }

    /// Whether the shard map is due to be read again: on schedule, or at once (at most once a
    /// second: an emulator may keep answering for a shard it has closed) after an answer
    /// named a shard the map does not hold.
    pub(super) fn remap_due(&self, now: Instant) -> bool {
        let soon = self.remap_now && now >= self.remapped_at + Duration::from_secs(1);
        soon || now >= self.remap_at
    }

    /// The map is being read again now; `false` when there is no map to read (the shards
    /// could not be listed).
    pub(super) fn remapping(&mut self, now: Instant) -> bool {
        self.remap_now = false;
        self.remap_at = now + self.remap_every;
        self.remapped_at = now;
        !self.blind
    }

    /// The stream was resharded: every waiting record is re-filed under `map`.
    pub(super) fn resharded(&mut self, map: ShardMap, now: Instant) {
        self.stats.reshards += 1;
        self.refile(map, now);
    }

    // Input.

    /// Takes one input record into its shard's queue (or aggregate); one Kinesis can never
    /// take is refused (and handed back, to be named in the log).
    pub(super) fn intake(&mut self, item: Item, aggregate: bool) -> Result<(), &Refused> {
        self.stats.read += 1;
        let record = item.record;
        let bytes = record.data.len() + record.partition_key.len();
        if bytes > MAX_RECORD_BYTES {
            self.stats.refused += 1;
            self.refused.push(Refused {
                index: item.index,
                label: record.label,
                bytes,
            });
            return Err(&self.refused[self.refused.len() - 1]);
        }
        let shard = self.map.shard_for(&record.partition_key);
        if aggregate {
            // A record too big to share an aggregate comes back out plain, in its turn.
            let (aggregator, started) = &mut self.aggregators[shard];
            let before = aggregator.encoded_len();
            if aggregator.is_empty() {
                *started = Instant::now();
            }
            let full = aggregator.push(&record.partition_key, &record.data);
            if full.is_some() {
                *started = Instant::now();
            }
            // `aggregated_bytes` includes this aggregator's `before`.
            self.aggregated_bytes = (self.aggregated_bytes + aggregator.encoded_len()) - before;
            if let Some(done) = full {
                self.push(shard, Pending::aggregate(done));
            }
            return Ok(());
        }
        self.push(
            shard,
            Pending {
                record,
                user_records: 1,
                attempts: 0,
                maybe_written: false,
            },
        );
        Ok(())
    }

    // Answers.

    /// An entry Kinesis acknowledged, on `shard_id`.
    pub(super) fn acked(&mut self, pending: &Pending, shard_id: &str) {
        if pending.maybe_written {
            self.stats.possibly_duplicated += pending.user_records;
        }
        if self.limiter.any_throttled() {
            let shard = self.map.shard_for(&pending.record.partition_key);
            self.limiter.clear_throttles(shard);
        }
        self.stats.sent += pending.user_records;
        self.stats.kinesis_records += 1;
        self.stats.bytes += pending.record.data.len() as u64;
        if !self.blind && self.map.index_of(shard_id).is_none() {
            // An answer from a shard the map does not hold: the stream was resharded.
            self.remap_now = true;
        }
    }

    /// An answer acknowledged something: the give-up clock and the throttle streak restart.
    pub(super) fn progressed(&mut self, now: Instant) {
        self.last_progress = now;
        self.throttle_streak = 0;
    }

    /// An entry refused as over its shard's throughput: not an attempt. Returns its shard.
    pub(super) fn entry_throttled(&mut self, pending: &mut Pending) -> usize {
        self.stats.throttled += 1;
        pending.attempts = pending.attempts.saturating_sub(1);
        self.map.shard_for(&pending.record.partition_key)
    }

    /// One backoff for a throttled shard (per answer), growing while it stays busy.
    pub(super) fn shard_throttled(&mut self, shard: usize, now: Instant) {
        self.limiter.throttled(shard, now);
    }

    /// A whole request of `entries` refused as throttled.
    pub(super) fn request_throttled(&mut self, entries: usize) {
        self.stats.throttled += entries as u64;
        self.throttle_streak += 1;
    }

    /// Whole requests refused as throttled in a row.
    pub(super) fn throttle_streak(&self) -> u32 {
        self.throttle_streak
    }

    /// A failed record goes back to the front of its queue, `message` remembered for the
    /// give-up message; `retried` when it is to be sent again (not kept for the resume file).
    pub(super) fn failed(&mut self, pending: Pending, message: &str, retried: bool) {
        self.last_error.clear();
        self.last_error.push_str(message);
        if retried {
            self.stats.retried += 1;
        }
        self.requeue_front(pending);
    }

    // The end.

    /// What the run leaves: its totals, the records refused, and how it ended.
    pub(super) fn finish(self) -> (Stats, Vec<Refused>, Phase) {
        (self.stats, self.refused, self.phase)
    }

    fn has_room(&self) -> bool {
        self.queued < MAX_QUEUED && self.queued_bytes + self.aggregated_bytes < MAX_QUEUED_BYTES
    }

    /// Nothing waits (no queued record, no unfinished aggregate).
    pub(super) fn is_drained(&self) -> bool {
        self.queued == 0 && self.aggregators.iter().all(|(a, _)| a.is_empty())
    }

    /// Puts a record back at the front of its shard's queue (it goes next, in its order).
    pub(super) fn requeue_front(&mut self, pending: Pending) {
        let shard = self.map.shard_for(&pending.record.partition_key);
        self.queued += 1;
        self.queued_bytes += pending.bytes();
        self.queues[shard].push_front(pending);
    }

    fn push(&mut self, shard: usize, pending: Pending) {
        self.queued += 1;
        self.queued_bytes += pending.bytes();
        self.queues[shard].push_back(pending);
    }

    /// Finishes the aggregates that have waited a linger with their shard idle, or all of them
    /// at the end of the input.
    pub(super) fn flush_aggregates(&mut self, now: Instant) {
        let all = !matches!(self.phase, Phase::Reading);
        let linger = self.linger;
        for shard in 0..self.aggregators.len() {
            let (aggregator, started) = &mut self.aggregators[shard];
            if aggregator.is_empty() {
                continue;
            }
            let idle = self.queues[shard].is_empty() && now >= *started + linger;
            if !(all || idle) {
                continue;
            }
            let held = aggregator.encoded_len();
            if let Some(done) = aggregator.finish() {
                self.aggregated_bytes = self.aggregated_bytes.saturating_sub(held);
                self.push(shard, Pending::aggregate(done));
            }
        }
    }

    /// The next request: records whose shard may take them now, one shard at a time in turn,
    /// up to Kinesis's limits on one request.
    pub(super) fn take_batch(&mut self, now: Instant) -> Vec<Pending> {
        let shards = self.queues.len();
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        let mut blocked = vec![false; shards];
        let mut open = shards;
        let mut shard = self.next_shard % shards.max(1);
        while open > 0 && batch.len() < MAX_ENTRIES {
            if !blocked[shard] {
                let fits = self.queues[shard]
                    .front()
                    .map(|p| (p.bytes(), bytes + p.bytes() <= MAX_REQUEST_BYTES));
                match fits {
                    Some((size, true)) if self.limiter.ready_at(shard) <= now => {
                        let mut pending = self.queues[shard]
                            .pop_front()
                            .unwrap_or_else(|| unreachable!());
                        self.limiter.take(shard, size, now);
                        self.queued -= 1;
                        self.queued_bytes = self.queued_bytes.saturating_sub(size);
                        bytes += size;
                        pending.attempts += 1;
                        batch.push(pending);
                    }
                    _ => {
                        blocked[shard] = true;
                        open -= 1;
                    }
                }
            }
            shard = (shard + 1) % shards;
        }
        self.next_shard = shard;
        batch
    }

    /// When something may next be sendable: the spacing after the last request, a shard's
    /// limiter allowing its next record, an aggregate due, or the end of a hold.
    pub(super) fn next_wake(&self, slots_free: bool) -> Option<Instant> {
        let linger = self.linger;
        let mut wake: Option<Instant> = None;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        at(self.remap_at);
        if !slots_free {
            return wake;
        }
        for (shard, queue) in self.queues.iter().enumerate() {
            if !queue.is_empty() {
                at(self
                    .limiter
                    .ready_at(shard)
                    .max(self.next_send)
                    .max(self.hold_until));
            }
        }
        // An aggregate is finished early only when its shard has nothing else queued.
        for ((aggregator, started), queue) in self.aggregators.iter().zip(&self.queues) {
            if !aggregator.is_empty() && queue.is_empty() {
                at(*started + linger);
            }
        }
        wake
    }

    /// Everything still waiting (queues, then unfinished aggregates), taken out: what a
    /// stopped backfill leaves unsent.
    pub(super) fn take_waiting(&mut self) -> Vec<Pending> {
        let mut waiting: Vec<Pending> = self.queues.iter_mut().flat_map(|q| q.drain(..)).collect();
        for (aggregator, _) in &mut self.aggregators {
            if let Some(done) = aggregator.finish() {
                waiting.push(Pending::aggregate(done));
            }
        }
        self.queued = 0;
        self.queued_bytes = 0;
        self.aggregated_bytes = 0;
        waiting
    }

    /// Re-files every waiting record under a new shard map.
    fn refile(&mut self, map: ShardMap, now: Instant) {
        let n = map.len();
        let mut waiting: Vec<Pending> = self.queues.drain(..).flatten().collect();
        for (mut aggregator, _) in self.aggregators.drain(..) {
            if let Some(done) = aggregator.finish() {
                waiting.push(Pending::aggregate(done));
            }
        }
        self.map = map;
        self.limiter.reset(n, now);
        self.queues = (0..n).map(|_| VecDeque::new()).collect();
        self.aggregators = (0..n).map(|_| (aggregator(), now)).collect();
        self.queued = 0;
        self.queued_bytes = 0;
        self.aggregated_bytes = 0;
        self.stats.shards = n;
        for pending in waiting {
            let shard = self.map.shard_for(&pending.record.partition_key);
            self.push(shard, pending);
        }
    }
}

/// Aggregates fill up to the record limit, less room for the partition key.
fn aggregator() -> Aggregator {
    Aggregator::new(MAX_RECORD_BYTES)
}

#[cfg(test)]
#[path = "queues_tests.rs"]
mod tests;
