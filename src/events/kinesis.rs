//! The paced producer's events: a record acknowledged, a put retried, a put whose answer never
//! came. The daemon's cycles and `bookstream stream` share them.

use super::Event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[RecordSent::NAME, PutRetrying::NAME, PutOutcomeUnknown::NAME];

/// Kinesis acknowledged a record: the per-record line operators grep (`record sent`).
pub(crate) struct RecordSent<'a> {
    pub stream: &'a str,
    pub upc: &'a str,
    pub sequence_number: &'a str,
    pub shard_id: &'a str,
    pub attempt: u32,
    /// Puts of this record whose answer never came before this one was acknowledged.
    pub possible_duplicates: u32,
    /// The record's place in this send.
    pub index: u32,
    /// How late the put started against its due time on the pacer's grid (negative: early).
    pub lateness_us: i64,
    pub put_ms: u64,
}

impl Event for RecordSent<'_> {
    const NAME: &'static str = "record_sent";

    fn emit(self) {
        tracing::info!(
            target: "bookstream::kinesis::producer",
            event = Self::NAME,
            stream = %self.stream,
            sequence_number = %self.sequence_number,
            shard_id = %self.shard_id,
            upc = %self.upc,
            attempt = self.attempt,
            possible_duplicates = self.possible_duplicates,
            index = self.index,
            lateness_us = self.lateness_us,
            put_ms = self.put_ms,
            "record sent: upc {} seq {} shard {} (attempt {})",
            self.upc, self.sequence_number, self.shard_id, self.attempt
        );
    }
}

/// Which put an attempt's event is about: the record, its stream, the attempt, what went wrong.
pub(crate) struct Put<'a> {
    pub stream: &'a str,
    pub upc: &'a str,
    pub attempt: u32,
    pub error: &'a str,
}

/// A put failed in a way worth retrying; the next attempt follows after `retry_in_ms`.
pub(crate) struct PutRetrying<'a> {
    pub put: Put<'a>,
    pub retry_in_ms: u64,
}

impl Event for PutRetrying<'_> {
    const NAME: &'static str = "put_retrying";

    fn emit(self) {
        let Put {
            stream,
            upc,
            attempt,
            error,
        } = self.put;
        tracing::warn!(
            target: "bookstream::kinesis::producer",
            event = Self::NAME, stream, upc, attempt, error, retry_in_ms = self.retry_in_ms,
            "put failed; retrying: upc {upc} attempt {attempt} to {stream} again in {} ms: {error}",
            self.retry_in_ms
        );
    }
}

/// A put got no answer in time: the record may be in the stream, so the one resend may make a
/// copy (`PossibleDuplicates`).
pub(crate) struct PutOutcomeUnknown<'a> {
    pub put: Put<'a>,
    pub waited_ms: u64,
    pub budget_ms: u64,
}

impl Event for PutOutcomeUnknown<'_> {
    const NAME: &'static str = "put_outcome_unknown";

    fn emit(self) {
        let Put {
            stream,
            upc,
            attempt,
            error,
        } = self.put;
        let waited_ms = self.waited_ms;
        tracing::warn!(
            target: "bookstream::kinesis::producer",
            event = Self::NAME, stream, upc, attempt, error, waited_ms,
            budget_ms = self.budget_ms, possible_duplicate = true,
            "put outcome unknown; resending once: upc {upc} attempt {attempt} to {stream} got no answer after {waited_ms} ms ({error}); the record may be in the stream, the resend can make a copy"
        );
    }
}
