//! `bookstream demo`: the daemon's main job on a laptop, with no AWS account. Starts a
//! moto_server (local Kinesis) and the project's generated test catalogue on 127.0.0.1, runs two
//! cycles (scrape, then stream with the cursor carrying over), and reads the stream back; then
//! moves the site to its next version and shows the change feed. Both streams' records are
//! written as Firehose writes them (JSON Lines under `json_data/YYYY/MM/DD/HH/`), and DuckDB
//! (python3 `duckdb`) runs the template's current-catalogue query over those files.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::cli::DemoArgs;
use crate::config::{
    Config, KinesisConfig, MetricsConfig, Mode, SiteConfig, StateConfig, StreamConfig,
};
use crate::engine::Engine;
use crate::kinesis::reader;
use crate::metrics::{CycleMetrics, Metrics};
use bookstream_testsite as testsite;
use bookstream_testsite::cloudwatch::{Answer, LocalCloudWatch};
use tokio_util::sync::CancellationToken;

mod lake;

const STREAM: &str = "bookstream-demo";
const CHANGES_STREAM: &str = "bookstream-demo-changes";

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "cannot start moto_server ({0}); install the local Kinesis emulator: pip install 'moto[server]==5.2.1'"
    )]
    MotoMissing(std::io::Error),
    #[error("moto_server did not listen on {0} within 30 s")]
    MotoTimeout(SocketAddr),
    #[error("local port: {0}")]
    Port(std::io::Error),
    #[error("create the demo's state folder in the temporary directory: {0}")]
    StateDir(std::io::Error),
    #[error("create the demo stream: {0}")]
    CreateStream(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Read(#[from] reader::ReadError),
    #[error("the lake: {0}")]
    Schema(#[from] crate::schema::SchemaError),
    #[error(
        "the lake's query (python3 {script}) failed: {message}; install DuckDB's Python package: pip install duckdb"
    )]
    Query { script: String, message: String },
}

fn free_addr() -> Result<SocketAddr, DemoError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(DemoError::Port)
}

/// Starts moto_server and waits until it accepts connections. Killed when dropped.
async fn start_moto() -> Result<(tokio::process::Child, SocketAddr), DemoError> {
    let addr = free_addr()?;
    let child = tokio::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(DemoError::MotoMissing)?;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok((child, addr));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DemoError::MotoTimeout(addr))
}

/// `http://ADDR/` for a server this demo started.
fn local_url(addr: SocketAddr) -> Url {
    Url::parse(&format!("http://{addr}/")).expect("a socket address is a valid URL authority")
}

/// Runs the demo; see the module doc.
pub async fn run(args: DemoArgs, shutdown: CancellationToken) -> Result<(), DemoError> {
    let (_moto, moto_addr) = start_moto().await?;
    let endpoint = local_url(moto_addr);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(DemoError::Port)?;
    let site_addr = listener.local_addr().map_err(DemoError::Port)?;
    let site = testsite::LiveSite::new(testsite::Site::generate(1000, 20));
    let site_stats = Arc::new(testsite::Stats::default());
    tokio::spawn(testsite::serve(
        listener,
        testsite::Content::Live(Arc::clone(&site)),
        testsite::ServeOptions {
            stats: Arc::clone(&site_stats),
            ..testsite::ServeOptions::default()
        },
    ));
    let site_url = local_url(site_addr);
    eprintln!(
        "demo: Kinesis emulator (moto) at {endpoint}, test catalogue (1000 books) at {site_url}"
    );

    let client = crate::aws::Aws::load(Some("us-east-1"))
        .await
        .kinesis(Some(&endpoint));
    for stream in [STREAM, CHANGES_STREAM] {
        client
            .create_stream()
            .stream_name(stream)
            .shard_count(1)
            .send()
            .await
            .map_err(|e| DemoError::CreateStream(crate::error_chain(&e)))?;
    }

    // A folder of its own every run (kept afterwards, for the user to look at): a name from the
    // PID alone was found again by a later demo in a container whose PIDs repeat, which then
    // resumed the old cursor instead of starting from book 0.
    let state_dir = tempfile::Builder::new()
        .prefix("bookstream-demo-")
        .tempdir()
        .map_err(DemoError::StateDir)?
        .keep();
    let cloudwatch = LocalCloudWatch::start(Answer::Ok).map_err(DemoError::Port)?;
    let mut cfg = demo_config(site_url, endpoint, state_dir.clone(), &args);
    cfg.metrics = MetricsConfig {
        cloudwatch: true,
        endpoint_url: Url::parse(&cloudwatch.endpoint()).ok(),
        ..MetricsConfig::default()
    };
    let cfg = cfg.validate(Path::new("the demo's settings"))?;
    let mut engine = Engine::new(&cfg).await?;
    let metrics = Metrics::start(&cfg, engine.aws());
    let record = |report: &crate::engine::CycleReport| {
        if let Some(m) = &metrics {
            m.record(&CycleMetrics::from_report(report));
        }
    };
    for _ in 0..2 {
        if shutdown.is_cancelled() {
            break;
        }
        let report = engine.run_cycle(&cfg, None, &shutdown).await;
        eprintln!("demo: {}", report.status_line());
        record(&report);
    }
    engine.checkpoint();

    let records = reader::read_all(&client, STREAM, reader::StartAt::TrimHorizon, None).await?;
    println!(
        "{} records in stream {STREAM} (read back from TRIM_HORIZON):",
        records.len()
    );
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap_or_default();
        println!(
            "  {} {:>3}  upc={}  {}  {}  {}",
            r.shard_id,
            r.sequence_number,
            v["upc"].as_str().unwrap_or("?"),
            v["price"].as_str().unwrap_or("?"),
            v["availability"].as_str().unwrap_or("?"),
            v["title"].as_str().unwrap_or("?")
        );
    }
    let object = write_like_firehose(&state_dir, STREAM, &records).map_err(DemoError::Port)?;
    println!(
        "as Firehose would buffer them into S3 (JSON Lines, the template's StorageFormat=jsonl): {}",
        object.display()
    );
    drop(engine);

    // The change feed: the same state, now in changes mode. Its first cycle walks the site as
    // it is (nothing changed since the catalogue above: no events); then the site moves on a
    // version, and the next cycle's walk brings the changes into the stream within that cycle.
    let mut changes = cfg.clone();
    changes.stream.mode = Mode::Changes;
    changes.site.refresh = Duration::ZERO;
    changes.kinesis.stream_name = CHANGES_STREAM.to_owned();
    let mut engine = Engine::new(&changes).await?;
    if !shutdown.is_cancelled() {
        let report = engine.run_cycle(&changes, None, &shutdown).await;
        eprintln!("demo: changes mode: {}", report.status_line());
        record(&report);
    }
    site.replace(testsite::Site::generate_version(1000, 20, 1));
    let switched = std::time::Instant::now();
    let requests_before = site_stats.requests();
    eprintln!(
        "demo: the site moves to version 1 (books added, removed, repriced, restocked, retitled); the next cycle walks it"
    );
    if !shutdown.is_cancelled() {
        let report = engine.run_cycle(&changes, None, &shutdown).await;
        eprintln!("demo: {}", report.status_line());
        record(&report);
    }
    engine.checkpoint();
    let walked = site_stats.requests() - requests_before;
    let listing_pages = site.current().page_count() as u64;
    let records =
        reader::read_all(&client, CHANGES_STREAM, reader::StartAt::TrimHorizon, None).await?;
    eprintln!(
        "demo: the site's change reached the stream within one cycle: {} change events readable {:.1} s after the switch; that cycle's walk asked for {walked} pages ({listing_pages} listing pages, {} product pages of the entries that changed or were due on the rotation) instead of {}",
        records.len(),
        switched.elapsed().as_secs_f64(),
        walked.saturating_sub(listing_pages),
        listing_pages + site.current().books().len() as u64
    );
    println!(
        "{} change events in stream {CHANGES_STREAM} (the catalogue of the first part is the baseline):",
        records.len()
    );
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(&r.data).unwrap_or_default();
        let fields: Vec<&str> = v["changed_fields"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f.as_str()).collect())
            .unwrap_or_default();
        println!(
            "  {:<8} upc={}  {}  {}  {}",
            v["event"].as_str().unwrap_or("?"),
            v["upc"].as_str().unwrap_or("?"),
            fields.join(","),
            v["previous"],
            v["title"].as_str().unwrap_or("?")
        );
    }
    if let Some(m) = metrics {
        m.flush(Duration::from_secs(5)).await;
    }
    println!(
        "CloudWatch metrics received by the local endpoint {} (namespace bookstream): RecordsSent {}, Cycles {}, SendLateness max {:.1} ms, PutLatency max {:.1} ms",
        cloudwatch.endpoint(),
        cloudwatch.sum("RecordsSent"),
        cloudwatch.sum("Cycles"),
        cloudwatch.max("SendLateness").unwrap_or(0.0),
        cloudwatch.max("PutLatency").unwrap_or(0.0)
    );
    let object =
        write_like_firehose(&state_dir, CHANGES_STREAM, &records).map_err(DemoError::Port)?;
    println!(
        "the change events as Firehose would buffer them into S3: {}",
        object.display()
    );
    println!(
        "state (cursor, catalogue, change feed) in {}",
        state_dir.display()
    );
    lake::show(&state_dir.join("s3")).await
}

/// Plays Firehose's part, which no local emulator does for a Kinesis source: one object with
/// the records' bytes, each followed by a newline as the template's Firehose appends it
/// (`AppendDelimiterToRecord`), under the real key shape
/// `json_data/YYYY/MM/DD/HH/NAME-1-YYYY-MM-DD-HH-MM-SS-ID` (UTC).
fn write_like_firehose(
    dir: &std::path::Path,
    stream: &str,
    records: &[reader::ReadRecord],
) -> std::io::Result<PathBuf> {
    let now = chrono::Utc::now();
    let folder = dir
        .join("s3")
        .join("json_data")
        .join(now.format("%Y/%m/%d/%H").to_string());
    std::fs::create_dir_all(&folder)?;
    let name = format!(
        "{stream}-1-{}-{:016x}",
        now.format("%Y-%m-%d-%H-%M-%S"),
        fastrand::u64(..)
    );
    let path = folder.join(name);
    let body: Vec<u8> = records
        .iter()
        .flat_map(|r| r.data.iter().copied().chain(std::iter::once(b'\n')))
        .collect();
    std::fs::write(&path, body)?;
    Ok(path)
}

fn demo_config(site: Url, endpoint: Url, dir: PathBuf, args: &DemoArgs) -> Config {
    Config {
        site: SiteConfig {
            base_url: site,
            // The demo's own local site, not a third party's: no need for 2 a second.
            max_requests_per_sec: 500.0,
            ..SiteConfig::default()
        },
        kinesis: KinesisConfig {
            stream_name: STREAM.to_owned(),
            region: Some("us-east-1".to_owned()),
            endpoint_url: Some(endpoint),
            partition_key: "{upc}".to_owned(),
        },
        stream: StreamConfig {
            interval: args.interval,
            max_records: args.records,
            ..StreamConfig::default()
        },
        schedule: Default::default(),
        state: StateConfig {
            dir,
            ..StateConfig::default()
        },
        metrics: MetricsConfig::default(),
    }
}
