//! The one-shot subcommands (`scrape`, `stream`, `tail`, `check-config`): each
//! turns validated arguments into calls on the library and prints the CLI's own output.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use url::Url;

use crate::catalogue::{Book, Snapshot};
use crate::cli::{DiffArgs, ScrapeArgs, StreamArgs, TailArgs};
use crate::config::{Config, ConfigError};
use crate::kinesis::pace::Pacer;
use crate::kinesis::producer::{Outcome, Producer, PutError, RetryPolicy, SendStats};
use crate::kinesis::reader::{self, ReadError};
use crate::kinesis::{self, Outgoing};
use crate::scrape::fetch::{FetchError, FetchPolicy, Fetched, Fetcher};
use crate::scrape::{ScrapeError, ScrapePlan, Scraper};
use tokio_util::sync::CancellationToken;

/// Why a subcommand failed. `main` maps `Config` to exit status 78 (EX_CONFIG).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{input}: {count} record(s) refused and not sent (the rest were): {details}")]
    Refused {
        input: String,
        count: usize,
        details: String,
    },
    #[error("interrupted; nothing written")]
    Interrupted,
    #[error("stopped after {sent} record(s): {source}")]
    Put { sent: u32, source: PutError },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Daemon(#[from] crate::daemon::DaemonError),
    #[cfg(feature = "demo")]
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
}

impl CommandError {
    /// The process exit status: 78 (EX_CONFIG) for configuration errors, 74/75 for a state
    /// directory that cannot be read or is in use (see `EngineError::exit_code`), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Config(_) => 78,
            CommandError::Daemon(crate::daemon::DaemonError::Engine(e)) => e.exit_code(),
            _ => 1,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CommandError + '_ {
    move |source| CommandError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `bookstream scrape`.
pub async fn scrape(args: ScrapeArgs, shutdown: CancellationToken) -> Result<(), CommandError> {
    let fetcher = Fetcher::new(FetchPolicy {
        request_timeout: args.timeout,
        ..FetchPolicy::default()
    })?;
    let plan = ScrapePlan {
        site: args.site,
        pages: args.pages,
        concurrency: args.concurrency,
    };
    let started = std::time::Instant::now();
    let scraper = Scraper::new(fetcher);
    let (books, stats) = tokio::select! {
        scraped = scraper.scrape(&plan) => scraped?,
        _ = shutdown.cancelled() => return Err(CommandError::Interrupted),
    };
    tracing::info!(
        books = books.len(),
        listing_pages = stats.listing_pages,
        requests = stats.requests,
        product_failures = stats.product_failures,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "scrape finished: {} books, {} listing pages, {} requests, {} product pages failed, {} ms",
        books.len(),
        stats.listing_pages,
        stats.requests,
        stats.product_failures,
        started.elapsed().as_millis()
    );
    let json = serde_json::to_vec_pretty(&books).unwrap_or_default();
    match &args.output {
        Some(path) => std::fs::write(path, json).map_err(io_err(path))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&json)
                .and_then(|_| out.write_all(b"\n"))
                .map_err(io_err(Path::new("<stdout>")))?;
        }
    }
    Ok(())
}

/// Loads the records to stream: a JSON array of objects from a file or a URL.
async fn load_records(args: &StreamArgs) -> Result<(String, Vec<serde_json::Value>), CommandError> {
    let (source, bytes) = match (&args.json_file, &args.json_url) {
        (Some(path), _) => (
            path.display().to_string(),
            std::fs::read(path).map_err(io_err(path))?,
        ),
        (None, Some(url)) => (url.to_string(), fetch_bytes(url).await?),
        (None, None) => unreachable!("clap requires a source"),
    };
    let items = parse_records(&bytes).map_err(|message| CommandError::Input {
        path: source.clone(),
        message,
    })?;
    Ok((source, items))
}

/// The input of `stream`, checked whole before anything is sent: UTF-8 text holding a JSON
/// array of objects. The message says what was found instead.
fn parse_records(bytes: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {}); expected a JSON array of objects",
            e.valid_up_to()
        )
    })?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err("is empty; expected a JSON array of objects".into());
    }
    if trimmed.starts_with('<') {
        return Err("looks like HTML or XML, not JSON; expected a JSON array of objects".into());
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let serde_json::Value::Array(items) = value else {
        return Err(format!(
            "expected a JSON array of objects, got a JSON {}",
            json_kind(&value)
        ));
    };
    if let Some(i) = items.iter().position(|v| !v.is_object()) {
        return Err(format!(
            "element {i} is a JSON {}, not an object; nothing was sent",
            json_kind(&items[i])
        ));
    }
    Ok(items)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

async fn fetch_bytes(url: &Url) -> Result<Vec<u8>, CommandError> {
    match Fetcher::new(FetchPolicy {
        max_body_bytes: 64 * 1024 * 1024,
        ..FetchPolicy::default()
    })?
    .get(url, None)
    .await?
    {
        Fetched::Body { bytes, .. } => Ok(bytes),
        Fetched::NotModified => unreachable!("no validators were sent"),
    }
}

/// `bookstream stream`: the old streamer, paced on a fixed grid, retrying, never skipping.
pub async fn stream(args: StreamArgs, shutdown: CancellationToken) -> Result<(), CommandError> {
    let (source, items) = load_records(&args).await?;
    let records: Vec<Outgoing> = items
        .iter()
        .take(args.max_records as usize)
        .enumerate()
        .map(|(i, v)| {
            kinesis::encode(
                v,
                args.record_delimiter,
                &args.partition_key,
                &i.to_string(),
            )
        })
        .collect();
    tracing::info!(source = %source, available = items.len(), to_send = records.len(), stream = %args.stream_name, "streaming {} of {} records from {source} to {}", records.len(), items.len(), args.stream_name);
    let client = kinesis::client(args.region.as_deref(), args.endpoint_url.as_ref()).await;
    let producer = Producer::new(
        client,
        args.stream_name.clone(),
        args.endpoint_url.as_ref(),
        RetryPolicy::default(),
    );
    let pacer = Pacer::new(tokio::time::Instant::now(), args.interval);
    let mut refused = Vec::new();
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
            if refused.is_empty() {
                Ok(())
            } else {
                Err(CommandError::Refused {
                    input: source,
                    count: refused.len(),
                    details: refused.join("; "),
                })
            }
        }
        Err((sent, source)) => Err(CommandError::Put { sent, source }),
    }
}

/// `bookstream tail`: one line per record (its data), every shard.
pub async fn tail(args: TailArgs, shutdown: CancellationToken) -> Result<(), CommandError> {
    let client = kinesis::client(args.region.as_deref(), args.endpoint_url.as_ref()).await;
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) ends the output.
    let mut print = |r: &reader::ReadRecord| {
        let text = String::from_utf8_lossy(&r.data);
        writeln!(out, "{}", text.trim_end_matches('\n'))
            .and_then(|_| out.flush())
            .is_ok()
    };
    let count = if args.follow {
        reader::follow(&client, &args.stream_name, args.from, &shutdown, &mut print).await?
    } else {
        let records = reader::read_all(&client, &args.stream_name, args.from, args.limit).await?;
        records.iter().take_while(|r| print(r)).count() as u64
    };
    tracing::info!(records = count, stream = %args.stream_name, "tail finished: {count} records");
    Ok(())
}

/// `bookstream diff OLD NEW`: the change feed's comparison as a command, one event per line.
pub fn diff(args: &DiffArgs) -> Result<(), CommandError> {
    let (old, _) = load_catalogue(&args.old)?;
    let (new, scraped_at) = load_catalogue(&args.new)?;
    let detected_at = scraped_at.unwrap_or_else(crate::now_rfc3339);
    let events = crate::changes::diff(&old, &new, &detected_at);
    let mut out = std::io::stdout().lock();
    for event in &events {
        let line = serde_json::to_string(event).unwrap_or_default();
        writeln!(out, "{line}").map_err(io_err(Path::new("<stdout>")))?;
    }
    tracing::info!(
        events = events.len(),
        "{} changes from {} to {}",
        events.len(),
        args.old.display(),
        args.new.display()
    );
    Ok(())
}

/// A saved catalogue: `bookstream scrape` output (an array of books) or the daemon's
/// `catalogue.json` (with its scrape time); each key once, as the scraper keeps them.
fn load_catalogue(path: &Path) -> Result<(Vec<Book>, Option<String>), CommandError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let (books, scraped_at) = match serde_json::from_slice::<Snapshot>(&bytes) {
        Ok(s) => (s.books, Some(s.scraped_at)),
        Err(_) => (
            serde_json::from_slice::<Vec<Book>>(&bytes).map_err(|e| CommandError::Input {
                path: path.display().to_string(),
                message: format!(
                    "expected a saved catalogue (the JSON array `bookstream scrape` writes, or the daemon's catalogue.json): {e}"
                ),
            })?,
            None,
        ),
    };
    Ok((crate::scrape::dedupe(books).0, scraped_at))
}

/// `bookstream check-config`: validates and prints the effective settings.
pub fn check_config(path: &Path) -> Result<(), CommandError> {
    let cfg = Config::load(path)?;
    println!(
        "# {}: OK (with BOOKSTREAM__* overrides applied)",
        path.display()
    );
    print!("{}", cfg.to_toml());
    Ok(())
}
