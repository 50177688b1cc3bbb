//! The one-shot subcommands (`scrape`, `stream`, `tail`, `check-config`): each
//! turns validated arguments into calls on the library and prints the CLI's own output.

mod progress;
mod stream;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::aws::setup::SetupError;
use crate::catalogue::{Book, Snapshot, Timestamp};
use crate::cli::{DiffArgs, ScrapeArgs, TailArgs};
use crate::config::{Config, ConfigError};
use crate::input::{InputError, Problem};
use crate::kinesis;
use crate::kinesis::backfill::BackfillError;
use crate::kinesis::producer::PutError;
use crate::kinesis::reader::{self, ReadError};
use crate::scrape::fetch::{FetchError, FetchPolicy, Fetcher};
use crate::scrape::{ScrapeError, ScrapePlan, Scraper};
use tokio_util::sync::CancellationToken;

pub use stream::stream;

/// Why a subcommand failed. `main` maps `Config` and `Setup` to exit status 78 (EX_CONFIG).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No AWS region or no credentials at all.
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Input(#[from] InputError),
    /// A streamed input that turned bad after `sent` records had gone out.
    #[error("{source}; {}", match .sent { 0 => "nothing was sent".to_owned(), n => format!("the {n} record(s) before it were sent, none after") })]
    InputAfter { sent: u64, source: InputError },
    #[error("{0}")]
    Usage(String),
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
    #[error(
        "{input}: {count} record(s) sent twice without an answer from Kinesis (each may be in the stream once, twice or not at all; the rest were sent): {details}"
    )]
    Unconfirmed {
        input: String,
        count: usize,
        details: String,
    },
    #[error("interrupted; nothing written")]
    Interrupted,
    #[error("stopped after {sent} record(s): {source}")]
    Put { sent: u32, source: PutError },
    #[error("stopped {}: {source}", backfill_progress(*.sent, *.read, *.unsent))]
    Backfill {
        sent: u64,
        read: u64,
        unsent: u64,
        source: BackfillError,
    },
    #[error("interrupted: {sent} of {read} record(s) read were sent; {unsent} read but not sent")]
    BackfillInterrupted { sent: u64, read: u64, unsent: u64 },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Daemon(#[from] crate::daemon::DaemonError),
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    #[cfg(feature = "demo")]
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
}

/// How far a backfill that stopped got: "before any record was read" (the stream could not be
/// reached), else how many of the records read were sent.
fn backfill_progress(sent: u64, read: u64, unsent: u64) -> String {
    if read == 0 {
        "before any record was read".to_owned()
    } else {
        format!("after {sent} of {read} record(s) read ({unsent} read but not sent)")
    }
}

impl CommandError {
    /// The process exit status: 78 (EX_CONFIG) for configuration errors, 74/75 for a state
    /// directory that cannot be read or is in use (see `EngineError::exit_code`), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Config(_)
            | CommandError::Setup(_)
            | CommandError::Daemon(crate::daemon::DaemonError::Setup(_)) => 78,
            CommandError::Usage(_) => 2,
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
        max_requests_per_sec: args.max_requests_per_sec,
        verify: None,
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

/// A Kinesis client to `endpoint` on the chain loaded for `region`, or the error naming what
/// the chain did not find (no region, no credentials: see [`crate::aws::setup`]) before
/// anything is read or sent; `option` says how this command's user sets the region.
pub async fn kinesis_client(
    region: Option<&str>,
    endpoint: Option<&url::Url>,
    option: &str,
) -> Result<aws_sdk_kinesis::Client, CommandError> {
    let aws = crate::aws::Aws::load(region).await;
    crate::aws::setup::check(&aws, option).await?;
    Ok(aws.kinesis(endpoint))
}

/// `bookstream tail`: one line per record (its data), every shard; KPL aggregates (from
/// `stream --aggregate`) are split into the records they hold.
pub async fn tail(args: TailArgs, shutdown: CancellationToken) -> Result<(), CommandError> {
    let client = kinesis_client(
        args.region.as_deref(),
        args.endpoint_url.as_ref(),
        "--region",
    )
    .await?;
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) ends the output.
    let mut print = |r: &reader::ReadRecord| {
        let mut line = |data: &[u8]| {
            let text = String::from_utf8_lossy(data);
            writeln!(out, "{}", text.trim_end_matches('\n')).is_ok()
        };
        let ok = match kinesis::aggregate::deaggregate(&r.partition_key, &r.data) {
            Ok(records) => records.iter().all(|u| line(&u.data)),
            Err(e) => {
                tracing::warn!(shard = %r.shard_id, seq = %r.sequence_number, error = %e,
                    "record {} of {} looks aggregated but is not readable ({e}); printed as it is",
                    r.sequence_number, r.shard_id);
                line(&r.data)
            }
        };
        ok && out.flush().is_ok()
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
    let detected_at = scraped_at.unwrap_or_else(crate::catalogue::now);
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
fn load_catalogue(path: &Path) -> Result<(Vec<Book>, Option<Timestamp>), CommandError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let (books, scraped_at) = match serde_json::from_slice::<Snapshot>(&bytes) {
        Ok(s) => (s.books, Some(s.scraped_at)),
        Err(_) => (
            serde_json::from_slice::<Vec<Book>>(&bytes).map_err(|e| InputError {
                input: path.display().to_string(),
                problem: Problem::NotACatalogue(e.to_string()),
            })?,
            None,
        ),
    };
    Ok((crate::scrape::dedupe(books).0, scraped_at))
}

/// `bookstream check-config`: validates and prints the effective settings.
pub fn check_config(path: &Path) -> Result<(), CommandError> {
    let cfg = Config::load(path)?;
    cfg.validate(path)?;
    println!(
        "# {}: OK (with BOOKSTREAM__* overrides applied)",
        path.display()
    );
    print!("{}", cfg.to_toml());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::backfill_progress;

    #[test]
    fn a_backfill_stopped_before_reading_says_so_not_0_of_0() {
        assert_eq!(backfill_progress(0, 0, 0), "before any record was read");
        assert_eq!(
            backfill_progress(700, 712, 12),
            "after 700 of 712 record(s) read (12 read but not sent)"
        );
    }
}
