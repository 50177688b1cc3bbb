//! Backfill: send a stream of records as fast as the Kinesis stream allows.
//!
//! Records are grouped by the shard their partition key lands on ([`ShardMap`]), each shard is
//! kept under its own limits ([`Limiter`]), and PutRecords requests (≤ 500 entries, ≤ 5 MiB)
//! go out several at a time. When Kinesis refuses some entries of a request (per-entry
//! `ErrorCode`), only those are queued again, at the front of their shard's queue; a throttled
//! shard also waits out a backoff. A whole request that fails in transit is sent again, which
//! may duplicate records (the response was lost) but never loses one.
//!
//! Memory stays flat: the input is read only while fewer than [`MAX_QUEUED`] records (and
//! [`MAX_QUEUED_BYTES`]) wait (plus one chunk from the input), and at most `in_flight` requests
//! are out at once.

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Outgoing;
use super::aggregate::Aggregator;
use super::limit::{Limiter, Limits};
use super::producer::MAX_RECORD_BYTES;
use super::shards::{Shard, ShardMap, ShardMapError};

/// Kinesis's limits on one PutRecords request.
pub const MAX_ENTRIES: usize = 500;
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Records (or aggregates) waiting to be sent before the input is held back.
pub const MAX_QUEUED: usize = 10_000;
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// How the backfill behaves.
#[derive(Debug, Clone)]
pub struct Options {
    pub limits: Limits,
    /// PutRecords requests out at once.
    pub in_flight: usize,
    /// Pack small records into KPL aggregates.
    pub aggregate: bool,
    /// How long admissible records may wait for more to fill a request.
    pub linger: Duration,
    /// Sends of one entry before the backfill gives up on it (and stops).
    pub attempts: u32,
    /// How often the shard map is read again (it is also read when an answer names a shard
    /// the map does not hold).
    pub remap_every: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            in_flight: 8,
            aggregate: false,
            linger: Duration::from_millis(50),
            attempts: 10,
            remap_every: Duration::from_secs(30),
        }
    }
}

/// One input record, numbered from 0 in input order.
#[derive(Debug)]
pub struct Item {
    pub index: u64,
    pub record: Outgoing,
}

/// Running totals, published after every answer (for the progress display).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Input records taken in.
    pub read: u64,
    /// Input records acknowledged by Kinesis.
    pub sent: u64,
    /// Kinesis records acknowledged (fewer than `sent` when aggregating).
    pub kinesis_records: u64,
    /// Data bytes acknowledged.
    pub bytes: u64,
    pub requests: u64,
    /// Entries sent again after a failure.
    pub retried: u64,
    /// Entries Kinesis refused as over its shard's throughput.
    pub throttled: u64,
    /// Records set aside because Kinesis can never take them (over 1 MiB with the key).
    pub refused: u64,
    /// Times the shard map was found changed.
    pub reshards: u32,
    pub shards: usize,
}

/// A record Kinesis can never take.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub index: u64,
    pub label: String,
    pub bytes: usize,
}

/// Why the backfill stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    ShardMap(#[from] ShardMapError),
    #[error("Kinesis stream `{stream}` not found at {endpoint}")]
    StreamNotFound { stream: String, endpoint: String },
    #[error("Kinesis rejected PutRecords to stream `{stream}` at {endpoint}: {message}")]
    Rejected {
        stream: String,
        endpoint: String,
        message: String,
    },
    #[error("a PutRecords task failed: {0}")]
    Internal(String),
    #[error(
        "record {label} failed {attempts} times on stream `{stream}` (last error: {message}); stopping"
    )]
    Exhausted {
        stream: String,
        label: String,
        attempts: u32,
        message: String,
    },
}

/// How the backfill ended.
#[derive(Debug)]
pub struct Report {
    pub stats: Stats,
    pub refused: Vec<Refused>,
    /// Records taken in but not acknowledged (interrupted, or stopped by `error`).
    pub unsent: u64,
    pub interrupted: bool,
    pub error: Option<BackfillError>,
}

/// A Kinesis record waiting for its shard: one input record, or a KPL aggregate of several.
#[derive(Debug)]
struct Pending {
    record: Outgoing,
    user_records: u64,
    attempts: u32,
}

impl Pending {
    fn bytes(&self) -> usize {
        self.record.data.len() + self.record.partition_key.len()
    }
}

type Answer = (
    Vec<Pending>,
    Result<PutRecordsOutput, SdkError<PutRecordsError>>,
);

/// Sends records to one stream as fast as its shards allow.
pub struct Backfill {
    client: aws_sdk_kinesis::Client,
    stream: String,
    endpoint: String,
    options: Options,
}

/// The mutable side of one run.
struct Run {
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
    last_send: Instant,
    remap_at: Instant,
    remapped_at: Instant,
    remap_now: bool,
    /// Round-robin start for the next request.
    next_shard: usize,
}

impl Backfill {
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream: String,
        endpoint: Option<&url::Url>,
        options: Options,
    ) -> Self {
        let endpoint = endpoint.map_or_else(|| "the AWS endpoint".to_owned(), |u| u.to_string());
        Self {
            client,
            stream,
            endpoint,
            options,
        }
    }

    /// Reads the shard map; without permission to list shards, meters the stream as one shard.
    async fn load_map(&self) -> Result<(ShardMap, bool), BackfillError> {
        match ShardMap::load(&self.client, &self.stream, &self.endpoint).await {
            Ok(map) => Ok((map, false)),
            Err(ShardMapError::Api { message, .. }) if message.contains("AccessDenied") => {
                tracing::warn!(
                    stream = %self.stream, error = %message,
                    "cannot list the shards of {} ({message}); limiting the whole stream as one shard (grant kinesis:ListShards for full speed)",
                    self.stream
                );
                let whole = Shard {
                    id: String::new(),
                    start: 0,
                    end: u128::MAX,
                };
                Ok((
                    ShardMap::new(vec![whole]).unwrap_or_else(|| unreachable!()),
                    true,
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends every record from `input` (until it closes) and reports how it went. Totals are
    /// published on `progress` as they change.
    pub async fn run(
        &self,
        mut input: mpsc::Receiver<Vec<Item>>,
        shutdown: &CancellationToken,
        progress: &watch::Sender<Stats>,
    ) -> Report {
        let now = Instant::now();
        let (map, blind) = match self.load_map().await {
            Ok(m) => m,
            Err(e) => {
                return Report {
                    stats: Stats::default(),
                    refused: Vec::new(),
                    unsent: 0,
                    interrupted: false,
                    error: Some(e),
                };
            }
        };
        let mut run = Run::new(map, blind, &self.options, now);
        tracing::info!(
            stream = %self.stream, shards = run.map.len(),
            "backfill into {}: {} open shard(s), at most {} records/s and {} bytes/s per shard",
            self.stream, run.map.len(), self.options.limits.records_per_sec, self.options.limits.bytes_per_sec
        );
        let mut in_flight: JoinSet<Answer> = JoinSet::new();
        let mut input_open = true;
        let mut error = None;
        let mut interrupted = false;
        loop {
            let stopping = error.is_some() || interrupted;
            // Take in what the queues have room for.
            while input_open && !stopping && run.has_room() {
                match input.try_recv() {
                    Ok(items) => self.intake_all(&mut run, items),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => input_open = false,
                }
            }
            if !stopping {
                // An unknown shard in an answer: re-read at once, but at most once a second
                // (an emulator may keep answering for a shard it has closed).
                let now = Instant::now();
                let due = run.remap_now && now >= run.remapped_at + Duration::from_secs(1);
                if (due || now >= run.remap_at)
                    && let Err(e) = self.remap(&mut run).await
                {
                    // The map in hand still routes every record; a stale one costs throttles at
                    // worst, and the next re-read may well succeed.
                    tracing::warn!(
                        stream = %self.stream, error = %e,
                        "re-reading the shard map of {} failed ({e}); keeping the current one, next try in {} s",
                        self.stream, self.options.remap_every.as_secs()
                    );
                }
                run.flush_aggregates(!input_open, self.options.linger, Instant::now());
                while in_flight.len() < self.options.in_flight {
                    let now = Instant::now();
                    if now < run.hold_until || now < run.last_send + self.options.linger {
                        break;
                    }
                    let batch = run.take_batch(now);
                    if batch.is_empty() {
                        break;
                    }
                    let full = batch.len() == MAX_ENTRIES;
                    run.last_send = if full {
                        // More may be admissible right away.
                        now - self.options.linger
                    } else {
                        now
                    };
                    run.stats.requests += 1;
                    in_flight.spawn(self.put(batch));
                }
            }
            if in_flight.is_empty() && (stopping || (!input_open && run.is_drained())) {
                break;
            }
            // With every request slot taken, only an answer (or input) can let more go out:
            // waking for a due shard then would spin.
            let slots_free = in_flight.len() < self.options.in_flight;
            let wake = run.next_wake(self.options.linger, slots_free);
            let accept = input_open && !stopping && run.has_room();
            tokio::select! {
                items = input.recv(), if accept => match items {
                    Some(items) => self.intake_all(&mut run, items),
                    None => input_open = false,
                },
                answer = in_flight.join_next(), if !in_flight.is_empty() => {
                    let filed = match answer {
                        Some(Ok(answer)) => self.answer(&mut run, answer),
                        Some(Err(e)) => Err(BackfillError::Internal(e.to_string())),
                        None => Ok(()),
                    };
                    if let Err(e) = filed {
                        error.get_or_insert(e);
                    }
                    progress.send_replace(run.stats.clone());
                }
                _ = sleep_until_opt(wake), if wake.is_some() && !stopping => {}
                _ = shutdown.cancelled(), if !interrupted => interrupted = true,
            }
        }
        progress.send_replace(run.stats.clone());
        let unsent = run.stats.read - run.stats.sent - run.stats.refused;
        Report {
            stats: run.stats,
            refused: run.refused,
            unsent,
            interrupted,
            error,
        }
    }

    /// Takes a chunk of input records (the queues may go over their bounds by one chunk).
    fn intake_all(&self, run: &mut Run, items: Vec<Item>) {
        for item in items {
            self.intake(run, item);
        }
    }

    /// Takes one input record into its shard's queue (or aggregate).
    fn intake(&self, run: &mut Run, item: Item) {
        run.stats.read += 1;
        let record = item.record;
        let bytes = record.data.len() + record.partition_key.len();
        if bytes > MAX_RECORD_BYTES {
            tracing::error!(
                element = item.index, upc = %record.label, bytes,
                "element {} ({}) is {bytes} bytes with its partition key; a Kinesis record holds at most {MAX_RECORD_BYTES}: not sent",
                item.index, record.label
            );
            run.stats.refused += 1;
            run.refused.push(Refused {
                index: item.index,
                label: record.label,
                bytes,
            });
            return;
        }
        let shard = run.map.shard_for(&record.partition_key);
        if self.options.aggregate {
            // A record too big to share an aggregate comes back out plain, in its turn.
            let (aggregator, started) = &mut run.aggregators[shard];
            let before = aggregator.encoded_len();
            if aggregator.is_empty() {
                *started = Instant::now();
            }
            let full = aggregator.push(&record.partition_key, &record.data);
            if full.is_some() {
                *started = Instant::now();
            }
            // `aggregated_bytes` includes this aggregator's `before`.
            run.aggregated_bytes = (run.aggregated_bytes + aggregator.encoded_len()) - before;
            if let Some(done) = full {
                run.push(shard, Pending::aggregate(done));
            }
            return;
        }
        run.push(
            shard,
            Pending {
                record,
                user_records: 1,
                attempts: 0,
            },
        );
    }

    /// Reads the shard map again; when it changed, re-files every waiting record.
    async fn remap(&self, run: &mut Run) -> Result<(), BackfillError> {
        run.remap_now = false;
        run.remap_at = Instant::now() + self.options.remap_every;
        run.remapped_at = Instant::now();
        if run.blind {
            return Ok(());
        }
        let (map, _) = self.load_map().await?;
        if map == run.map {
            return Ok(());
        }
        tracing::info!(
            stream = %self.stream, shards = map.len(), was = run.map.len(),
            "stream {} resharded: {} open shard(s), was {}; re-reading the shard map",
            self.stream, map.len(), run.map.len()
        );
        run.stats.reshards += 1;
        run.refile(map, Instant::now());
        Ok(())
    }

    /// One PutRecords request; the batch comes back with the answer.
    fn put(&self, batch: Vec<Pending>) -> impl Future<Output = Answer> + Send + 'static {
        let request = self.client.put_records().stream_name(&self.stream);
        let entries: Vec<PutRecordsRequestEntry> = batch
            .iter()
            .map(|p| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(p.record.data.clone()))
                    .partition_key(&p.record.partition_key)
                    .build()
                    .expect("data and partition key are always set")
            })
            .collect();
        let request = request.set_records(Some(entries));
        async move { (batch, request.send().await) }
    }

    /// Files the answer to one request: acknowledged entries are counted, failed ones queued
    /// again at the front of their shard.
    fn answer(&self, run: &mut Run, (batch, result): Answer) -> Result<(), BackfillError> {
        let now = Instant::now();
        let output = match result {
            Ok(output) => output,
            Err(e) => return self.request_failed(run, batch, e, now),
        };
        if output.records.len() != batch.len() {
            let message = format!(
                "PutRecords answered {} entries for {} sent",
                output.records.len(),
                batch.len()
            );
            return self.retry_batch(run, batch, message, now);
        }
        let mut retry: Vec<(Pending, String)> = Vec::new();
        for (pending, entry) in batch.into_iter().zip(output.records) {
            match entry.error_code {
                None => {
                    run.stats.sent += pending.user_records;
                    run.stats.kinesis_records += 1;
                    run.stats.bytes += pending.record.data.len() as u64;
                    let shard = entry.shard_id.unwrap_or_default();
                    if !run.blind && run.map.index_of(&shard).is_none() {
                        // An answer from a shard the map does not hold: the stream was resharded.
                        run.remap_now = true;
                    }
                }
                Some(code) => {
                    let shard = run.map.shard_for(&pending.record.partition_key);
                    if code == "ProvisionedThroughputExceededException" {
                        run.stats.throttled += 1;
                        let attempt = pending.attempts;
                        run.limiter.hold(
                            shard,
                            now + crate::backoff::delay(Duration::from_millis(100), attempt.max(1)),
                        );
                    }
                    let message = match entry.error_message {
                        Some(m) => format!("{code}: {m}"),
                        None => code,
                    };
                    retry.push((pending, message));
                }
            }
        }
        for (pending, message) in retry.into_iter().rev() {
            self.requeue(run, pending, message)?;
        }
        Ok(())
    }

    fn request_failed(
        &self,
        run: &mut Run,
        batch: Vec<Pending>,
        err: SdkError<PutRecordsError>,
        now: Instant,
    ) -> Result<(), BackfillError> {
        let retryable = match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let status = se.raw().status().as_u16();
                if e.is_resource_not_found_exception() {
                    return Err(BackfillError::StreamNotFound {
                        stream: self.stream.clone(),
                        endpoint: self.endpoint.clone(),
                    });
                }
                e.is_provisioned_throughput_exceeded_exception()
                    || e.is_kms_throttling_exception()
                    || status >= 500
                    || status == 429
                    || matches!(
                        e.code(),
                        Some("InternalFailure" | "ServiceUnavailable" | "ThrottlingException")
                    )
            }
            // Dispatch failures, timeouts, unreadable answers: the records may or may not have
            // been written; sending them again can duplicate but never loses them.
            _ => true,
        };
        let message = match &err {
            SdkError::ServiceError(se) => format!(
                "{}: {}",
                se.err().code().unwrap_or("error"),
                se.err().message().unwrap_or("no message")
            ),
            other => crate::error_chain(other),
        };
        if !retryable {
            return Err(BackfillError::Rejected {
                stream: self.stream.clone(),
                endpoint: self.endpoint.clone(),
                message,
            });
        }
        self.retry_batch(run, batch, message, now)
    }

    /// Sends a whole batch again after a backoff.
    fn retry_batch(
        &self,
        run: &mut Run,
        batch: Vec<Pending>,
        message: String,
        now: Instant,
    ) -> Result<(), BackfillError> {
        let attempt = batch.iter().map(|p| p.attempts).max().unwrap_or(1);
        let delay =
            crate::backoff::delay(Duration::from_millis(200), attempt).min(Duration::from_secs(10));
        tracing::warn!(
            stream = %self.stream, entries = batch.len(), attempt, error = %message,
            retry_in_ms = delay.as_millis() as u64,
            "PutRecords of {} entries to {} failed (attempt {attempt}): {message}; sending them again in {} ms",
            batch.len(), self.stream, delay.as_millis()
        );
        run.hold_until = run.hold_until.max(now + delay);
        for pending in batch.into_iter().rev() {
            self.requeue(run, pending, message.clone())?;
        }
        Ok(())
    }

    fn requeue(
        &self,
        run: &mut Run,
        pending: Pending,
        message: String,
    ) -> Result<(), BackfillError> {
        if pending.attempts >= self.options.attempts {
            return Err(BackfillError::Exhausted {
                stream: self.stream.clone(),
                label: pending.record.label,
                attempts: pending.attempts,
                message,
            });
        }
        run.stats.retried += 1;
        let shard = run.map.shard_for(&pending.record.partition_key);
        run.queued += 1;
        run.queued_bytes += pending.bytes();
        run.queues[shard].push_front(pending);
        Ok(())
    }
}

impl Pending {
    fn aggregate(done: super::aggregate::Aggregated) -> Pending {
        Pending {
            user_records: done.user_records as u64,
            record: Outgoing {
                label: format!("aggregate of {} records", done.user_records),
                data: done.data,
                partition_key: done.partition_key,
            },
            attempts: 0,
        }
    }
}

impl Run {
    fn new(map: ShardMap, blind: bool, options: &Options, now: Instant) -> Run {
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
            map,
            blind,
        }
    }

    fn has_room(&self) -> bool {
        self.queued < MAX_QUEUED && self.queued_bytes + self.aggregated_bytes < MAX_QUEUED_BYTES
    }

    fn is_drained(&self) -> bool {
        self.queued == 0 && self.aggregators.iter().all(|(a, _)| a.is_empty())
    }

    fn push(&mut self, shard: usize, pending: Pending) {
        self.queued += 1;
        self.queued_bytes += pending.bytes();
        self.queues[shard].push_back(pending);
    }

    /// Finishes the aggregates that have waited a linger with their shard idle, or all of them
    /// at the end of the input.
    fn flush_aggregates(&mut self, all: bool, linger: Duration, now: Instant) {
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
    fn take_batch(&mut self, now: Instant) -> Vec<Pending> {
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
    fn next_wake(&self, linger: Duration, slots_free: bool) -> Option<Instant> {
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

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
