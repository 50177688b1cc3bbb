//! The paced producer's events: a record acknowledged, a put retried, a put whose answer never
//! came. The daemon's cycles and `bookstream stream` share them.

use super::events;

const TARGET: &str = "bookstream::kinesis::producer";

events! {
    /// Kinesis acknowledged a record: the per-record line operators grep (`record sent`).
    "record_sent" => RecordSent<'a> {
        stream: &'a str,
        upc: &'a str,
        sequence_number: &'a str,
        shard_id: &'a str,
        attempt: u32,
        /// Puts of this record whose answer never came before this one was acknowledged.
        possible_duplicates: u32,
        /// The record's place in this send.
        index: u32,
        /// How late the put started against its due time on the pacer's grid (negative: early).
        lateness_us: i64,
        put_ms: u64,
    }
    info!(target: TARGET, %stream, %sequence_number, %shard_id, %upc, attempt,
        possible_duplicates, index, lateness_us, put_ms,
        "record sent: upc {upc} seq {sequence_number} shard {shard_id} (attempt {attempt})");

    /// A put failed in a way worth retrying; the next attempt follows after `retry_in_ms`.
    "put_retrying" => PutRetrying<'a> { put: Put<'a>, retry_in_ms: u64 }
    let Put { stream, upc, attempt, error } = put;
    warn!(target: TARGET, stream, upc, attempt, error, retry_in_ms,
        "put failed; retrying: upc {upc} attempt {attempt} to {stream} again in {retry_in_ms} ms: {error}");

    /// A put got no answer in time: the record may be in the stream, so the one resend may make
    /// a copy (`PossibleDuplicates`).
    "put_outcome_unknown" => PutOutcomeUnknown<'a> {
        put: Put<'a>,
        waited_ms: u64,
        budget_ms: u64,
    }
    let Put { stream, upc, attempt, error } = put;
    warn!(target: TARGET, stream, upc, attempt, error, waited_ms, budget_ms,
        possible_duplicate = true,
        "put outcome unknown; resending once: upc {upc} attempt {attempt} to {stream} got no answer after {waited_ms} ms ({error}); the record may be in the stream, the resend can make a copy");
}

/// Which put an attempt's event is about: the record, its stream, the attempt, what went wrong.
pub(crate) struct Put<'a> {
    pub stream: &'a str,
    pub upc: &'a str,
    pub attempt: u32,
    pub error: &'a str,
}
