//! `bookstream stream`: records from a file, a URL or stdin into a stream, either paced on a
//! fixed grid (the old streamer, retrying, never skipping) or, with `--interval 0`, as fast as
//! the stream's shards allow (the backfill).

use std::ops::ControlFlow;
use std::path::Path;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::CommandError;
use super::progress::Progress;
use crate::cli::StreamArgs;
use crate::input::{self, Format, Source};
use crate::kinesis::backfill::{Backfill, Item, Options};
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
    super::check_aws(args.region.as_deref(), "--region").await?;
    let (source, format) = source_of(&args);
    // A file can be read twice: it is checked whole first, so that a bad element anywhere
    // means nothing was sent. (A URL or stdin is checked as it streams.)
    let total = match &source {
        Source::File(_) => {
            let (s, f) = (source.clone(), format);
            let checked = tokio::task::spawn_blocking(move || input::check(&s, f)).await;
            Some(checked.map_err(|e| CommandError::Usage(format!("input check failed: {e}")))??)
        }
        _ => None,
    };
    let max = args
        .max_records
        .or((!backfill).then_some(PACED_DEFAULT_MAX));
    let to_send = total.map(|t| max.map_or(t, |m| m.min(t)));
    let client = kinesis::client(args.region.as_deref(), args.endpoint_url.as_ref()).await;
    if backfill {
        run_backfill(args, source, format, max, to_send, client, shutdown).await
    } else {
        run_paced(args, source, format, max, client, shutdown).await
    }
}

/// The input's records in order, encoded as the arguments say.
fn encoder(args: &StreamArgs) -> impl FnMut(u64, &[u8]) -> Result<Item, String> + Send + 'static {
    let delimiter = args.record_delimiter;
    let key = args.partition_key.clone();
    move |index, json| {
        Ok(Item {
            index,
            record: kinesis::encode_raw(json, delimiter, &key, &index.to_string())?,
        })
    }
}

async fn run_paced(
    args: StreamArgs,
    source: Source,
    format: Format,
    max: Option<u64>,
    client: aws_sdk_kinesis::Client,
    shutdown: CancellationToken,
) -> Result<(), CommandError> {
    // At most `max` records (150 by default): read them all before the first send, so that
    // bad input from any source means nothing was sent.
    let (mut rx, reader) = input::spawn(source.clone(), format, max, CHANNEL, encoder(&args));
    let mut records: Vec<Outgoing> = Vec::new();
    while let Some(chunk) = rx.recv().await {
        records.extend(chunk.into_iter().map(|item| item.record));
    }
    reader
        .await
        .map_err(|e| CommandError::Usage(format!("input reader failed: {e}")))??;
    tracing::info!(source = %source, to_send = records.len(), stream = %args.stream_name, "streaming {} records from {source} to {}", records.len(), args.stream_name);
    let producer = Producer::new(
        client,
        args.stream_name.clone(),
        args.endpoint_url.as_ref(),
        RetryPolicy::default(),
    );
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
                if let Outcome::Refused(e) = outcome {
                    tracing::error!(
                        element = k, upc = %records[k].label, error = %e,
                        "element {k} of {source} refused, not sent: {e}"
                    );
                    refused.push(format!("element {k}: {e}"));
                }
                if let Outcome::Unconfirmed(e) = outcome {
                    tracing::error!(element = k, upc = %records[k].label, error = %e, "element {k} of {source} not sent again: {e}");
                    unconfirmed.push(format!("element {k}: {e}"));
                }
                ControlFlow::Continue(())
            },
        )
        .await;
    match result {
        Ok(sent) => {
            let how = if shutdown.is_cancelled() {
                "interrupted"
            } else {
                "done"
            };
            tracing::info!(sent, stream = %args.stream_name, "{how}: {sent} records sent to {}", args.stream_name);
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
    client: aws_sdk_kinesis::Client,
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
        ..Options::default()
    };
    tracing::info!(
        source = %source, stream = %args.stream_name, records = to_send,
        "backfill: {} records from {source} to {}",
        to_send.map_or_else(|| "all".to_owned(), |n| n.to_string()),
        args.stream_name
    );
    let (rx, reader) = input::spawn(source.clone(), format, max, CHANNEL, encoder(&args));
    let backfill = Backfill::new(
        client,
        args.stream_name.clone(),
        args.endpoint_url.as_ref(),
        options,
    );
    let (progress_tx, progress_rx) = watch::channel(Default::default());
    let display = Progress::start(to_send, progress_rx);
    let started = std::time::Instant::now();
    let report = backfill.run(rx, &shutdown, &progress_tx).await;
    display.finish().await;
    let elapsed = started.elapsed();
    // The reader's verdict: a bad element in a streamed input stops the backfill there.
    let read_result = reader
        .await
        .map_err(|e| CommandError::Usage(format!("input reader failed: {e}")))?;
    super::progress::summary(&args.stream_name, &report, elapsed);
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
    read_result.map_err(|e| InputAfter {
        sent: s.sent,
        error: e,
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

/// A streamed input that turned bad after some records were sent.
struct InputAfter {
    sent: u64,
    error: input::InputError,
}

impl From<InputAfter> for CommandError {
    fn from(e: InputAfter) -> CommandError {
        CommandError::Input(input::InputError {
            message: format!(
                "{}; the {} record(s) before it were sent, none after",
                e.error.message, e.sent
            ),
            source_name: e.error.source_name,
        })
    }
}
