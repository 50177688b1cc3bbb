//! PutRecord with retries, and the paced send loop built on it.
//!
//! Throttling, 5xx and network errors are retried with backoff and jitter; a missing stream or
//! a rejected request is a clear error at once. A record is never skipped silently: a put that
//! fails for good stops the loop (the caller's cursor still points at that record), except for
//! a record Kinesis can never accept (over 1 MiB, or refused as invalid), which the caller
//! sets aside (the daemon's dead-letter file) before the loop goes on.

use std::ops::ControlFlow;
use std::time::Duration;

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::put_record::PutRecordError;
use aws_sdk_kinesis::primitives::Blob;
use tokio::time::Instant;

use super::Outgoing;
use super::pace::{Pacer, lateness_us};
use tokio_util::sync::CancellationToken;

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
}

/// A put that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error(
        "Kinesis stream `{stream}` not found at {endpoint} (create it, or check [kinesis] stream_name and region)"
    )]
    StreamNotFound { stream: String, endpoint: String },
    #[error(
        "record {label} is {bytes} bytes with its partition key; a Kinesis record holds at most {MAX_RECORD_BYTES} (1 MiB)"
    )]
    TooLarge { label: String, bytes: usize },
    #[error("Kinesis refused record {label} for stream `{stream}` as invalid: {message}")]
    Invalid {
        stream: String,
        label: String,
        message: String,
    },
    #[error("Kinesis rejected the put to stream `{stream}` at {endpoint}: {message}")]
    Rejected {
        stream: String,
        endpoint: String,
        message: String,
    },
    #[error("PutRecord to `{stream}` at {endpoint} failed {attempts} times; last error: {message}")]
    Exhausted {
        stream: String,
        endpoint: String,
        attempts: u32,
        message: String,
    },
    #[error("shutdown requested while retrying a put to `{stream}`")]
    Interrupted { stream: String },
    #[error(
        "the slot ended while retrying a put to `{stream}` ({attempts} attempt(s), last error: {message}); the record carries over to the next cycle"
    )]
    SlotOver {
        stream: String,
        attempts: u32,
        message: String,
    },
}

impl PutError {
    /// Attempts made before giving up (1 for errors that are never retried).
    pub fn attempts(&self) -> u32 {
        match self {
            PutError::Exhausted { attempts, .. } | PutError::SlotOver { attempts, .. } => *attempts,
            _ => 1,
        }
    }

    /// Whether the record itself can never be accepted (too large, or refused as invalid), as
    /// opposed to the stream, the credentials or the network being at fault: such a record is
    /// set aside, and the ones after it go on.
    pub fn is_record_fault(&self) -> bool {
        matches!(self, PutError::TooLarge { .. } | PutError::Invalid { .. })
    }
}

/// Kinesis's limit on one record: data plus partition key (UTF-8 bytes).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Error codes with which Kinesis refuses the record itself; any other refusal (AccessDenied,
/// KMS, credentials, an unknown code) is about the account or the stream, and the record waits.
const RECORD_FAULT_CODES: &[&str] = &["InvalidArgumentException", "ValidationException"];

/// What the sends of one [`Producer::send_paced`] cost, for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendStats {
    /// Attempts beyond the first, over all records.
    pub retries: u32,
    /// Largest lateness of a send against its due time.
    pub max_lateness: Duration,
    /// Latency of each acknowledged put, from its first attempt: count, sum, min, max (ms).
    pub latency_ms: (u32, f64, f64, f64),
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
}

enum Failure {
    Retry(String),
    Fatal(PutError),
}

/// Sends records to one stream.
#[derive(Debug, Clone)]
pub struct Producer {
    client: aws_sdk_kinesis::Client,
    stream: String,
    /// For messages: the local endpoint, or the AWS default.
    endpoint: String,
    policy: RetryPolicy,
}

impl Producer {
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream: String,
        endpoint: Option<&url::Url>,
        policy: RetryPolicy,
    ) -> Self {
        let endpoint = super::describe_endpoint(endpoint);
        Self {
            client,
            stream,
            endpoint,
            policy,
        }
    }

    /// Puts one record, retrying transient failures. A shutdown interrupts only the backoff
    /// sleeps, never a request already on the wire; so does `stop_by` (the slot's end), so that
    /// retries through an outage do not run into the next cycle's slot.
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
        let mut attempt = 1;
        loop {
            let result = self
                .client
                .put_record()
                .stream_name(&self.stream)
                .partition_key(&record.partition_key)
                .data(Blob::new(record.data.clone()))
                .send()
                .await;
            let message = match result {
                Ok(out) => {
                    return Ok(Ack {
                        sequence_number: out.sequence_number,
                        shard_id: out.shard_id,
                        attempts: attempt,
                    });
                }
                Err(e) => match self.classify(e, &record.label) {
                    Failure::Fatal(e) => return Err(e),
                    Failure::Retry(m) => m,
                },
            };
            if attempt >= self.policy.attempts {
                return Err(PutError::Exhausted {
                    stream: self.stream.clone(),
                    endpoint: self.endpoint.clone(),
                    attempts: attempt,
                    message,
                });
            }
            let delay = crate::backoff::delay(self.policy.base, attempt).min(self.policy.max);
            if stop_by.is_some_and(|end| Instant::now() + delay >= end) {
                return Err(PutError::SlotOver {
                    stream: self.stream.clone(),
                    attempts: attempt,
                    message,
                });
            }
            tracing::warn!(
                stream = %self.stream, upc = %record.label, attempt, error = %message,
                retry_in_ms = delay.as_millis() as u64,
                "put failed; retrying: upc {} attempt {} to {} again in {} ms: {message}",
                record.label, attempt, self.stream, delay.as_millis()
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return Err(PutError::Interrupted { stream: self.stream.clone() }),
            }
            attempt += 1;
        }
    }

    fn classify(&self, err: SdkError<PutRecordError>, label: &str) -> Failure {
        let stream = self.stream.clone();
        match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let status = se.raw().status().as_u16();
                if e.is_resource_not_found_exception() {
                    Failure::Fatal(PutError::StreamNotFound {
                        stream,
                        endpoint: self.endpoint.clone(),
                    })
                } else if super::is_transient(e.code(), status) {
                    Failure::Retry(format!("{} (HTTP {status})", e.code().unwrap_or("error")))
                } else {
                    let message = format!(
                        "{}: {}",
                        e.code().unwrap_or("error"),
                        e.message().unwrap_or("no message")
                    );
                    Failure::Fatal(if RECORD_FAULT_CODES.contains(&e.code().unwrap_or("")) {
                        PutError::Invalid {
                            stream,
                            label: label.to_owned(),
                            message,
                        }
                    } else {
                        PutError::Rejected {
                            stream,
                            endpoint: self.endpoint.clone(),
                            message,
                        }
                    })
                }
            }
            // Dispatch failures, timeouts and unreadable responses: the record may or may not
            // have been written; retrying can duplicate it but never loses it.
            _ => Failure::Retry(crate::error_chain(&err)),
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
        records: &[Outgoing],
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
            let k = i as u32;
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
            let outcome = match put {
                Ok(ack) => {
                    sent += 1;
                    stats.put(started.elapsed().as_secs_f64() * 1000.0);
                    tracing::info!(
                        stream = %self.stream,
                        sequence_number = %ack.sequence_number,
                        shard_id = %ack.shard_id,
                        upc = %record.label,
                        attempt = ack.attempts,
                        index = k,
                        lateness_us = lateness_us(due, started),
                        put_ms = started.elapsed().as_millis() as u64,
                        "record sent: upc {} seq {} shard {} (attempt {})",
                        record.label, ack.sequence_number, ack.shard_id, ack.attempts
                    );
                    on_outcome(i, Outcome::Sent(&ack))
                }
                Err(e) if e.is_record_fault() => on_outcome(i, Outcome::Refused(&e)),
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
