//! Sending a cycle's records with a checkpoint after each: an acknowledged record advances the
//! cursor, one Kinesis can never accept (or one sent twice without an answer) goes to the
//! dead-letter file, and a checkpoint that cannot be written stops sending until one can.

use std::ops::ControlFlow;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::plan::{Planned, Position};
use crate::config::Settings;
use crate::events::Event;
use crate::events::engine::{CursorNotSaved, CursorSavedAgain, RecordDeadLettered};
use crate::kinesis::Outgoing;
use crate::kinesis::pace::Pacer;
use crate::kinesis::producer::{Outcome, PutError, SendStats};
use crate::state::StateFileError;

impl Engine {
    /// After a failed save: saves the cursor again, or says why sending still waits.
    pub(super) fn resume_saving(&mut self) -> Result<(), String> {
        let Some(why) = &self.save_failed else {
            return Ok(());
        };
        match self.store.save_cursor(&self.cursor) {
            Ok(()) => {
                CursorSavedAgain {
                    state_dir: self.store.dir(),
                    had_failed: why,
                }
                .emit();
                self.save_failed = None;
                Ok(())
            }
            Err(e) => Err(self.save_failure(&e)),
        }
    }

    /// Records and logs a failed save; returns the message for STATUS.
    fn save_failure(&mut self, e: &StateFileError) -> String {
        let message = format!(
            "cannot save the cursor in state directory {}: {e}; sending paused until it can be saved",
            self.store.dir().display()
        );
        CursorNotSaved {
            state_dir: self.store.dir(),
            error: e,
            message: &message,
        }
        .emit();
        self.save_failed = Some(e.to_string());
        message
    }

    /// Sends the planned records, checkpointing after each: an acknowledged record advances
    /// the cursor, one Kinesis can never accept goes to the dead-letter file and the cursor
    /// moves past it, and so does one whose resend went unanswered too (it may be in the
    /// stream up to twice: sending it every cycle would make a copy every cycle; the file
    /// keeps it for a replay). A failed save (or dead-letter write) stops sending.
    pub(super) async fn send(
        &mut self,
        items: &[Planned],
        cfg: &Settings,
        stop_by: Option<Instant>,
        shutdown: &CancellationToken,
    ) -> SendSummary {
        let books = self.catalogue.as_ref().map_or(&[][..], |s| &s.books);
        let (store, cursor) = (&self.store, &mut self.cursor);
        let mut failed_save = None;
        let mut dead_lettered = 0;
        let mut stats = SendStats::default();
        let pacer = Pacer::new(Instant::now(), cfg.stream.interval);
        let result = self
            .producer
            .send_paced(items, pacer, stop_by, shutdown, &mut stats, |k, outcome| {
                let Planned { record, position } = &items[k];
                match (outcome, *position) {
                    (Outcome::Sent(ack), Position::Book(i)) => {
                        cursor.advance(books, i, &ack.sequence_number)
                    }
                    (Outcome::Sent(ack), Position::Event(seq)) => {
                        cursor.ack_event(seq, &ack.sequence_number)
                    }
                    (Outcome::Refused(e) | Outcome::Unconfirmed(e), position) => {
                        let entry = dead_letter_entry(record, &cfg.kinesis.stream_name, e);
                        if let Err(write) = store.append_dead_letter(&entry) {
                            failed_save = Some(write);
                            return ControlFlow::Break(());
                        }
                        RecordDeadLettered {
                            stream: &cfg.kinesis.stream_name,
                            upc: &record.label,
                            error: e,
                            dead_letter: &store.dead_letter_path(),
                        }
                        .emit();
                        match position {
                            Position::Book(i) => cursor.skip(books, i),
                            Position::Event(seq) => cursor.skip_event(seq),
                        }
                        dead_lettered += 1;
                    }
                }
                match store.save_cursor(cursor) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        failed_save = Some(e);
                        ControlFlow::Break(())
                    }
                }
            })
            .await;
        let (sent, failed_put) = match result {
            Ok(sent) => (sent, None),
            Err((sent, e)) => (sent, Some(e)),
        };
        SendSummary {
            sent,
            dead_lettered,
            unsent_after_failure: failed_put.as_ref().map_or(0, |_| {
                (items.len() as u32).saturating_sub(sent + dead_lettered)
            }),
            stats,
            // A failed save says why sending is paused; it outranks the put's error.
            error: match failed_save {
                Some(e) => Some(self.save_failure(&e)),
                None => failed_put.map(|e| e.to_string()),
            },
        }
    }
}

/// What one cycle's sending did.
#[derive(Debug, Default)]
pub(super) struct SendSummary {
    /// Records acknowledged, and records set aside in the dead-letter file.
    pub sent: u32,
    pub dead_lettered: u32,
    /// Records left unsent by a put that failed for good.
    pub unsent_after_failure: u32,
    /// What the sends cost, for the metrics.
    pub stats: SendStats,
    /// What stopped sending short: a put that failed for good, or a cursor save that failed.
    pub error: Option<String>,
}

impl SendSummary {
    /// Nothing sent: the cursor still cannot be saved (`why`).
    pub(super) fn paused(why: String) -> Self {
        Self {
            error: Some(why),
            ..Self::default()
        }
    }
}

/// One line of `dead-letter.jsonl`: when, where to, why, and the record itself (as JSON when it
/// is JSON, else as text), so it can be inspected and replayed with `bookstream stream`.
fn dead_letter_entry(record: &Outgoing, stream: &str, error: &PutError) -> serde_json::Value {
    let body = record.data.strip_suffix(b"\n").unwrap_or(&record.data);
    let record_value = serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()));
    serde_json::json!({
        "time": crate::catalogue::now(),
        "stream": stream,
        "partition_key": record.partition_key,
        "bytes": record.data.len(),
        "error": error.to_string(),
        "record": record_value,
    })
}
