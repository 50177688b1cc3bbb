//! PutRecord with retries, and the paced send loop built on it.
//!
//! Throttling, 5xx and network errors are retried with backoff and jitter; a missing stream or
//! a rejected request is a clear error at once. A record is never skipped: a put that fails for
//! good stops the loop, and the caller's cursor still points at that record.

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
    #[error("Kinesis rejected the record for stream `{stream}`: {message}")]
    Rejected { stream: String, message: String },
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
        let endpoint = endpoint.map_or_else(|| "the AWS endpoint".to_owned(), |u| u.to_string());
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
                Err(e) => match self.classify(e) {
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

    fn classify(&self, err: SdkError<PutRecordError>) -> Failure {
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
                } else if e.is_provisioned_throughput_exceeded_exception()
                    || e.is_kms_throttling_exception()
                    || status >= 500
                    || status == 429
                    || matches!(
                        e.code(),
                        Some("InternalFailure" | "ServiceUnavailable" | "ThrottlingException")
                    )
                {
                    Failure::Retry(format!("{} (HTTP {status})", e.code().unwrap_or("error")))
                } else {
                    Failure::Fatal(PutError::Rejected {
                        stream,
                        message: format!(
                            "{}: {}",
                            e.code().unwrap_or("error"),
                            e.message().unwrap_or("no message")
                        ),
                    })
                }
            }
            // Dispatch failures, timeouts and unreadable responses: the record may or may not
            // have been written; retrying can duplicate it but never loses it.
            _ => Failure::Retry(crate::error_chain(&err)),
        }
    }

    /// Sends `records` on the pacer's grid, stopping early at `stop_by` (the slot's end) or at
    /// shutdown, after the in-flight put. `on_ack` runs after each acknowledged record (the
    /// daemon persists its cursor there). Returns how many were sent.
    pub async fn send_paced<F>(
        &self,
        records: &[Outgoing],
        pacer: Pacer,
        stop_by: Option<Instant>,
        shutdown: &CancellationToken,
        mut on_ack: F,
    ) -> Result<u32, (u32, PutError)>
    where
        F: FnMut(usize, &Ack),
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
            let ack = self
                .put(record, shutdown, stop_by)
                .await
                .map_err(|e| (sent, e))?;
            sent += 1;
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
            on_ack(i, &ack);
        }
        Ok(sent)
    }
}
