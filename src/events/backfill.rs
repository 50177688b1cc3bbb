//! The backfill's events (`stream --interval 0`): its start, what it refuses, resharding,
//! failed requests, its progress and its summary. The send
//! loop's events keep the target `bookstream::kinesis::backfill`, the command's
//! `bookstream::commands::stream`, so `RUST_LOG` filters mean what they meant.

use std::time::Duration;

#[cfg(test)]
use super::Event;
use super::event;
use crate::kinesis::backfill::{Report, Stats};

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    BackfillPlanned::NAME,
    BackfillStarted::NAME,
    ShardListDenied::NAME,
    ShardMapRereadFailed::NAME,
    StreamResharded::NAME,
    RecordTooLarge::NAME,
    PutRecordsFailed::NAME,
    RequestsAbandoned::NAME,
    BackfillProgress::NAME,
    BackfillFinished::NAME,
    ResumeFileSkipped::NAME,
    ResumeFileFailed::NAME,
];

/// The command's own lines (`bookstream::commands::stream`).
const COMMAND: &str = "bookstream::commands::stream";
/// The send loop's (`bookstream::kinesis::backfill`).
const SEND: &str = "bookstream::kinesis::backfill";
/// The progress display's (`bookstream::commands::progress`).
const PROGRESS: &str = "bookstream::commands::progress";

event! {
    /// What the command is about to send (before the shard map is read).
    pub(crate) struct BackfillPlanned<'a> {
        pub source: &'a str,
        pub stream: &'a str,
        /// The records to send, when the input was counted (a regular file).
        pub records: Option<u64>,
    }
    const NAME = "backfill_planned";
    let count = records.map_or_else(|| "all".to_owned(), |n| n.to_string());
    info!(target: COMMAND, source, stream, records,
        "backfill: {count} records from {source} to {stream}");
}

event! {
    /// The shard map is read: the limits the backfill keeps to.
    pub(crate) struct BackfillStarted<'a> {
        pub stream: &'a str,
        pub shards: usize,
        pub records_per_sec: u32,
        pub bytes_per_sec: u64,
    }
    const NAME = "backfill_started";
    info!(target: SEND, stream, shards, records_per_sec, bytes_per_sec,
        "backfill into {stream}: {shards} open shard(s), at most {records_per_sec} records/s and {bytes_per_sec} bytes/s per shard");
}

event! {
    /// No permission to list the shards: the whole stream is metered as one shard (slower,
    /// never over a shard's limits).
    pub(crate) struct ShardListDenied<'a> { pub stream: &'a str, pub error: &'a str }
    const NAME = "shard_list_denied";
    warn!(target: SEND, stream, error,
        "cannot list the shards of {stream} ({error}); limiting the whole stream as one shard (grant kinesis:ListShards for full speed)");
}

event! {
    /// A re-read of the shard map failed; the map in hand is kept.
    pub(crate) struct ShardMapRereadFailed<'a> {
        pub stream: &'a str,
        pub error: &'a dyn std::fmt::Display,
        pub retry_in: Duration,
    }
    const NAME = "shard_map_reread_failed";
    warn!(target: SEND, stream, %error,
        "re-reading the shard map of {stream} failed ({error}); keeping the current one, next try in {} s",
        retry_in.as_secs());
}

event! {
    /// The stream's shards changed: every waiting record is re-filed.
    pub(crate) struct StreamResharded<'a> { pub stream: &'a str, pub shards: usize, pub was: usize }
    const NAME = "stream_resharded";
    info!(target: SEND, stream, shards, was,
        "stream {stream} resharded: {shards} open shard(s), was {was}; re-reading the shard map");
}

event! {
    /// An input record Kinesis can never take (over 1 MiB with its key): not sent, named.
    pub(crate) struct RecordTooLarge<'a> {
        pub element: u64,
        pub upc: &'a str,
        pub bytes: usize,
        pub max: usize,
    }
    const NAME = "record_too_large";
    error!(target: SEND, element, upc, bytes,
        "element {element} ({upc}) is {bytes} bytes with its partition key; a Kinesis record holds at most {max}: not sent");
}

event! {
    /// A whole PutRecords request failed (or answered the wrong number of entries); its
    /// entries go again after a backoff.
    pub(crate) struct PutRecordsFailed<'a> {
        pub stream: &'a str,
        pub entries: usize,
        pub attempt: u32,
        pub error: &'a str,
        pub retry_in: Duration,
    }
    const NAME = "put_records_failed";
    let retry_in_ms = retry_in.as_millis() as u64;
    warn!(target: SEND, stream, entries, attempt, error, retry_in_ms,
        "PutRecords of {entries} entries to {stream} failed (attempt {attempt}): {error}; sending them again in {retry_in_ms} ms");
}

event! {
    /// At a stop, requests still unanswered after the grace are abandoned.
    pub(crate) struct RequestsAbandoned<'a> {
        pub stream: &'a str,
        pub requests: usize,
        pub grace: Duration,
    }
    const NAME = "requests_abandoned";
    warn!(target: SEND, stream, requests,
        "stopping: {requests} PutRecords request(s) to {stream} unanswered after {} s; their records count as not sent (and possibly written)",
        grace.as_secs());
}

event! {
    /// Without a terminal, the running totals every few seconds.
    pub(crate) struct BackfillProgress<'a> {
        pub stats: &'a Stats,
        pub total: Option<u64>,
        pub records_per_sec: f64,
    }
    const NAME = "backfill_progress";
    let Stats { sent, read, bytes, throttled, retried, .. } = *stats;
    let total = total.map_or_else(|| "?".to_owned(), |t| t.to_string());
    info!(target: PROGRESS, sent, read, bytes, throttled, retried,
        records_per_sec = records_per_sec as u64,
        "backfill progress: {sent} of {total} records sent, {bytes} bytes, {records_per_sec:.0} records/s, {throttled} throttled, {retried} retried");
}

event! {
    /// The backfill's summary line: every figure, how it ended, and the resume point it left.
    pub(crate) struct BackfillFinished<'a> {
        pub stream: &'a str,
        pub report: &'a Report,
        pub elapsed: Duration,
        /// "done", "interrupted" or "stopped".
        pub how: &'static str,
        /// " in N Kinesis records (aggregated)" or "".
        pub aggregated: &'a str,
        /// The resume point as the operator reads it ("" without one).
        pub resumed: &'a str,
        pub possibly_duplicated: u64,
        pub resume_file: Option<String>,
        pub resume_records: Option<u64>,
        pub unread_from: Option<u64>,
    }
    const NAME = "backfill_finished";
    let Stats {
        sent, read, kinesis_records, bytes, requests, retried, throttled, refused, reshards, ..
    } = report.stats;
    let secs = elapsed.as_secs_f64();
    let rate = sent as f64 / secs.max(1e-3);
    info!(target: PROGRESS, stream, sent, read, kinesis_records, bytes, requests, retried,
        throttled, refused, unsent = report.unsent, reshards, possibly_duplicated, resume_file,
        resume_records, unread_from, elapsed_ms = elapsed.as_millis() as u64,
        records_per_sec = rate as u64,
        "backfill {how}: {sent} records sent to {stream}{aggregated} in {secs:.1} s ({rate:.0} records/s){resumed}");
}

event! {
    /// A stopped backfill that sent nothing from an input that can simply be read again leaves
    /// no resume file.
    pub(crate) struct ResumeFileSkipped<'a> { pub source: &'a str }
    const NAME = "resume_file_skipped";
    info!(target: COMMAND, source,
        "nothing was sent: no resume file (rerun with {source} itself)");
}

event! {
    /// The resume file could not be written (the summary says so too).
    pub(crate) struct ResumeFileFailed<'a> { pub error: &'a dyn std::fmt::Display }
    const NAME = "resume_file_failed";
    error!(target: COMMAND, %error, "cannot write the resume file: {error}");
}
