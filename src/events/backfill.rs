//! The backfill's events (`stream --interval 0`): its start, what it refuses, resharding,
//! failed requests, its progress and its summary. The send
//! loop's events keep the target `bookstream::kinesis::backfill`, the command's
//! `bookstream::commands::stream`, so `RUST_LOG` filters mean what they meant.

use std::time::Duration;

use super::events;
use crate::kinesis::backfill::{Report, Stats};

/// The command's own lines (`bookstream::commands::stream`).
const COMMAND: &str = "bookstream::commands::stream";
/// The send loop's (`bookstream::kinesis::backfill`).
const SEND: &str = "bookstream::kinesis::backfill";
/// The progress display's (`bookstream::commands::progress`).
const PROGRESS: &str = "bookstream::commands::progress";

events! {
    /// What the command is about to send (before the shard map is read).
    "backfill_planned" => BackfillPlanned<'a> {
        source: &'a str,
        stream: &'a str,
        /// The records to send, when the input was counted (a regular file).
        records: Option<u64>,
    }
    let count = records.map_or_else(|| "all".to_owned(), |n| n.to_string());
    info!(target: COMMAND, source, stream, records,
        "backfill: {count} records from {source} to {stream}");

    /// The shard map is read: the limits the backfill keeps to.
    "backfill_started" => BackfillStarted<'a> { stream: &'a str, shards: usize, records_per_sec: u32, bytes_per_sec: u64 }
    info!(target: SEND, stream, shards, records_per_sec, bytes_per_sec,
        "backfill into {stream}: {shards} open shard(s), at most {records_per_sec} records/s and {bytes_per_sec} bytes/s per shard");

    /// No permission to list the shards: the whole stream is metered as one shard (slower,
    /// never over a shard's limits).
    "shard_list_denied" => ShardListDenied<'a> { stream: &'a str, error: &'a str }
    warn!(target: SEND, stream, error,
        "cannot list the shards of {stream} ({error}); limiting the whole stream as one shard (grant kinesis:ListShards for full speed)");

    /// A re-read of the shard map failed; the map in hand is kept.
    "shard_map_reread_failed" => ShardMapRereadFailed<'a> {
        stream: &'a str,
        error: &'a dyn std::fmt::Display,
        retry_in: Duration,
    }
    warn!(target: SEND, stream, %error,
        "re-reading the shard map of {stream} failed ({error}); keeping the current one, next try in {} s",
        retry_in.as_secs());

    /// The stream's shards changed: every waiting record is re-filed.
    "stream_resharded" => StreamResharded<'a> { stream: &'a str, shards: usize, was: usize }
    info!(target: SEND, stream, shards, was,
        "stream {stream} resharded: {shards} open shard(s), was {was}; re-reading the shard map");

    /// An input record Kinesis can never take (over 1 MiB with its key): not sent, named.
    "record_too_large" => RecordTooLarge<'a> { element: u64, upc: &'a str, bytes: usize, max: usize }
    error!(target: SEND, element, upc, bytes,
        "element {element} ({upc}) is {bytes} bytes with its partition key; a Kinesis record holds at most {max}: not sent");

    /// A whole PutRecords request failed (or answered the wrong number of entries); its
    /// entries go again after a backoff.
    "put_records_failed" => PutRecordsFailed<'a> {
        stream: &'a str,
        entries: usize,
        attempt: u32,
        error: &'a str,
        retry_in: Duration,
    }
    let retry_in_ms = retry_in.as_millis() as u64;
    warn!(target: SEND, stream, entries, attempt, error, retry_in_ms,
        "PutRecords of {entries} entries to {stream} failed (attempt {attempt}): {error}; sending them again in {retry_in_ms} ms");

    /// At a stop, requests still unanswered after the grace are abandoned.
    "requests_abandoned" => RequestsAbandoned<'a> {
        stream: &'a str,
        requests: usize,
        grace: Duration,
    }
    warn!(target: SEND, stream, requests,
        "stopping: {requests} PutRecords request(s) to {stream} unanswered after {} s; their records count as not sent (and possibly written)",
        grace.as_secs());

    /// Without a terminal, the running totals every few seconds.
    "backfill_progress" => BackfillProgress<'a> {
        stats: &'a Stats,
        total: Option<u64>,
        records_per_sec: f64,
    }
    let Stats { sent, read, bytes, throttled, retried, .. } = *stats;
    let total = total.map_or_else(|| "?".to_owned(), |t| t.to_string());
    info!(target: PROGRESS, sent, read, bytes, throttled, retried,
        records_per_sec = records_per_sec as u64,
        "backfill progress: {sent} of {total} records sent, {bytes} bytes, {records_per_sec:.0} records/s, {throttled} throttled, {retried} retried");

    /// The backfill's summary line: every figure, how it ended, and the resume point it left.
    "backfill_finished" => BackfillFinished<'a> {
        stream: &'a str,
        report: &'a Report,
        elapsed: Duration,
        /// "done", "interrupted" or "stopped".
        how: &'static str,
        /// " in N Kinesis records (aggregated)" or "".
        aggregated: &'a str,
        /// The resume point as the operator reads it ("" without one).
        resumed: &'a str,
        possibly_duplicated: u64,
        resume_file: Option<String>,
        resume_records: Option<u64>,
        unread_from: Option<u64>,
    }
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

    /// A stopped backfill that sent nothing from an input that can simply be read again leaves
    /// no resume file.
    "resume_file_skipped" => ResumeFileSkipped<'a> { source: &'a str }
    info!(target: COMMAND, source,
        "nothing was sent: no resume file (rerun with {source} itself)");

    /// The resume file could not be written (the summary says so too).
    "resume_file_failed" => ResumeFileFailed<'a> { error: &'a dyn std::fmt::Display }
    error!(target: COMMAND, %error, "cannot write the resume file: {error}");
}
