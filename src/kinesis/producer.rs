//! PutRecord with retries, and the paced send loop built on it.
//!
//! Throttling, 5xx and refused connections are retried with backoff and jitter; a missing
//! stream or a rejected request is a clear error at once. An attempt waits for its answer as
//! long as the slot allows (see [`attempt_budget`]); an attempt whose answer never comes (or is
//! lost) has an unknown outcome, the record may be in the stream, and it is resent once, no
//! more, counted as a possible duplicate. A record is never skipped silently: a put that fails
//! for good stops the loop (the caller's cursor still points at that record), except for a
//! record Kinesis can never accept (over 1 MiB, or refused as invalid) or one whose resend went
//! unanswered too, which the caller sets aside (the daemon's dead-letter file) before the loop
//! goes on.

use crate::events::Event;
use crate::events::kinesis::{Put, PutOutcomeUnknown, PutRetrying, RecordSent};
use std::ops::ControlFlow;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use tokio::time::Instant;

pub use super::outcome::PutError;
use super::outcome::{Failure, Target, classify};
use super::pace::{Pacer, lateness_us};
use super::{Outgoing, Stream};
use tokio_util::sync::CancellationToken;

/// The longest one attempt waits for Kinesis's answer (an answer normally takes milliseconds);
/// also the wait without a slot (`stream`, `once`).
pub const ATTEMPT_MAX: Duration = Duration::from_secs(45);
/// The shortest: an attempt at the end of a slot may still wait this long (the next cycle
/// waits for it), so that a slow answer is not taken for a lost one.
pub const ATTEMPT_MIN: Duration = Duration::from_secs(15);

/// How long an attempt started `now` may wait for its answer: until the slot ends, within
/// [`ATTEMPT_MIN`]..=[`ATTEMPT_MAX`].
pub fn attempt_budget(stop_by: Option<Instant>, now: Instant) -> Duration {
    match stop_by {
        Some(end) => end
            .saturating_duration_since(now)
            .clamp(ATTEMPT_MIN, ATTEMPT_MAX),
        None => ATTEMPT_MAX,
    }
}

/// How hard to try one record.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 8,
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// Kinesis's acknowledgement of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// Kept as a string: real sequence numbers have 56+ digits.
    pub sequence_number: String,
    pub shard_id: String,
    pub attempts: u32,
    /// Earlier attempts whose outcome stayed unknown: copies that may be in the stream too.
    pub unknown: u32,
}

/// Kinesis's limit on one record: data plus partition key (UTF-8 bytes).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// What the sends of one [`Producer::send_paced`] cost, for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendStats {
    /// Attempts beyond the first, over all records.
    pub retries: u32,
    /// Largest lateness of a send against its due time.
    pub max_lateness: Duration,
    /// Latency of each acknowledged put, from its first attempt: count, sum, min, max (ms).
    pub latency_ms: (u32, f64, f64, f64),
    /// Attempts whose outcome stayed unknown (each may have left a copy in the stream).
    pub possible_duplicates: u32,
}

impl SendStats {
    fn put(&mut self, ms: f64) {
        let (n, sum, min, max) = self.latency_ms;
        self.latency_ms = if n == 0 {
            (1, ms, ms, ms)
        } else {
            (n + 1, sum + ms, min.min(ms), max.max(ms))
        };
    }
}

/// What became of one record in [`Producer::send_paced`].
#[derive(Debug)]
pub enum Outcome<'a> {
    Sent(&'a Ack),
    /// Refused for good ([`PutError::is_record_fault`]); the records after it go on.
    Refused(&'a PutError),
    /// Sent and resent without an answer ([`PutError::Unconfirmed`]): not sent a third time;
    /// the records after it go on.
    Unconfirmed(&'a PutError),
}

/// Sends records to one stream.
#[derive(Debug, Clone)]
pub struct Producer {
    stream: Stream,
    policy: RetryPolicy,
}

impl Producer {
    pub fn new(stream: Stream, policy: RetryPolicy) -> Self {
        Self { stream, policy }
    }

    /// Puts one record, retrying transient failures. A shutdown interrupts only the backoff
    /// sleeps, never a request already on the wire; so does `stop_by` (the slot's end), so that
    /// retries through an outage do not run into the next cycle's slot. Each attempt waits for
    /// its answer as [`attempt_budget`] says; the first attempt whose outcome is unknown is
    /// followed by one resend at once (even past the slot's end: the record may already be in
    /// the stream, and a later cycle would only resend it again), a second ends the put with
    /// [`PutError::Unconfirmed`].
    pub async fn put(
        &self,
        record: &Outgoing,
        shutdown: &CancellationToken,
        stop_by: Option<Instant>,
    ) -> Result<Ack, PutError> {
        let bytes = record.data.len() + record.partition_key.len();
        if bytes > MAX_RECORD_BYTES {
            return Err(PutError::TooLarge {
                label: record.label.clone(),
                bytes,
            });
        }
        let target = Target {
            stream: &self.stream.name,
            endpoint: &self.stream.endpoint,
            label: &record.label,
        };
        let mut attempt = 1;
        let mut unknown = 0;
        loop {
            let budget = attempt_budget(stop_by, Instant::now());
            let started = Instant::now();
            let result = self
                .stream
                .client
                .put_record()
                .stream_name(&self.stream.name)
                .partition_key(&record.partition_key)
                .data(Blob::new(record.data.clone()))
                .customize()
                .config_override(
                    aws_sdk_kinesis::config::Builder::new()
                        .timeout_config(crate::aws::timeouts(budget)),
                )
                .send()
                .await;
            let message = match result {
                Ok(out) => {
                    return Ok(Ack {
                        sequence_number: out.sequence_number,
                        shard_id: out.shard_id,
                        attempts: attempt,
                        unknown,
                    });
                }
                Err(e) => match classify(e, &target) {
                    Failure::Fatal(e) => return Err(e),
                    Failure::Unknown(message) if unknown > 0 => {
                        return Err(PutError::Unconfirmed {
                            stream: self.stream.name.clone(),
                            label: record.label.clone(),
                            attempts: attempt,
                            message,
                        });
                    }
                    Failure::Unknown(message) => {
                        unknown += 1;
                        PutOutcomeUnknown {
                            put: Put {
                                stream: &self.stream.name,
                                upc: &record.label,
                                attempt,
                                error: &message,
                            },
                            waited_ms: started.elapsed().as_millis() as u64,
                            budget_ms: budget.as_millis() as u64,
                        }
                        .emit();
                        if shutdown.is_cancelled() {
                            return Err(PutError::Interrupted {
                                stream: self.stream.name.clone(),
                                unknown,
                            });
                        }
                        attempt += 1;
                        continue;
                    }
                    Failure::Retry(m) => m,
                },
            };
            if attempt >= self.policy.attempts {
                return Err(PutError::Exhausted {
                    stream: self.stream.name.clone(),
                    endpoint: self.stream.endpoint.clone(),
                    attempts: attempt,
                    unknown,
                    message,
                });
            }
            let delay = crate::backoff::delay(self.policy.base, attempt).min(self.policy.max);
            if stop_by.is_some_and(|end| Instant::now() + delay >= end) {
                return Err(PutError::SlotOver {
                    stream: self.stream.name.clone(),
                    attempts: attempt,
                    unknown,
                    message,
                });
            }
            PutRetrying {
                put: Put {
                    stream: &self.stream.name,
                    upc: &record.label,
                    attempt,
                    error: &message,
                },
                retry_in_ms: delay.as_millis() as u64,
            }
            .emit();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return Err(PutError::Interrupted { stream: self.stream.name.clone(), unknown }),
            }
            attempt += 1;
        }
    }

    /// Sends `records` on the pacer's grid, stopping early at `stop_by` (the slot's end) or at
    /// shutdown, after the in-flight put. `on_outcome` runs after each record that was
    /// acknowledged or refused for good (the daemon persists its cursor there) and may stop
    /// the loop. Any other failure stops it with the error. Returns how many were sent.
    ///
    /// A put that ends later than half an interval before the next record's due time (a long
    /// retry) re-anchors the grid at its end, so that the records after it keep about one
    /// interval apart instead of going out back to back.
    pub async fn send_paced<F>(
        &self,
        records: &[impl std::borrow::Borrow<Outgoing>],
        mut pacer: Pacer,
        stop_by: Option<Instant>,
        shutdown: &CancellationToken,
        stats: &mut SendStats,
        mut on_outcome: F,
    ) -> Result<u32, (u32, PutError)>
    where
        F: FnMut(usize, Outcome<'_>) -> ControlFlow<()>,
    {
        let mut sent = 0u32;
        for (i, record) in records.iter().enumerate() {
            let (k, record) = (i as u32, std::borrow::Borrow::borrow(record));
            // Stop when the record is due past the slot, or the slot is already over (slow puts).
            if stop_by.is_some_and(|end| pacer.due(k) >= end || Instant::now() >= end) {
                break;
            }
            let due = tokio::select! {
                due = pacer.wait(k) => due,
                _ = shutdown.cancelled() => break,
            };
            if shutdown.is_cancelled() {
                break;
            }
            let started = Instant::now();
            stats.max_lateness = stats
                .max_lateness
                .max(started.saturating_duration_since(due));
            let put = self.put(record, shutdown, stop_by).await;
            stats.retries += match &put {
                Ok(ack) => ack.attempts - 1,
                Err(e) => e.attempts() - 1,
            };
            stats.possible_duplicates += match &put {
                Ok(ack) => ack.unknown,
                Err(e) => e.unknown_outcomes(),
            };
            let outcome = match put {
                Ok(ack) => {
                    sent += 1;
                    stats.put(started.elapsed().as_secs_f64() * 1000.0);
                    RecordSent {
                        stream: &self.stream.name,
                        upc: &record.label,
                        sequence_number: &ack.sequence_number,
                        shard_id: &ack.shard_id,
                        attempt: ack.attempts,
                        possible_duplicates: ack.unknown,
                        index: k,
                        lateness_us: lateness_us(due, started),
                        put_ms: started.elapsed().as_millis() as u64,
                    }
                    .emit();
                    on_outcome(i, Outcome::Sent(&ack))
                }
                Err(e) if e.is_record_fault() => on_outcome(i, Outcome::Refused(&e)),
                Err(e @ PutError::Unconfirmed { .. }) => on_outcome(i, Outcome::Unconfirmed(&e)),
                Err(e) => return Err((sent, e)),
            };
            if outcome.is_break() {
                break;
            }
            pacer.reanchor_if_late(k + 1, Instant::now());
        }
        Ok(sent)
    }
}
