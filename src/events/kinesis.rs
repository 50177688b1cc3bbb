//! The paced producer's events: a record acknowledged, a put retried, a put whose answer never
//! came. The daemon's cycles and `bookstream stream` share them.

#[cfg(test)]
use super::Event;
use super::event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[RecordSent::NAME, PutRetrying::NAME, PutOutcomeUnknown::NAME];

const TARGET: &str = "bookstream::kinesis::producer";

event! {
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
    const NAME = "record_sent";
    info!(target: TARGET, %stream, %sequence_number, %shard_id, %upc, attempt,
        possible_duplicates, index, lateness_us, put_ms,
        "record sent: upc {upc} seq {sequence_number} shard {shard_id} (attempt {attempt})");
}

/// Which put an attempt's event is about: the record, its stream, the attempt, what went wrong.
pub(crate) struct Put<'a> {
    pub stream: &'a str,
    pub upc: &'a str,
    pub attempt: u32,
    pub error: &'a str,
}

event! {
    /// A put failed in a way worth retrying; the next attempt follows after `retry_in_ms`.
    pub(crate) struct PutRetrying<'a> { pub put: Put<'a>, pub retry_in_ms: u64 }
    const NAME = "put_retrying";
    let Put { stream, upc, attempt, error } = put;
    warn!(target: TARGET, stream, upc, attempt, error, retry_in_ms,
        "put failed; retrying: upc {upc} attempt {attempt} to {stream} again in {retry_in_ms} ms: {error}");
}

event! {
    /// A put got no answer in time: the record may be in the stream, so the one resend may make
    /// a copy (`PossibleDuplicates`).
    pub(crate) struct PutOutcomeUnknown<'a> {
        pub put: Put<'a>,
        pub waited_ms: u64,
        pub budget_ms: u64,
    }
    const NAME = "put_outcome_unknown";
    let Put { stream, upc, attempt, error } = put;
    warn!(target: TARGET, stream, upc, attempt, error, waited_ms, budget_ms,
        possible_duplicate = true,
        "put outcome unknown; resending once: upc {upc} attempt {attempt} to {stream} got no answer after {waited_ms} ms ({error}); the record may be in the stream, the resend can make a copy");
}
