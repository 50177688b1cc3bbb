//! The backfill's waiting room: one queue per shard (and one KPL aggregator per shard), what
//! the next PutRecords request takes from them under the per-shard limits, and when anything
//! may next be sendable. No I/O.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::{
    MAX_ENTRIES, MAX_QUEUED, MAX_QUEUED_BYTES, MAX_REQUEST_BYTES, Options, Refused, Stats,
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
    pub(super) map: ShardMap,
    /// `true` when the stream's shards could not be listed: the whole stream is metered as one
    /// shard and answers naming other shards do not trigger a re-read.
    pub(super) blind: bool,
    pub(super) limiter: Limiter,
    pub(super) queues: Vec<VecDeque<Pending>>,
    pub(super) aggregators: Vec<(Aggregator, Instant)>,
    pub(super) queued: usize,
    pub(super) queued_bytes: usize,
    /// Bytes held in unfinished aggregates.
    pub(super) aggregated_bytes: usize,
    pub(super) stats: Stats,
    pub(super) refused: Vec<Refused>,
    /// Nothing is sent before this (after a request failed as a whole).
    pub(super) hold_until: Instant,
    pub(super) last_send: Instant,
    pub(super) remap_at: Instant,
    pub(super) remapped_at: Instant,
    pub(super) remap_now: bool,
    /// Round-robin start for the next request.
    pub(super) next_shard: usize,
    /// The last acknowledgement, or the last time nothing was waiting: the backfill gives up
    /// when nothing has been acknowledged for `Options::give_up_after` while records wait.
    pub(super) last_progress: Instant,
    /// Whole requests refused as throttled in a row (the backoff grows with it).
    pub(super) throttle_streak: u32,
    /// The last failure seen, for the message when the backfill gives up.
    pub(super) last_error: String,
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
            limiter: Limiter::new(options.limits, n, now),
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
            last_send: now - options.linger,
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

    pub(super) fn has_room(&self) -> bool {
        self.queued < MAX_QUEUED && self.queued_bytes + self.aggregated_bytes < MAX_QUEUED_BYTES
    }

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

    pub(super) fn push(&mut self, shard: usize, pending: Pending) {
        self.queued += 1;
        self.queued_bytes += pending.bytes();
        self.queues[shard].push_back(pending);
    }

    /// Finishes the aggregates that have waited a linger with their shard idle, or all of them
    /// at the end of the input.
    pub(super) fn flush_aggregates(&mut self, all: bool, linger: Duration, now: Instant) {
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

    /// When something may next be sendable: the linger after the last request, a shard's limiter
    /// allowing its next record, an aggregate due, or the end of a hold.
    pub(super) fn next_wake(&self, linger: Duration, slots_free: bool) -> Option<Instant> {
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
                    .max(self.last_send + linger)
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
    pub(super) fn refile(&mut self, map: ShardMap, now: Instant) {
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
