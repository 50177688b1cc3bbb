//! `bookstream stream`: records from a file, a URL or stdin into a stream, either paced on a
//! fixed grid (the old streamer, retrying, never skipping) or, with `--interval 0`, as fast as
//! the stream's shards allow (the backfill).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::CommandError;
use super::progress::{Progress, ResumePoint};
use crate::cli::StreamArgs;
use crate::events::Event;
use crate::events::backfill::{BackfillPlanned, ResumeFileFailed, ResumeFileSkipped};
use crate::events::stream::{
    Element, ElementRefused, ElementUnconfirmed, StreamingFinished, StreamingStarted,
};
use crate::input::{self, Format, Source};
use crate::kinesis::backfill::resume::ResumeWriter;
use crate::kinesis::backfill::{Backfill, Item, Options, Report};
use crate::kinesis::limit::Limits;
use crate::kinesis::pace::Pacer;
use crate::kinesis::producer::{Outcome, Producer, RetryPolicy, SendStats};
use crate::kinesis::{self, Outgoing};

/// At an interval, the old script's default number of records.
const PACED_DEFAULT_MAX: u64 = 150;
/// Encoded records between the input's reader thread and the sender.
const CHANNEL: usize = 4;

/// The input as the arguments name it.
fn source_of(args: &StreamArgs) -> (Source, Format) {
    let source = match (&args.json_file, &args.json_url) {
        (Some(path), _) if path == Path::new("-") => Source::Stdin,
        (Some(path), _) => Source::File(path.clone()),
        (None, Some(url)) => Source::Url(url.clone()),
        (None, None) => unreachable!("clap requires a source"),
    };
    let jsonl = |name: &str| name.ends_with(".jsonl");
    let by_name = match &source {
        Source::File(p) => p.to_str().is_some_and(jsonl),
        Source::Url(u) => jsonl(u.path()),
        Source::Stdin => false,
    };
    let format = if args.json_lines || by_name {
        Format::Lines
    } else {
        Format::Array
    };
    (source, format)
}

/// `bookstream stream`.
pub async fn stream(args: StreamArgs, shutdown: CancellationToken) -> Result<(), CommandError> {
    let backfill = args.interval.is_zero();
    if args.aggregate && !backfill {
        return Err(CommandError::Usage(
            "--aggregate needs --interval 0 (aggregation is for backfills)".into(),
        ));
    }
    let client = super::kinesis_client(
        args.region.as_deref(),
        args.endpoint_url.as_ref(),
        "--region",
    )
    .await?;
    let to = kinesis::Stream::new(client, args.stream_name.clone(), args.endpoint_url.as_ref());
    let (source, format) = source_of(&args);
    // A regular file can be read twice: it is checked whole first, so that a bad element
    // anywhere means nothing was sent. A FIFO, `/dev/fd/N` (`<(...)`), stdin or a URL can be
    // read only once: it is checked as it streams.
    let total = if source.is_regular_file() {
        let (s, f) = (source.clone(), format);
        let checked = tokio::task::spawn_blocking(move || input::check(&s, f)).await;
        Some(checked.map_err(|e| CommandError::Usage(format!("input check failed: {e}")))??)
    } else {
        None
    };
    let max = args
        .max_records
        .or((!backfill).then_some(PACED_DEFAULT_MAX));
    let to_send = total.map(|t| max.map_or(t, |m| m.min(t)));
    if backfill {
        run_backfill(args, source, format, max, to_send, to, shutdown).await
    } else {
        run_paced(args, source, format, max, to, shutdown).await
    }
}

/// The input's records in order, encoded as the arguments say.
fn encoder(args: &StreamArgs) -> impl FnMut(u64, &[u8]) -> Result<Item, String> + Send + 'static {
    let delimiter = args.record_delimiter;
    let key = args.partition_key.clone();
    // The record's number, the key and label of a record without one: written into one buffer,
    // not allocated per record.
    let mut number = String::new();
    move |index, json| {
        use std::fmt::Write;
        number.clear();
        let _ = write!(number, "{index}");
        Ok(Item {
            index,
            record: kinesis::encode_raw(json, delimiter, &key, &number)?,
        })
    }
}

async fn run_paced(
    args: StreamArgs,
    source: Source,
    format: Format,
    max: Option<u64>,
    to: kinesis::Stream,
    shutdown: CancellationToken,
) -> Result<(), CommandError> {
    // At most `max` records (150 by default): read them all before the first send, so that
    // bad input from any source means nothing was sent.
    let (mut rx, reader) = input::spawn(source.clone(), format, max, CHANNEL, encoder(&args));
    let mut records: Vec<Outgoing> = Vec::new();
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(chunk) => records.extend(chunk.into_iter().map(|item| item.record)),
                None => break,
            },
            // Nothing was sent yet: stop without waiting for the input's writer.
            _ = shutdown.cancelled() => return Err(CommandError::Interrupted),
        }
    }
    reader.finish().await?;
    StreamingStarted {
        source: &source,
        to_send: records.len(),
        stream: &args.stream_name,
    }
    .emit();
    let producer = Producer::new(to, RetryPolicy::default());
    let pacer = Pacer::new(tokio::time::Instant::now(), args.interval);
    let (mut refused, mut unconfirmed) = (Vec::new(), Vec::new());
    let mut stats = SendStats::default();
    let result = producer
        .send_paced(
            &records,
            pacer,
            None,
            &shutdown,
            &mut stats,
            |k, outcome| {
                let element = |error| Element {
                    source: &source,
                    element: k,
                    upc: &records[k].label,
                    error,
                };
                match outcome {
                    Outcome::Refused(e) => {
                        ElementRefused {
                            element: element(e),
                        }
                        .emit();
                        refused.push(format!("element {k}: {e}"));
                    }
                    Outcome::Unconfirmed(e) => {
                        ElementUnconfirmed {
                            element: element(e),
                        }
                        .emit();
                        unconfirmed.push(format!("element {k}: {e}"));
                    }
                    _ => {}
                }
                ControlFlow::Continue(())
            },
        )
        .await;
    match result {
        Ok(sent) => {
            StreamingFinished {
                interrupted: shutdown.is_cancelled(),
                sent,
                stream: &args.stream_name,
            }
            .emit();
            println!(
                "sent {sent} of {} record(s) to {}",
                records.len(),
                args.stream_name
            );
            if !unconfirmed.is_empty() {
                return Err(CommandError::Unconfirmed {
                    input: source.to_string(),
                    count: unconfirmed.len(),
                    details: unconfirmed.join("; "),
                });
            }
            refusals(&source, refused)
        }
        Err((sent, source)) => Err(CommandError::Put { sent, source }),
    }
}

fn refusals(source: &Source, refused: Vec<String>) -> Result<(), CommandError> {
    if refused.is_empty() {
        return Ok(());
    }
    Err(CommandError::Refused {
        input: source.to_string(),
        count: refused.len(),
        details: refused.join("; "),
    })
}

async fn run_backfill(
    args: StreamArgs,
    source: Source,
    format: Format,
    max: Option<u64>,
    to_send: Option<u64>,
    to: kinesis::Stream,
    shutdown: CancellationToken,
) -> Result<(), CommandError> {
    let options = Options {
        limits: Limits {
            records_per_sec: args.shard_records_per_sec,
            bytes_per_sec: args.shard_bytes_per_sec,
        },
        in_flight: usize::from(args.in_flight),
        aggregate: args.aggregate,
        remap_every: args
            .shard_map_every
            .max(std::time::Duration::from_millis(100)),
        give_up_after: args.give_up_after.max(std::time::Duration::from_secs(1)),
        ..Options::default()
    };
    BackfillPlanned {
        source: &source.to_string(),
        stream: &args.stream_name,
        records: to_send,
    }
    .emit();
    let (mut rx, reader) = input::spawn(source.clone(), format, max, CHANNEL, encoder(&args));
    let backfill = Backfill::new(to, options);
    let (progress_tx, progress_rx) = watch::channel(Default::default());
    let display = Progress::start(to_send, progress_rx);
    let started = std::time::Instant::now();
    let mut report = backfill.run(&mut rx, &shutdown, &progress_tx).await;
    display.finish().await;
    let elapsed = started.elapsed();
    let stopped = report.error.is_some() || report.interrupted;
    // Stopped: never wait for the input (a pipe's writer may hold it open for ever); leave
    // what was not acknowledged as a resume point instead. Not stopped: the input has ended,
    // and its verdict is ready (a bad element in a streamed input ends the backfill there).
    let (read_result, resume) = if stopped {
        let resume = leave_resume_point(&args, &source, &mut report, &mut rx).await;
        (Ok(0), resume)
    } else {
        (reader.finish().await, None)
    };
    super::progress::summary(&args.stream_name, &report, elapsed, resume.as_ref());
    let s = &report.stats;
    if let Some(source) = report.error {
        return Err(CommandError::Backfill {
            sent: s.sent,
            read: s.read,
            unsent: report.unsent,
            source,
        });
    }
    if report.interrupted {
        return Err(CommandError::BackfillInterrupted {
            sent: s.sent,
            read: s.read,
            unsent: report.unsent,
        });
    }
    read_result.map_err(|source| CommandError::InputAfter {
        sent: s.sent,
        source,
    })?;
    let refused = report
        .refused
        .iter()
        .map(|r| {
            format!(
                "element {} ({}) is {} bytes with its partition key, over Kinesis's 1 MiB record limit",
                r.index, r.label, r.bytes
            )
        })
        .collect();
    refusals(&source, refused)
}

/// Writes the records a stopped backfill did not get acknowledged, then those read but not
/// yet taken in, as a JSON Lines file in the current directory. A regular file is read on to
/// its end (or `--max-records`) into it, so the resume file is the whole rest; any other input
/// only up to what has already arrived (the summary says from which record on it was not
/// read). No file when nothing was sent from an input that can simply be read again.
async fn leave_resume_point(
    args: &StreamArgs,
    source: &Source,
    report: &mut Report,
    rx: &mut tokio::sync::mpsc::Receiver<Vec<Item>>,
) -> Option<ResumePoint> {
    let regular = source.is_regular_file();
    let rereadable = regular || matches!(source, Source::Url(_));
    if report.stats.sent == 0 && rereadable {
        ResumeFileSkipped {
            source: &source.to_string(),
        }
        .emit();
        return None;
    }
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let delimiter = args.record_delimiter.bytes();
    let written = async {
        let mut out = ResumeWriter::create(&dir, &args.stream_name, delimiter)?;
        for record in std::mem::take(&mut report.unacked) {
            out.write(&record.data)?;
        }
        let mut taken = report.stats.read;
        let mut complete = false;
        loop {
            let chunk = if regular {
                rx.recv().await
            } else {
                match rx.try_recv() {
                    Ok(chunk) => Some(chunk),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            let Some(chunk) = chunk else {
                complete = true;
                break;
            };
            for item in chunk {
                taken += 1;
                out.write(&item.record.data)?;
            }
        }
        let records = out.records();
        let path = out.finish()?;
        Ok::<_, crate::kinesis::backfill::resume::ResumeError>(ResumePoint {
            path: Some(path),
            records,
            possibly_written: report.unacked_maybe_written,
            unread_from: (!complete).then_some(taken),
            error: None,
        })
    };
    Some(written.await.unwrap_or_else(|e| {
        ResumeFileFailed { error: &e }.emit();
        ResumePoint {
            path: None,
            records: 0,
            possibly_written: report.unacked_maybe_written,
            unread_from: None,
            error: Some(e.to_string()),
        }
    }))
}
