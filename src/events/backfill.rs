//! The backfill's events (`stream --interval 0`): its start, what it refuses, resharding,
//! failed requests, its progress and its summary, and the stream command's signals. The send
//! loop's events keep the target `bookstream::kinesis::backfill`, the command's
//! `bookstream::commands::stream`, so `RUST_LOG` filters mean what they meant.

use std::time::Duration;

use super::Event;
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
    StreamSignalled::NAME,
];

/// What the command is about to send (before the shard map is read).
pub(crate) struct BackfillPlanned<'a> {
    pub source: &'a str,
    pub stream: &'a str,
    /// The records to send, when the input was counted (a regular file).
    pub records: Option<u64>,
}

impl Event for BackfillPlanned<'_> {
    const NAME: &'static str = "backfill_planned";

    fn emit(self) {
        let Self {
            source,
            stream,
            records,
        } = self;
        let count = records.map_or_else(|| "all".to_owned(), |n| n.to_string());
        tracing::info!(
            target: "bookstream::commands::stream",
            event = Self::NAME, source, stream, records,
            "backfill: {count} records from {source} to {stream}"
        );
    }
}

/// The shard map is read: the limits the backfill keeps to.
pub(crate) struct BackfillStarted<'a> {
    pub stream: &'a str,
    pub shards: usize,
    pub records_per_sec: u32,
    pub bytes_per_sec: u64,
}

impl Event for BackfillStarted<'_> {
    const NAME: &'static str = "backfill_started";

    fn emit(self) {
        let Self {
            stream,
            shards,
            records_per_sec,
            bytes_per_sec,
        } = self;
        tracing::info!(
            target: "bookstream::kinesis::backfill",
            event = Self::NAME, stream, shards, records_per_sec, bytes_per_sec,
            "backfill into {stream}: {shards} open shard(s), at most {records_per_sec} records/s and {bytes_per_sec} bytes/s per shard"
        );
    }
}

/// No permission to list the shards: the whole stream is metered as one shard (slower, never
/// over a shard's limits).
pub(crate) struct ShardListDenied<'a> {
    pub stream: &'a str,
    pub error: &'a str,
}

impl Event for ShardListDenied<'_> {
    const NAME: &'static str = "shard_list_denied";

    fn emit(self) {
        let Self { stream, error } = self;
        tracing::warn!(
            target: "bookstream::kinesis::backfill",
            event = Self::NAME, stream, error,
            "cannot list the shards of {stream} ({error}); limiting the whole stream as one shard (grant kinesis:ListShards for full speed)"
        );
    }
}

/// A re-read of the shard map failed; the map in hand is kept.
pub(crate) struct ShardMapRereadFailed<'a> {
    pub stream: &'a str,
    pub error: &'a dyn std::fmt::Display,
    pub retry_in: Duration,
}

impl Event for ShardMapRereadFailed<'_> {
    const NAME: &'static str = "shard_map_reread_failed";

    fn emit(self) {
        let Self {
            stream,
            error,
            retry_in,
        } = self;
        tracing::warn!(
            target: "bookstream::kinesis::backfill",
            event = Self::NAME, stream, %error,
            "re-reading the shard map of {stream} failed ({error}); keeping the current one, next try in {} s",
            retry_in.as_secs()
        );
    }
}

/// The stream's shards changed: every waiting record is re-filed.
pub(crate) struct StreamResharded<'a> {
    pub stream: &'a str,
    pub shards: usize,
    pub was: usize,
}

impl Event for StreamResharded<'_> {
    const NAME: &'static str = "stream_resharded";

    fn emit(self) {
        let Self {
            stream,
            shards,
            was,
        } = self;
        tracing::info!(
            target: "bookstream::kinesis::backfill",
            event = Self::NAME, stream, shards, was,
            "stream {stream} resharded: {shards} open shard(s), was {was}; re-reading the shard map"
        );
    }
}

/// An input record Kinesis can never take (over 1 MiB with its key): not sent, named.
pub(crate) struct RecordTooLarge<'a> {
    pub element: u64,
    pub upc: &'a str,
    pub bytes: usize,
    pub max: usize,
}

impl Event for RecordTooLarge<'_> {
    const NAME: &'static str = "record_too_large";

    fn emit(self) {
        let Self {
            element,
            upc,
            bytes,
            max,
        } = self;
        tracing::error!(
            target: "bookstream::kinesis::backfill",
            event = Self::NAME, element, upc, bytes,
            "element {element} ({upc}) is {bytes} bytes with its partition key; a Kinesis record holds at most {max}: not sent"
        );
    }
}

/// A whole PutRecords request failed (or answered the wrong number of entries); its entries go
/// again after a backoff.
pub(crate) struct PutRecordsFailed<'a> {
    pub stream: &'a str,
    pub entries: usize,
    pub attempt: u32,
    pub error: &'a str,
    pub retry_in: Duration,
}

impl Event for PutRecordsFailed<'_> {
    const NAME: &'static str = "put_records_failed";

    fn emit(self) {
        let Self {
            stream,
            entries,
            attempt,
            error,
            retry_in,
        } = self;
        let retry_in_ms = retry_in.as_millis() as u64;
        tracing::warn!(
            target: "bookstream::kinesis::backfill",
            event = Self::NAME, stream, entries, attempt, error, retry_in_ms,
            "PutRecords of {entries} entries to {stream} failed (attempt {attempt}): {error}; sending them again in {retry_in_ms} ms"
        );
    }
}

/// At a stop, requests still unanswered after the grace are abandoned.
pub(crate) struct RequestsAbandoned<'a> {
    pub stream: &'a str,
    pub requests: usize,
    pub grace: Duration,
}

impl Event for RequestsAbandoned<'_> {
    const NAME: &'static str = "requests_abandoned";

    fn emit(self) {
        let Self {
            stream,
            requests,
            grace,
        } = self;
        tracing::warn!(
            target: "bookstream::kinesis::backfill",
            event = Self::NAME, stream, requests,
            "stopping: {requests} PutRecords request(s) to {stream} unanswered after {} s; their records count as not sent (and possibly written)",
            grace.as_secs()
        );
    }
}

/// Without a terminal, the running totals every few seconds.
pub(crate) struct BackfillProgress<'a> {
    pub stats: &'a Stats,
    pub total: Option<u64>,
    pub records_per_sec: f64,
}

impl Event for BackfillProgress<'_> {
    const NAME: &'static str = "backfill_progress";

    fn emit(self) {
        let s = self.stats;
        let rate = self.records_per_sec;
        tracing::info!(
            target: "bookstream::commands::progress",
            event = Self::NAME,
            sent = s.sent,
            read = s.read,
            bytes = s.bytes,
            throttled = s.throttled,
            retried = s.retried,
            records_per_sec = rate as u64,
            "backfill progress: {} of {} records sent, {} bytes, {rate:.0} records/s, {} throttled, {} retried",
            s.sent,
            self.total.map_or_else(|| "?".to_owned(), |t| t.to_string()),
            s.bytes,
            s.throttled,
            s.retried
        );
    }
}

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

impl Event for BackfillFinished<'_> {
    const NAME: &'static str = "backfill_finished";

    fn emit(self) {
        let s = &self.report.stats;
        let (stream, how, aggregated, resumed) =
            (self.stream, self.how, self.aggregated, self.resumed);
        let secs = self.elapsed.as_secs_f64();
        let rate = s.sent as f64 / secs.max(1e-3);
        tracing::info!(
            target: "bookstream::commands::progress",
            event = Self::NAME,
            stream,
            sent = s.sent,
            read = s.read,
            kinesis_records = s.kinesis_records,
            bytes = s.bytes,
            requests = s.requests,
            retried = s.retried,
            throttled = s.throttled,
            refused = s.refused,
            unsent = self.report.unsent,
            reshards = s.reshards,
            possibly_duplicated = self.possibly_duplicated,
            resume_file = self.resume_file,
            resume_records = self.resume_records,
            unread_from = self.unread_from,
            elapsed_ms = self.elapsed.as_millis() as u64,
            records_per_sec = rate as u64,
            "backfill {how}: {} records sent to {stream}{aggregated} in {secs:.1} s ({rate:.0} records/s){resumed}",
            s.sent
        );
    }
}

/// A stopped backfill that sent nothing from an input that can simply be read again leaves no
/// resume file.
pub(crate) struct ResumeFileSkipped<'a> {
    pub source: &'a str,
}

impl Event for ResumeFileSkipped<'_> {
    const NAME: &'static str = "resume_file_skipped";

    fn emit(self) {
        let source = self.source;
        tracing::info!(
            target: "bookstream::commands::stream",
            event = Self::NAME, source,
            "nothing was sent: no resume file (rerun with {source} itself)"
        );
    }
}

/// The resume file could not be written (the summary says so too).
pub(crate) struct ResumeFileFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
}

impl Event for ResumeFileFailed<'_> {
    const NAME: &'static str = "resume_file_failed";

    fn emit(self) {
        let error = self.error;
        tracing::error!(
            target: "bookstream::commands::stream",
            event = Self::NAME, %error,
            "cannot write the resume file: {error}"
        );
    }
}

/// SIGINT or SIGTERM to `stream`: the first stops it (leaving a resume point), a second ends
/// the process at once.
pub(crate) struct StreamSignalled {
    pub signal: &'static str,
    /// This is the second signal: the process exits now.
    pub again: bool,
}

impl Event for StreamSignalled {
    const NAME: &'static str = "stream_signalled";

    fn emit(self) {
        let signal = self.signal;
        if self.again {
            tracing::warn!(
                target: "bookstream::commands::stream",
                event = Self::NAME, signal, again = true,
                "second {signal}: exiting at once"
            );
        } else {
            tracing::info!(
                target: "bookstream::commands::stream",
                event = Self::NAME, signal, again = false,
                "{signal}: stopping (a second signal stops at once)"
            );
        }
    }
}
