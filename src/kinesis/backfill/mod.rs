//! Backfill: send a stream of records as fast as the Kinesis stream allows.
//!
//! Records are grouped by the shard their partition key lands on ([`ShardMap`]), each shard is
//! kept under its own limits ([`Limiter`](super::limit::Limiter)), and PutRecords requests (≤ 500 entries, ≤ 5 MiB)
//! go out several at a time. When Kinesis refuses some entries of a request (per-entry
//! `ErrorCode`), only those are queued again, at the front of their shard's queue; a throttled
//! shard also waits out a backoff. A whole request that fails in transit is sent again, which
//! may duplicate records (the response was lost) but never loses one.
//!
//! Throttling is not failure: an entry refused as over its shard's throughput goes back to its
//! queue without counting as an attempt, however long the shard stays busy. What stops a
//! backfill is an entry failing [`Options::attempts`] times for other reasons, or nothing at
//! all being acknowledged for [`Options::give_up_after`] ([`GIVE_UP_AFTER`] by default) while
//! records wait. A stop (that, a fatal error, an interrupt) hands back every record not
//! acknowledged ([`Report::unacked`]), so the caller can leave a resume point.
//!
//! Memory stays flat: the input is read only while fewer than [`MAX_QUEUED`] records (and
//! [`MAX_QUEUED_BYTES`]) wait (plus one chunk from the input), and at most `in_flight` requests
//! are out at once.

mod answer;
mod phase;
mod queues;
mod report;
pub mod resume;

pub use report::{BackfillError, Refused, Report, Stats};

use std::time::Duration;

use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::limit::Limits;
use super::producer::MAX_RECORD_BYTES;
use super::shards::{Shard, ShardMap, ShardMapError};
use super::{Outgoing, Stream};
use crate::aws::ErrorKind;
use crate::deadline::Deadline;
use crate::events::Event;
use crate::events::backfill::{
    BackfillStarted, RecordTooLarge, RequestsAbandoned, ShardListDenied, ShardMapRereadFailed,
    StreamResharded,
};
use phase::Stop;
use queues::{Pending, Run};

/// Kinesis's limits on one PutRecords request.
pub const MAX_ENTRIES: usize = 500;
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Records (or aggregates) waiting to be sent before the input is held back.
pub const MAX_QUEUED: usize = 10_000;
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// How long the backfill goes on with records waiting and none acknowledged (a shard throttled
/// without end, every request failing) before it gives up: long enough for any burst of
/// throttling the retries are meant to absorb, short enough that a dead stream is noticed.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(300);
/// At a stop, how long requests in flight may take to answer before they are abandoned (their
/// records count as not sent and possibly written).
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// How the backfill behaves.
#[derive(Debug, Clone)]
pub struct Options {
    pub limits: Limits,
    /// PutRecords requests out at once.
    pub in_flight: usize,
    /// Pack small records into KPL aggregates.
    pub aggregate: bool,
    /// How long admissible records may wait at least for more to fill a request (longer when
    /// the shards' bursts take longer to refill: a request that was not full is followed by
    /// the next once every shard can take its share of a full one again).
    pub linger: Duration,
    /// Failed sends of one entry (throttles not counted) before the backfill gives up on it
    /// (and stops).
    pub attempts: u32,
    /// With records waiting, how long without any acknowledgement before the backfill stops.
    pub give_up_after: Duration,
    /// At a stop, how long requests in flight may still answer.
    pub stop_grace: Duration,
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
            give_up_after: GIVE_UP_AFTER,
            stop_grace: STOP_GRACE,
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

/// A request's batch with its answer; `None` when it was abandoned at a stop.
type Answer = (
    Vec<Pending>,
    Option<Result<PutRecordsOutput, SdkError<PutRecordsError>>>,
);

/// Sends records to one stream as fast as its shards allow.
pub struct Backfill {
    stream: Stream,
    options: Options,
}

impl Backfill {
    pub fn new(stream: Stream, options: Options) -> Self {
        Self { stream, options }
    }

    /// Reads the shard map; without permission to list shards, meters the stream as one shard.
    async fn load_map(&self) -> Result<(ShardMap, bool), BackfillError> {
        match ShardMap::load(&self.stream).await {
            Ok(map) => Ok((map, false)),
            Err(ShardMapError::Api {
                kind: ErrorKind::Denied,
                message,
                ..
            }) => {
                ShardListDenied {
                    stream: &self.stream.name,
                    error: &message,
                }
                .emit();
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
        input: &mut mpsc::Receiver<Vec<Item>>,
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
                    unacked: Vec::new(),
                    unacked_maybe_written: 0,
                    interrupted: shutdown.is_cancelled(),
                    error: Some(e),
                };
            }
        };
        let mut run = Run::new(map, blind, &self.options, now);
        BackfillStarted {
            stream: &self.stream.name,
            shards: run.shards(),
            records_per_sec: self.options.limits.records_per_sec,
            bytes_per_sec: self.options.limits.bytes_per_sec,
        }
        .emit();
        let mut in_flight: JoinSet<Answer> = JoinSet::new();
        // Cancelled once a stop's grace is over: requests still out give up their batches.
        let abandon = CancellationToken::new();
        let grace = self.options.stop_grace;
        loop {
            let now = Instant::now();
            if !run.phase().is_stopping() {
                if run.is_drained() && in_flight.is_empty() {
                    // Nothing waits: no progress is due.
                    run.idle(now);
                } else if now >= run.gives_up_at(self.options.give_up_after) {
                    let error = BackfillError::NoProgress {
                        stream: self.stream.name.clone(),
                        after: self.options.give_up_after,
                        waiting: run.waiting(),
                        last_error: run.last_error().to_owned(),
                    };
                    run.stop(Stop::Failed(error), now, grace);
                    continue;
                }
            }
            // Take in what the queues have room for.
            while run.takes_input() {
                match input.try_recv() {
                    Ok(items) => self.intake_all(&mut run, items),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => run.input_ended(),
                }
            }
            if !run.phase().is_stopping() {
                if run.remap_due(Instant::now())
                    && let Err(e) = self.remap(&mut run).await
                {
                    // The map in hand still routes every record; a stale one costs throttles at
                    // worst, and the next re-read may well succeed.
                    ShardMapRereadFailed {
                        stream: &self.stream.name,
                        error: &e,
                        retry_in: self.options.remap_every,
                    }
                    .emit();
                }
                run.flush_aggregates(Instant::now());
                while in_flight.len() < self.options.in_flight {
                    let now = Instant::now();
                    if !run.may_send(now) {
                        break;
                    }
                    let batch = run.take_batch(now);
                    if batch.is_empty() {
                        break;
                    }
                    run.sent(&batch, now);
                    in_flight.spawn(self.put(batch, abandon.clone()));
                }
            }
            if in_flight.is_empty() && run.is_done() {
                break;
            }
            // With every request slot taken, only an answer (or input) can let more go out:
            // waking for a due shard then would spin.
            let slots_free = in_flight.len() < self.options.in_flight;
            let give_up_at = run.gives_up_at(self.options.give_up_after);
            let stopping = run.phase().is_stopping();
            let wake = Some(
                run.next_wake(slots_free)
                    .map_or(give_up_at, |w| w.min(give_up_at)),
            );
            let abandon_at = run.phase().abandon_at();
            let accept = run.takes_input();
            tokio::select! {
                items = input.recv(), if accept => match items {
                    Some(items) => self.intake_all(&mut run, items),
                    None => run.input_ended(),
                },
                answer = in_flight.join_next(), if !in_flight.is_empty() => {
                    let filed = match answer {
                        Some(Ok(answer)) => self.answer(&mut run, answer),
                        Some(Err(e)) => Err(BackfillError::Internal(e.to_string())),
                        None => Ok(()),
                    };
                    if let Err(e) = filed {
                        run.stop(Stop::Failed(e), Instant::now(), grace);
                    }
                    progress.send_replace(run.stats().clone());
                }
                _ = Deadline::from(wake).sleep(), if wake.is_some() && !stopping => {}
                _ = Deadline::from(abandon_at).sleep(), if abandon_at.is_some() && !abandon.is_cancelled() => {
                    RequestsAbandoned {
                        stream: &self.stream.name,
                        requests: in_flight.len(),
                        grace,
                    }
                    .emit();
                    abandon.cancel();
                }
                _ = shutdown.cancelled(), if !stopping => run.stop(Stop::Interrupted, Instant::now(), grace),
            }
        }
        progress.send_replace(run.stats().clone());
        report::report(run)
    }

    /// Takes a chunk of input records (the queues may go over their bounds by one chunk).
    fn intake_all(&self, run: &mut Run, items: Vec<Item>) {
        for item in items {
            if let Err(refused) = run.intake(item, self.options.aggregate) {
                RecordTooLarge {
                    element: refused.index,
                    upc: &refused.label,
                    bytes: refused.bytes,
                    max: MAX_RECORD_BYTES,
                }
                .emit();
            }
        }
    }

    /// Reads the shard map again; when it changed, re-files every waiting record.
    async fn remap(&self, run: &mut Run) -> Result<(), BackfillError> {
        if !run.remapping(Instant::now()) {
            return Ok(());
        }
        let (map, _) = self.load_map().await?;
        if &map == run.map() {
            return Ok(());
        }
        StreamResharded {
            stream: &self.stream.name,
            shards: map.len(),
            was: run.shards(),
        }
        .emit();
        run.resharded(map, Instant::now());
        Ok(())
    }

    /// One PutRecords request; the batch comes back with the answer (or without one, when
    /// `abandon` is cancelled first).
    fn put(
        &self,
        batch: Vec<Pending>,
        abandon: CancellationToken,
    ) -> impl Future<Output = Answer> + Send + 'static {
        let request = self
            .stream
            .client
            .put_records()
            .stream_name(&self.stream.name);
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
        async move {
            tokio::select! {
                answer = request.send() => (batch, Some(answer)),
                _ = abandon.cancelled() => (batch, None),
            }
        }
    }
}
