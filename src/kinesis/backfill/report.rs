//! How a backfill ended: its running totals, the records it could not send, why it stopped,
//! and the records it hands back unacknowledged (for a resume file).

use std::time::Duration;

use super::queues::Run;
use crate::kinesis::Outgoing;
use crate::kinesis::shards::ShardMapError;

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
    /// Records acknowledged after an earlier send of theirs had an unknown outcome (lost in
    /// transit, a 5xx): Kinesis may hold two copies.
    pub possibly_duplicated: u64,
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
    #[error(
        "cannot build a PutRecords request for `{stream}`: {message} (is an AWS region set, and are credentials available?)"
    )]
    Setup { stream: String, message: String },
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
    #[error(
        "no record acknowledged by stream `{stream}` for {} s with {waiting} record(s) waiting (last error: {last_error}); giving up",
        .after.as_secs()
    )]
    NoProgress {
        stream: String,
        after: Duration,
        waiting: u64,
        last_error: String,
    },
}

/// How the backfill ended.
#[derive(Debug)]
pub struct Report {
    pub stats: Stats,
    pub refused: Vec<Refused>,
    /// Records taken in but not acknowledged (interrupted, or stopped by `error`).
    pub unsent: u64,
    /// Those records themselves (aggregates split again), shard by shard in input order.
    pub unacked: Vec<Outgoing>,
    /// Of `unacked`, those Kinesis may hold already (an earlier send's outcome is unknown).
    pub unacked_maybe_written: u64,
    pub interrupted: bool,
    pub error: Option<BackfillError>,
}

/// The report of a finished run: its totals, and every record still waiting handed back
/// (aggregates split again), with how many of them Kinesis may hold already.
pub(super) fn report(mut run: Run) -> Report {
    let unsent = run.waiting();
    let mut unacked = Vec::new();
    let mut unacked_maybe_written = 0;
    for pending in run.take_waiting() {
        if pending.maybe_written {
            unacked_maybe_written += pending.user_records;
        }
        let label = pending.record.label;
        match crate::kinesis::aggregate::deaggregate(
            &pending.record.partition_key,
            &pending.record.data,
        ) {
            Ok(users) => unacked.extend(users.into_iter().map(|u| Outgoing {
                label: label.clone(),
                data: u.data,
                partition_key: u.partition_key,
            })),
            // Our own aggregates always split; keep the record whole rather than lose it.
            Err(_) => unacked.push(Outgoing {
                label,
                data: pending.record.data,
                partition_key: pending.record.partition_key,
            }),
        }
    }
    let (stats, refused, phase) = run.finish();
    let (interrupted, error) = phase.outcome();
    Report {
        stats,
        refused,
        unsent,
        unacked,
        unacked_maybe_written,
        interrupted,
        error,
    }
}
