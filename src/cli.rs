//! Command-line definitions only (clap). Raw arguments become typed values here, once.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{EnumValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::config::{Delimiter, PartitionKey};
use crate::kinesis::reader::StartAt;

/// Scrape books.toscrape.com on a schedule and stream the catalogue into Amazon Kinesis.
#[derive(Debug, Parser)]
#[command(name = "bookstream", version, about)]
pub struct Cli {
    /// Log format on stderr (under systemd the journal is used when present).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// journald when its socket exists, text on stderr otherwise.
    Auto,
    Text,
    Json,
    Journald,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scrape the catalogue and write it as a JSON array.
    Scrape(ScrapeArgs),
    /// Stream a JSON array's (or JSON Lines') records to Kinesis: one by one at a fixed
    /// interval, or with --interval 0 as fast as the stream's shards allow.
    // Boxed: its many options would make every `Command` as large as it.
    Stream(Box<StreamArgs>),
    /// Print the records in a stream (every shard).
    Tail(TailArgs),
    /// The changes between two saved catalogues, as the change feed's events (JSON lines).
    Diff(DiffArgs),
    /// Validate a config file and print the effective settings.
    CheckConfig(ConfigArg),
    /// Run the daemon: scheduled cycles of scrape + stream, with systemd integration.
    Run(ConfigArg),
    /// Run one cycle and exit.
    Once(ConfigArg),
    /// Print the record schema (both modes): JSON Schema, Glue columns or Athena DDL.
    Schema(SchemaArgs),
    /// The whole job locally: start moto_server and the test site, run cycles, show the records.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    #[arg(long, short, default_value = "/etc/bookstream/bookstream.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ScrapeArgs {
    /// Site root, e.g. https://books.toscrape.com/
    #[arg(long)]
    pub site: Url,
    /// Stop after this many listing pages (default: all).
    #[arg(long)]
    pub pages: Option<u32>,
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Requests started per second at most, evenly spaced (as `[site] max_requests_per_sec`).
    #[arg(long, default_value_t = 2.0, value_parser = parse_rate)]
    pub max_requests_per_sec: f64,
    /// Per-request timeout, e.g. "10s".
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Write here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["json_file", "json_url"])))]
pub struct StreamArgs {
    #[arg(long, alias = "stream_name")]
    pub stream_name: String,
    /// Seconds between records ("1", "0.5") or a duration ("500ms"); 0 sends as fast as the
    /// stream's shards allow (backfill: PutRecords batches, per-shard rate limits).
    #[arg(long, short = 'i', value_parser = parse_interval)]
    pub interval: Duration,
    /// Records to send at most [default: 150 at an interval, all of them with --interval 0].
    #[arg(long, alias = "max_records")]
    pub max_records: Option<u64>,
    /// A JSON array of objects (or JSON Lines, see --json-lines); `-` reads stdin.
    #[arg(long, alias = "json_file")]
    pub json_file: Option<PathBuf>,
    #[arg(long, alias = "json_url")]
    pub json_url: Option<Url>,
    /// The input is JSON Lines (one object per line); implied by a `.jsonl` file name.
    #[arg(long)]
    pub json_lines: bool,
    /// A local Kinesis-compatible server (else AWS_ENDPOINT_URL or the real endpoint).
    #[arg(long, alias = "endpoint_url")]
    pub endpoint_url: Option<Url>,
    #[arg(long)]
    pub region: Option<String>,
    /// A fixed key, or `{field}` to use that field of each record. A fixed key sends every
    /// record to one shard (at most 1,000 records/s); `{upc}` spreads them over all shards.
    #[arg(long, alias = "partition_key", default_value = "{upc}")]
    pub partition_key: PartitionKey,
    #[arg(long, default_value = "none",
          value_parser = EnumValueParser::<DelimiterArg>::new().map(Delimiter::from))]
    pub record_delimiter: Delimiter,
    /// With --interval 0: pack small records into KPL aggregated records (de-aggregated by
    /// Firehose, the KCL and `bookstream tail`).
    #[arg(long)]
    pub aggregate: bool,
    /// With --interval 0: records per second to send each shard at most (Kinesis: 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub shard_records_per_sec: u32,
    /// With --interval 0: bytes per second to send each shard at most (Kinesis: 1 MiB).
    #[arg(long, default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=1024 * 1024))]
    pub shard_bytes_per_sec: u64,
    /// With --interval 0: PutRecords requests out at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub in_flight: u16,
    /// With --interval 0: how often to re-read the stream's shards (they are also re-read when
    /// a put lands on a shard the map does not hold).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shard_map_every: Duration,
    /// With --interval 0: give up when no record is acknowledged for this long while records
    /// wait (throttling alone never stops a backfill); a resume file is left.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub give_up_after: Duration,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[arg(long, value_enum, default_value_t = SchemaFormat::JsonSchema)]
    pub format: SchemaFormat,
    /// With --format athena: the table's S3 location (the Firehose prefix).
    #[arg(long, default_value = "s3://BUCKET/json_data/")]
    pub location: String,
    /// With --format athena: the table's name.
    #[arg(long, default_value = crate::schema::TABLE)]
    pub table: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// JSON Schema, draft 2020-12 (for validators).
    JsonSchema,
    /// The columns as `AWS::Glue::Table` lists them: `[{"Name": .., "Type": ..}]`.
    Glue,
    /// A complete `CREATE EXTERNAL TABLE` with partition projection.
    Athena,
}

/// `--record-delimiter`, as the command line spells it; the library's [`Delimiter`] knows
/// nothing of clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DelimiterArg {
    /// Nothing: the old Firehose->Lambda step splits concatenated objects on `}{`.
    None,
    /// `\n`: newline-delimited JSON, readable by Athena/Glue directly.
    Newline,
}

impl From<DelimiterArg> for Delimiter {
    fn from(arg: DelimiterArg) -> Self {
        match arg {
            DelimiterArg::None => Delimiter::None,
            DelimiterArg::Newline => Delimiter::Newline,
        }
    }
}

/// `tail --from`, as the command line spells it; maps onto the reader's [`StartAt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartAtArg {
    /// The oldest record still retained.
    TrimHorizon,
    /// Only records written from now on.
    Latest,
}

impl From<StartAtArg> for StartAt {
    fn from(arg: StartAtArg) -> Self {
        match arg {
            StartAtArg::TrimHorizon => StartAt::TrimHorizon,
            StartAtArg::Latest => StartAt::Latest,
        }
    }
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older catalogue: `bookstream scrape` output, or the daemon's catalogue.json.
    pub old: PathBuf,
    /// The newer one.
    pub new: PathBuf,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[arg(long, alias = "stream_name")]
    pub stream_name: String,
    #[arg(long, default_value = "trim-horizon",
          value_parser = EnumValueParser::<StartAtArg>::new().map(StartAt::from))]
    pub from: StartAt,
    /// Stop after this many records (not with --follow).
    #[arg(long, conflicts_with = "follow")]
    pub limit: Option<usize>,
    /// Keep reading and print records as they arrive, until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    #[arg(long, alias = "endpoint_url")]
    pub endpoint_url: Option<Url>,
    #[arg(long)]
    pub region: Option<String>,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Records to stream in the demo.
    #[arg(long, default_value_t = 10)]
    pub records: u32,
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
}

/// Longest accepted duration on the command line: anything longer is a typo, and adding it to
/// a clock would overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// A request rate, 0.001 to 1000 a second.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && (0.001..=1000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected requests a second from 0.001 to 1000: {s:?}"
        )),
    }
}

/// "1s", "500ms", "10m", up to [`MAX_DURATION`].
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration such as \"1s\" or \"500ms\": {e}"))?;
    if d > MAX_DURATION {
        return Err(format!("expected at most 24h, got {s}"));
    }
    Ok(d)
}

/// The old script's float seconds ("1", "0.5"), or a duration ("500ms"); at most
/// [`MAX_DURATION`]. Exactly 0 means "as fast as the stream allows" (backfill).
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let (d, zero) = match s.parse::<f64>() {
        Ok(secs) => (
            Duration::try_from_secs_f64(secs)
                .map_err(|_| format!("expected 0 or a positive number of seconds, got {s}"))?,
            secs == 0.0,
        ),
        Err(_) => {
            let d = parse_duration(s)?;
            (d, d.is_zero())
        }
    };
    if d.is_zero() && !zero {
        return Err(format!(
            "expected 0 (as fast as the stream allows) or at least 1 ns, got {s}"
        ));
    }
    if d > MAX_DURATION {
        return Err(format!("expected at most 86400 seconds (24h), got {s}"));
    }
    Ok(d)
}

/// Rewrites the old script's multi-letter short options (`-sn`, `-mr`, `-url`), which clap
/// cannot express, to their long forms, so an existing `setup.sh` invocation keeps working.
pub fn normalise_legacy_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some("-sn") => "--stream-name".into(),
            Some("-mr") => "--max-records".into(),
            Some("-url") => "--json-url".into(),
            _ => a,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = normalise_legacy_args(args.iter().map(OsString::from));
        Cli::try_parse_from(argv).unwrap()
    }

    #[test]
    fn enum_options_map_onto_the_library_types() {
        let stream = |extra: &[&str]| {
            let mut args = vec!["bookstream", "stream", "--stream-name", "s", "-i", "1"];
            args.extend_from_slice(&["--json-file", "b.json"]);
            args.extend_from_slice(extra);
            match parse(&args).command {
                Command::Stream(s) => *s,
                _ => panic!("not stream"),
            }
        };
        let s = stream(&[]);
        assert_eq!(s.record_delimiter, Delimiter::None);
        assert_eq!(s.partition_key, PartitionKey::Field("upc".into()));
        let s = stream(&["--record-delimiter", "newline", "--partition-key", "k"]);
        assert_eq!(s.record_delimiter, Delimiter::Newline);
        assert_eq!(s.partition_key, PartitionKey::Fixed("k".into()));
        let bad = Cli::try_parse_from(["bookstream", "stream", "--record-delimiter", "tab"]);
        assert!(bad.unwrap_err().to_string().contains("newline"));
        let tail = |extra: &[&str]| {
            let mut args = vec!["bookstream", "tail", "--stream-name", "s"];
            args.extend_from_slice(extra);
            match parse(&args).command {
                Command::Tail(t) => t.from,
                _ => panic!("not tail"),
            }
        };
        assert_eq!(tail(&[]), StartAt::TrimHorizon);
        assert_eq!(tail(&["--from", "latest"]), StartAt::Latest);
    }

    #[test]
    fn old_script_spellings_are_accepted() {
        let cli = parse(&[
            "bookstream",
            "stream",
            "-sn",
            "books",
            "-i",
            "0.5",
            "-mr",
            "7",
            "-url",
            "http://127.0.0.1:1/b.json",
        ]);
        let Command::Stream(s) = cli.command else {
            panic!("not stream")
        };
        assert_eq!(s.stream_name, "books");
        assert_eq!(s.interval, Duration::from_millis(500));
        assert_eq!(s.max_records, Some(7));
        assert!(s.json_url.is_some());
        let cli = parse(&[
            "bookstream",
            "stream",
            "--stream_name",
            "b",
            "--interval",
            "1",
            "--max_records",
            "3",
            "--json_url",
            "http://x/",
        ]);
        assert!(matches!(cli.command, Command::Stream(_)));
    }

    #[test]
    fn stream_needs_exactly_one_source() {
        let argv = [
            "bookstream",
            "stream",
            "--stream-name",
            "b",
            "--interval",
            "1",
        ];
        assert!(Cli::try_parse_from(argv).is_err());
    }

    #[test]
    fn interval_rejects_garbage_and_zero_means_backfill() {
        for bad in ["soon", "-1", "1e300", "nan", "inf", "-0.5", "25h", "1e-12"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        for backfill in ["0", "0.0", "0s", "0ms"] {
            assert_eq!(parse_interval(backfill), Ok(Duration::ZERO), "{backfill}");
        }
        assert!(parse_duration("99999999999y").is_err());
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
    }
}
