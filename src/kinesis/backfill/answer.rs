//! Filing PutRecords answers: acknowledged entries are counted, failed entries go back to the
//! front of their shard's queue (a throttled shard also waits), a request that failed whole is
//! sent again after a backoff, and what can never succeed stops the backfill.
//!
//! A throttle (`ProvisionedThroughputExceededException` on an entry, or a whole request refused
//! as throttled) is not an attempt: the shard is busy, the record is fine. Only other failures
//! count toward `Options::attempts`; a shard throttled without end is caught by the
//! no-progress limit instead (`Options::give_up_after`).

use std::time::Duration;

use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use tokio::time::Instant;

use super::queues::{Pending, Run};
use super::{Answer, Backfill, BackfillError};
use crate::aws::ErrorKind;
use crate::events::Event;
use crate::events::backfill::PutRecordsFailed;

impl Backfill {
    /// Files the answer to one request: acknowledged entries are counted, failed ones queued
    /// again at the front of their shard.
    pub(super) fn answer(
        &self,
        run: &mut Run,
        (batch, result): Answer,
    ) -> Result<(), BackfillError> {
        let now = Instant::now();
        let output = match result {
            Some(Ok(output)) => output,
            Some(Err(e)) => return self.request_failed(run, batch, e, now),
            None => {
                // Abandoned at a stop: not an attempt, and the outcome is unknown.
                for mut pending in batch.into_iter().rev() {
                    pending.attempts = pending.attempts.saturating_sub(1);
                    pending.maybe_written = true;
                    run.requeue_front(pending);
                }
                return Ok(());
            }
        };
        if output.records.len() != batch.len() {
            let message = format!(
                "PutRecords answered {} entries for {} sent",
                output.records.len(),
                batch.len()
            );
            return self.retry_batch(run, batch, message, now);
        }
        let mut retry: Vec<(Pending, String)> = Vec::new();
        let mut throttled_shards: Vec<usize> = Vec::new();
        let mut acked = false;
        for (mut pending, entry) in batch.into_iter().zip(output.records) {
            match entry.error_code {
                None => {
                    acked = true;
                    run.acked(&pending, entry.shard_id.as_deref().unwrap_or_default());
                }
                Some(code) => {
                    if crate::aws::entry_kind(&code) == ErrorKind::Throttled {
                        let shard = run.entry_throttled(&mut pending);
                        if !throttled_shards.contains(&shard) {
                            throttled_shards.push(shard);
                        }
                    }
                    let message = match entry.error_message {
                        Some(m) => format!("{code}: {m}"),
                        None => code,
                    };
                    retry.push((pending, message));
                }
            }
        }
        if acked {
            run.progressed(now);
        }
        // One backoff per throttled shard and answer, growing while the shard stays busy.
        for shard in throttled_shards {
            run.shard_throttled(shard, now);
        }
        let mut first_error = Ok(());
        for (pending, message) in retry.into_iter().rev() {
            let requeued = self.requeue(run, pending, message);
            first_error = first_error.and(requeued);
        }
        first_error
    }

    fn request_failed(
        &self,
        run: &mut Run,
        batch: Vec<Pending>,
        err: SdkError<PutRecordsError>,
        now: Instant,
    ) -> Result<(), BackfillError> {
        let e = crate::aws::classify(&err);
        // Whether the records may have been written: a 5xx may come after some were, and a
        // request that left without an answer may have been; sending them again can duplicate
        // but never loses them.
        let maybe_written = match e.kind {
            ErrorKind::Throttled => false,
            ErrorKind::Transient => e.status.is_some_and(|s| s >= 500),
            ErrorKind::OutcomeUnknown => true,
            ErrorKind::NotFound => {
                // Kept (not sent): they belong in the resume file.
                keep(run, batch);
                return Err(BackfillError::StreamNotFound {
                    stream: self.stream.name.clone(),
                    endpoint: self.stream.endpoint.clone(),
                });
            }
            // Never sent, and never will be: no region, no credentials.
            ErrorKind::Final if !e.answered() => {
                keep(run, batch);
                return Err(BackfillError::Setup {
                    stream: self.stream.name.clone(),
                    message: e.message,
                });
            }
            ErrorKind::Denied | ErrorKind::Invalid | ErrorKind::Final => {
                keep(run, batch);
                return Err(BackfillError::Rejected {
                    stream: self.stream.name.clone(),
                    endpoint: self.stream.endpoint.clone(),
                    message: e.message,
                });
            }
        };
        let throttled = e.kind == ErrorKind::Throttled;
        let message = e.message;
        let mut batch = batch;
        for pending in &mut batch {
            pending.maybe_written |= maybe_written;
            if throttled {
                pending.attempts = pending.attempts.saturating_sub(1);
            }
        }
        if throttled {
            run.request_throttled(batch.len());
        }
        self.retry_batch(run, batch, message, now)
    }

    /// Sends a whole batch again after a backoff.
    fn retry_batch(
        &self,
        run: &mut Run,
        batch: Vec<Pending>,
        message: String,
        now: Instant,
    ) -> Result<(), BackfillError> {
        let attempt = batch
            .iter()
            .map(|p| p.attempts)
            .max()
            .unwrap_or(1)
            .max(run.throttle_streak());
        let delay =
            crate::backoff::delay(Duration::from_millis(200), attempt).min(Duration::from_secs(10));
        PutRecordsFailed {
            stream: &self.stream.name,
            entries: batch.len(),
            attempt,
            error: &message,
            retry_in: delay,
        }
        .emit();
        run.hold(now + delay);
        let mut first_error = Ok(());
        for pending in batch.into_iter().rev() {
            let requeued = self.requeue(run, pending, message.clone());
            first_error = first_error.and(requeued);
        }
        first_error
    }

    /// Queues a failed record again; `Err` (the record still queued, for the resume file)
    /// when it has used up its attempts.
    fn requeue(
        &self,
        run: &mut Run,
        pending: Pending,
        message: String,
    ) -> Result<(), BackfillError> {
        if pending.attempts >= self.options.attempts {
            let exhausted = BackfillError::Exhausted {
                stream: self.stream.name.clone(),
                label: pending.record.label.clone(),
                attempts: pending.attempts,
                message: message.clone(),
            };
            run.failed(pending, &message, false);
            return Err(exhausted);
        }
        run.failed(pending, &message, true);
        Ok(())
    }
}

/// Puts a batch that was not written back in its queues, unsent: the backfill is stopping,
/// and these records go into the resume file.
fn keep(run: &mut Run, batch: Vec<Pending>) {
    for pending in batch.into_iter().rev() {
        run.requeue_front(pending);
    }
}
