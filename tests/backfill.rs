//! `bookstream stream --interval 0`: the backfill, against a real moto_server. Every test reads
//! the stream back (TRIM_HORIZON + GetRecords, independently of the code under test) and
//! compares it with what was sent, record for record.
//!
//! The backfill keeps several PutRecords in flight, and moto loses records under concurrent
//! writes (its `Shard.put_record` is "not safe for concurrency"; two puts can take the same
//! sequence number). Every backfill here therefore goes through the fault proxy, which hands
//! moto one write at a time; reads go to moto directly.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::fault_proxy::{self, Fault, FaultPlan};
use common::{Landed, Moto, Site, bookstream, scratch, stderr};
use md5::{Digest, Md5};
use serde_json::{Value, json};

/// `n` book-like records (about 400 bytes each), each with a unique UPC.
fn records(n: usize, seed: u64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let upc = format!("{:016x}", (seed << 40) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let stars = ["One", "Two", "Three", "Four", "Five"][i % 5];
            json!({
                "title": format!("Book {i} of a backfill, with a title of a realistic length"),
                "price": format!("£{}.{:02}", 10 + i % 50, i % 100),
                "num_reviews": stars,
                "upc": upc,
                "availability": format!("In stock ({} available)", i % 23),
                "price_gbp": 10.0 + (i % 50) as f64,
                "rating": 1 + i % 5,
                "stock": i % 23,
                "category": "Backfill",
                "url": format!("https://books.toscrape.com/catalogue/book-{i}_{i}/index.html"),
                "description": "A record of about the size of a real one, so that byte limits and request sizes are realistic.",
            })
        })
        .collect()
}

fn write_array(path: &std::path::Path, items: &[Value]) {
    std::fs::write(path, serde_json::to_vec(items).unwrap()).unwrap();
}

fn write_lines(path: &std::path::Path, items: &[Value]) {
    let mut text = String::new();
    for v in items {
        text.push_str(&serde_json::to_string(v).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// An endpoint in front of `moto` that forwards writes one at a time and throttles like
/// Kinesis at AWS's own per-shard limits (1,000 records/s, 1 MiB/s), which moto does not.
async fn one_write_at_a_time(moto: &Moto) -> String {
    let plan = FaultPlan::repeat("", Fault::kinesis_limits());
    let (addr, _) = fault_proxy::spawn(moto.addr, plan).await.expect("proxy");
    format!("http://{addr}")
}

/// Runs a backfill of `file` into `stream` at `endpoint`, with extra arguments.
fn backfill(endpoint: &str, stream: &str, file: &str, extra: &[&str]) -> Output {
    let out = bookstream()
        .args(["--log-format", "json", "stream", "--stream-name", stream])
        .args([
            "--interval",
            "0",
            "--json-file",
            file,
            "--endpoint-url",
            endpoint,
        ])
        .args(extra)
        .output()
        .expect("run bookstream");
    let log = stderr(&out);
    assert!(!log.contains("panicked"), "{log}");
    out
}

/// The summary's figures, from its event (exactly one per backfill).
fn summary(out: &Output) -> Value {
    let log = stderr(out);
    let mut events = common::named(&log, "backfill_finished");
    assert!(events.len() <= 1, "one summary per backfill: {log}");
    events
        .pop()
        .unwrap_or_else(|| panic!("no backfill summary in {log}"))
}

/// How many times each UPC was read back (after parsing each record's JSON).
fn upc_counts<'a>(datas: impl IntoIterator<Item = &'a [u8]>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for data in datas {
        let v: Value = serde_json::from_slice(data).expect("a record is one JSON object");
        *counts
            .entry(v["upc"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

/// Every input record read back exactly once, byte for byte.
fn assert_exactly_once(sent: &[Value], landed: &[Landed]) {
    let mut want: HashMap<Vec<u8>, i64> = HashMap::new();
    for v in sent {
        *want.entry(serde_json::to_vec(v).unwrap()).or_insert(0) += 1;
    }
    for r in landed {
        *want.entry(r.data.clone()).or_insert(0) -= 1;
    }
    let lost = want.values().filter(|&&n| n > 0).count();
    let extra = want.values().filter(|&&n| n < 0).count();
    assert_eq!(
        (lost, extra),
        (0, 0),
        "records lost / duplicated or unknown"
    );
    assert_eq!(landed.len(), sent.len());
}

/// The open shards' hash-key ranges, read with ListShards (independently of the product).
async fn ranges(moto: &Moto, stream: &str) -> Vec<(String, u128, u128)> {
    let shards = moto.shards(stream).await;
    shards
        .into_iter()
        .filter(|s| {
            s.sequence_number_range
                .as_ref()
                .unwrap()
                .ending_sequence_number
                .is_none()
        })
        .map(|s| {
            let r = s.hash_key_range.unwrap();
            (
                s.shard_id,
                r.starting_hash_key.parse().unwrap(),
                r.ending_hash_key.parse().unwrap(),
            )
        })
        .collect()
}

/// Most records in any one-second window of arrival times.
fn busiest_second(mut arrivals: Vec<f64>) -> usize {
    arrivals.sort_by(f64::total_cmp);
    let mut best = 0;
    let mut j = 0;
    for i in 0..arrivals.len() {
        while arrivals[i] - arrivals[j] >= 1.0 {
            j += 1;
        }
        best = best.max(i - j + 1);
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_records_land_once_each_on_their_keys_shard_under_its_limit() {
    let moto = Moto::start();
    moto.create_stream("bulk", 4).await;
    let dir = scratch("bulk");
    let input = records(20_000, 1);
    let file = dir.join("books.json");
    write_array(&file, &input);
    // A limit low enough that the limiter, not moto, sets the pace; the proxy enforces it too,
    // over a sliding second of each shard, timed as the requests arrive (moto, one write at a
    // time, stores them later and bunched: a busy machine made a second there look fuller
    // than any second the backfill sent).
    let limit = 300;
    let (proxy, stats) = fault_proxy::spawn(
        moto.addr,
        FaultPlan::repeat(
            "",
            Fault::ShardLimits {
                records_per_sec: limit,
                bytes_per_sec: 1024 * 1024,
            },
        ),
    )
    .await
    .expect("proxy");
    let out = backfill(
        &format!("http://{proxy}"),
        "bulk",
        file.to_str().unwrap(),
        &["--shard-records-per-sec", &limit.to_string()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["sent"], 20_000, "{s}");
    assert_eq!(s["refused"], 0);
    assert_eq!(
        s["throttled"], 0,
        "under the limiter, Kinesis's limits are never met: {s}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("backfill done: sent 20000 of 20000"),
        "{stdout}"
    );

    let landed = moto.read_back_records("bulk").await;
    assert_exactly_once(&input, &landed);

    // Each record on the shard its key's MD5 falls in.
    let ranges = ranges(&moto, "bulk").await;
    assert_eq!(ranges.len(), 4);
    let mut per_shard: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &landed {
        let h = u128::from_be_bytes(Md5::digest(r.partition_key.as_bytes()).into());
        let (id, _, _) = ranges
            .iter()
            .find(|(_, lo, hi)| *lo <= h && h <= *hi)
            .expect("a shard for every hash key");
        assert_eq!(
            &r.shard_id, id,
            "key {} landed on the wrong shard",
            r.partition_key
        );
        let v: Value = serde_json::from_slice(&r.data).unwrap();
        assert_eq!(
            v["upc"].as_str(),
            Some(r.partition_key.as_str()),
            "{{upc}} is the key"
        );
        per_shard
            .entry(r.shard_id.clone())
            .or_default()
            .push(r.arrival);
    }
    // Under the limit in every second of every shard, as the requests arrived; and the
    // limiter did set the pace (moto's seconds, bunched if anything, are never emptier).
    assert_eq!(
        (stats.over_limit(), stats.within_limit()),
        (0, 20_000),
        "the proxy found a shard over {limit} records in a second"
    );
    let busiest: Vec<usize> = per_shard.into_values().map(busiest_second).collect();
    eprintln!("busiest second per shard at moto: {busiest:?} (limit {limit})");
    assert_eq!(busiest.len(), 4);
    assert!(
        busiest.iter().all(|&n| n >= limit as usize / 2),
        "{busiest:?}: the limiter was not the bottleneck"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_failed_entries_of_a_partly_failed_put_records_are_sent_again() {
    let moto = Moto::start();
    moto.create_stream("partial", 2).await;
    let (proxy, stats) = fault_proxy::spawn(
        moto.addr,
        FaultPlan::repeat("PutRecords", Fault::FailEntries { one_in: 7 }),
    )
    .await
    .unwrap();
    let dir = scratch("partial");
    let input = records(3_000, 2);
    let file = dir.join("books.json");
    write_array(&file, &input);
    let out = backfill(
        &format!("http://{proxy}"),
        "partial",
        file.to_str().unwrap(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s = summary(&out);
    assert!(stats.partial_failures() > 0 && stats.failed_entries() > 0);
    assert_eq!(s["throttled"], stats.failed_entries(), "{s}");
    assert_eq!(
        s["retried"],
        stats.failed_entries(),
        "only failed entries are resent: {s}"
    );
    // Entries the proxy examined = the 3000 first sends + one per failure: never a whole batch.
    assert_eq!(stats.entries_seen(), 3_000 + stats.failed_entries());
    // Read back from moto directly, not through the proxy.
    let landed = moto.read_back_records("partial").await;
    assert_exactly_once(&input, &landed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resharded_mid_backfill_loses_nothing() {
    let moto = Moto::start();
    moto.create_stream("reshard", 2).await;
    let dir = scratch("reshard");
    let input = records(6_000, 3);
    let file = dir.join("books.json");
    write_array(&file, &input);
    let endpoint = one_write_at_a_time(&moto).await;
    let child = bookstream()
        .args([
            "--log-format",
            "json",
            "stream",
            "--stream-name",
            "reshard",
            "-i",
            "0",
        ])
        .args(["--json-file", file.to_str().unwrap()])
        .args(["--endpoint-url", &endpoint])
        .args(["--shard-records-per-sec", "150", "--shard-map-every", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // ~270 records/s over 2 shards: about 22 s in all; reshard 2 -> 4 after 4 s.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let before = moto.read_back_records("reshard").await.len();
    assert!(
        before > 0 && before < 6_000,
        "reshard must happen mid-backfill: {before} sent"
    );
    // Through the proxy too: moto moves records during a reshard, unsafely beside a put.
    common::client_for(&endpoint)
        .update_shard_count()
        .stream_name("reshard")
        .target_shard_count(4)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .expect("UpdateShardCount");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s = summary(&out);
    assert!(
        s["reshards"].as_u64().unwrap() >= 1,
        "the new shard map was read: {s}"
    );
    let log = stderr(&out);
    let resharded = common::named(&log, "stream_resharded");
    assert!(
        resharded
            .iter()
            .any(|e| e["stream"] == "reshard" && e["shards"] == 4 && e["was"] == 2),
        "{log}"
    );
    let landed = moto.read_back_records("reshard").await;
    let counts = upc_counts(landed.iter().map(|r| r.data.as_slice()));
    let lost: Vec<_> = input
        .iter()
        .filter(|v| !counts.contains_key(v["upc"].as_str().unwrap()))
        .collect();
    assert!(lost.is_empty(), "{} lost", lost.len());
    assert_exactly_once(&input, &landed);
}

/// The KPL aggregation format, decoded here independently of the product.
mod kpl {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AggregatedRecord {
        #[prost(string, repeated, tag = "1")]
        pub partition_key_table: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub explicit_hash_key_table: Vec<String>,
        #[prost(message, repeated, tag = "3")]
        pub records: Vec<Record>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Record {
        #[prost(uint64, required, tag = "1")]
        pub partition_key_index: u64,
        #[prost(uint64, optional, tag = "2")]
        pub explicit_hash_key_index: Option<u64>,
        #[prost(bytes = "vec", required, tag = "3")]
        pub data: Vec<u8>,
    }
    pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_records_deaggregate_to_exactly_the_input() {
    use prost::Message;
    let moto = Moto::start();
    moto.create_stream("agg", 4).await;
    let dir = scratch("agg");
    let input = records(5_000, 4);
    let file = dir.join("books.jsonl");
    write_lines(&file, &input);
    let out = backfill(
        &one_write_at_a_time(&moto).await,
        "agg",
        file.to_str().unwrap(),
        &["--aggregate"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["sent"], 5_000);
    let landed = moto.read_back_records("agg").await;
    // Aggregates close when full or when their shard has waited a linger (50 ms) for more.
    assert!(
        landed.len() <= 500,
        "{} Kinesis records for 5000",
        landed.len()
    );
    assert_eq!(s["kinesis_records"], landed.len());
    let mut users = Vec::new();
    for r in &landed {
        assert_eq!(r.data[..4], kpl::MAGIC, "every record here is an aggregate");
        assert!(r.data.len() + r.partition_key.len() <= 1024 * 1024);
        let (body, digest) = r.data[4..].split_at(r.data.len() - 4 - 16);
        assert_eq!(Md5::digest(body).as_slice(), digest, "MD5 trailer");
        let agg = kpl::AggregatedRecord::decode(body).expect("protobuf");
        assert_eq!(agg.partition_key_table.first(), Some(&r.partition_key));
        for u in agg.records {
            let key = &agg.partition_key_table[u.partition_key_index as usize];
            let v: Value = serde_json::from_slice(&u.data).unwrap();
            assert_eq!(v["upc"].as_str(), Some(key.as_str()));
            users.push(Landed {
                data: u.data,
                partition_key: key.clone(),
                ..r.clone()
            });
        }
    }
    assert_exactly_once(&input, &users);

    // `bookstream tail` de-aggregates too: one line per input record.
    let tail = bookstream()
        .args([
            "tail",
            "--stream-name",
            "agg",
            "--endpoint-url",
            &moto.endpoint,
        ])
        .output()
        .unwrap();
    assert!(tail.status.success(), "{}", stderr(&tail));
    let lines: Vec<&[u8]> = tail
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let counts = upc_counts(lines);
    assert_eq!(counts.len(), 5_000);
    assert!(counts.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_from_stdin_and_a_streamed_url_that_turns_bad() {
    let moto = Moto::start();
    moto.create_stream("lines", 2).await;
    let input = records(1_500, 5);
    let mut text = Vec::new();
    for v in &input {
        text.extend(serde_json::to_vec(v).unwrap());
        text.extend(b"\n\n");
    }
    // stdin, JSON Lines, --max-records.
    let mut child = bookstream()
        .args([
            "--log-format",
            "json",
            "stream",
            "--stream-name",
            "lines",
            "-i",
            "0",
        ])
        .args(["--json-file", "-", "--json-lines", "--max-records", "1000"])
        .args(["--endpoint-url", &one_write_at_a_time(&moto).await])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The reader stops after 1000 records: a broken pipe then is expected.
        let _ = std::io::Write::write_all(&mut stdin, &text);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&out)["sent"], 1000);
    let landed = moto.read_back_records("lines").await;
    assert_exactly_once(&input[..1000], &landed);

    // A URL is read as it streams: a bad element at 700 stops the backfill there, after the
    // 700 before it, and the error says so.
    moto.create_stream("url", 2).await;
    let dir = scratch("url-root");
    let mut bad = input[..700].to_vec();
    bad.push(json!(42));
    bad.extend(input[700..900].iter().cloned());
    write_array(&dir.join("export.json"), &bad);
    let site = Site::start(&["--root", dir.to_str().unwrap()]);
    let url = format!("{}export.json", site.url);
    let out = bookstream()
        .args([
            "stream",
            "--stream-name",
            "url",
            "-i",
            "0",
            "--json-url",
            &url,
        ])
        .args(["--endpoint-url", &one_write_at_a_time(&moto).await])
        .output()
        .unwrap();
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains(&url), "{log}");
    assert!(
        log.contains("element 700 is a JSON number, not an object"),
        "{log}"
    );
    assert!(
        log.contains("the 700 record(s) before it were sent, none after"),
        "{log}"
    );
    let landed = moto.read_back_records("url").await;
    assert_exactly_once(&input[..700], &landed);
}

/// A backfill child reading `input` (a path, or `-` for stdin), run in `dir` (where a resume
/// file lands), with pipes for stdin, stdout and stderr.
fn spawn_backfill(
    dir: &std::path::Path,
    endpoint: &str,
    stream: &str,
    input: &str,
    extra: &[&str],
) -> std::process::Child {
    bookstream()
        .current_dir(dir)
        .args(["--log-format", "json", "stream", "--stream-name", stream])
        .args(["-i", "0", "--json-file", input, "--endpoint-url", endpoint])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bookstream")
}

/// Waits for `child` to exit, at most `limit` (then kills it and fails: it hung).
async fn exit_within(mut child: std::process::Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what}: still running after {limit:?}, killed; log: {}",
                stderr(&out)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = child.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    out
}

fn lines_of(items: &[Value]) -> Vec<u8> {
    let mut text = Vec::new();
    for v in items {
        text.extend(serde_json::to_vec(v).unwrap());
        text.push(b'\n');
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_on_an_open_pipe_go_out_at_once_and_an_interrupt_does_not_wait_for_the_writer() {
    let moto = Moto::start();
    moto.create_stream("pipe", 2).await;
    let dir = scratch("pipe");
    let input = records(2, 6);
    let endpoint = one_write_at_a_time(&moto).await;
    let mut child = spawn_backfill(&dir, &endpoint, "pipe", "-", &["--json-lines"]);
    // Two records, and the pipe stays open (the writer is quiet, not gone).
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, &lines_of(&input)).unwrap();
    std::io::Write::flush(&mut stdin).unwrap();
    let written = Instant::now();
    while moto.read_back("pipe").await.len() < 2 {
        assert!(
            written.elapsed() < Duration::from_secs(5),
            "two records on an open pipe were not sent within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("sent {:?} after they were written", written.elapsed());
    // An interrupt with the pipe still open stops promptly.
    common::signal(&child, "INT");
    let stopping = Instant::now();
    let out = exit_within(child, Duration::from_secs(10), "interrupted backfill").await;
    let took = stopping.elapsed();
    drop(stdin);
    assert!(took < Duration::from_secs(3), "stopped in {took:?}");
    assert_eq!(out.status.code(), Some(1), "interrupted: {}", stderr(&out));
    let s = summary(&out);
    assert_eq!(
        (s["read"].as_u64(), s["sent"].as_u64()),
        (Some(2), Some(2)),
        "{s}"
    );
    assert_eq!(s["unsent"], 0, "{s}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("backfill interrupted: sent 2 of 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the input was not read from its record 2 on"),
        "{stdout}"
    );
    assert_exactly_once(&input, &moto.read_back_records("pipe").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_and_a_process_substitution_are_streamed_not_drained_by_the_check() {
    let moto = Moto::start();
    moto.create_stream("fifo", 2).await;
    let dir = scratch("fifo");
    let endpoint = one_write_at_a_time(&moto).await;

    // A FIFO (named .jsonl): only one reader pass can ever see its records.
    let input = records(300, 7);
    let fifo = dir.join("export.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let child = spawn_backfill(&dir, &endpoint, "fifo", fifo.to_str().unwrap(), &[]);
    let text = lines_of(&input);
    let path = fifo.clone();
    let writer = std::thread::spawn(move || {
        // Opening blocks until the child opens the FIFO for reading.
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        std::io::Write::write_all(&mut f, &text).unwrap();
    });
    let out = exit_within(child, Duration::from_secs(30), "backfill from a FIFO").await;
    writer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&out)["sent"], 300);
    assert_exactly_once(&input, &moto.read_back_records("fifo").await);

    // `--json-file <(...)`: bash hands over /dev/fd/N, a pipe.
    moto.create_stream("devfd", 2).await;
    let input = records(200, 8);
    let file = dir.join("source.jsonl");
    write_lines(&file, &input);
    let child = std::process::Command::new("bash")
        .args([
            "-c",
            r#"exec "$BIN" --log-format json stream --stream-name devfd -i 0 --json-lines \
                 --endpoint-url "$EP" --json-file <(cat "$IN")"#,
        ])
        .env("BIN", env!("CARGO_BIN_EXE_bookstream"))
        .env("EP", &endpoint)
        .env("IN", &file)
        .envs(
            bookstream()
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = exit_within(child, Duration::from_secs(30), "backfill from <(...)").await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&out)["sent"], 200);
    assert_exactly_once(&input, &moto.read_back_records("devfd").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_that_throttles_like_kinesis_slows_the_backfill_and_loses_nothing() {
    let moto = Moto::start();
    // The proxy enforces per-shard limits far below what the backfill's own limiter allows
    // (its default caps are 1,000 records/s and 1 MiB/s per shard): moto takes ~1,200 entries/s
    // in all, so AWS's own figures could not be reached here; the mechanism is the same.
    let cases = [
        ("by-records", 100, 1024 * 1024, 2_000),
        ("by-bytes", 1_000, 64 * 1024, 1_500),
    ];
    for (stream, records_per_sec, bytes_per_sec, n) in cases {
        moto.create_stream(stream, 2).await;
        let (proxy, stats) = fault_proxy::spawn(
            moto.addr,
            FaultPlan::repeat(
                "",
                Fault::ShardLimits {
                    records_per_sec,
                    bytes_per_sec,
                },
            ),
        )
        .await
        .unwrap();
        let dir = scratch(stream);
        let input = records(n, 9);
        let file = dir.join("books.json");
        write_array(&file, &input);
        let started = Instant::now();
        let out = backfill(
            &format!("http://{proxy}"),
            stream,
            file.to_str().unwrap(),
            &[],
        );
        let took = started.elapsed();
        assert!(out.status.success(), "{stream}: {}", stderr(&out));
        let s = summary(&out);
        eprintln!("{stream}: {took:?}, {s}");
        assert_eq!(s["sent"], n, "{s}");
        assert!(
            stats.over_limit() > 0,
            "{stream}: the proxy never throttled"
        );
        assert_eq!(s["throttled"], stats.over_limit(), "{stream}: {s}");
        assert_eq!(
            stats.within_limit(),
            n as u64,
            "{stream}: each record let in once"
        );
        let landed = moto.read_back_records(stream).await;
        assert_exactly_once(&input, &landed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_for_longer_than_ten_attempts_is_waited_out_not_counted() {
    let moto = Moto::start();
    moto.create_stream("busy", 1).await;
    // The first 12 PutRecords calls have every entry throttled, one request at a time on one
    // shard. The first call may go out before the reader has handed over all 50 records (it
    // hands over what it has rather than wait), so the count is not exactly 12 x 50; but more
    // than 10 x 50 throttles over 50 records means some record was throttled 11 times or more,
    // past the 10 attempts an entry has, and every record still lands once.
    let (proxy, stats) = fault_proxy::spawn(
        moto.addr,
        FaultPlan::new("PutRecords", vec![Fault::FailEntries { one_in: 1 }; 12]),
    )
    .await
    .unwrap();
    let dir = scratch("busy");
    let input = records(50, 10);
    let file = dir.join("books.json");
    write_array(&file, &input);
    let out = backfill(
        &format!("http://{proxy}"),
        "busy",
        file.to_str().unwrap(),
        &["--partition-key", "No", "--in-flight", "1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s = summary(&out);
    assert!(
        stats.failed_entries() > 10 * 50 && stats.failed_entries() <= 12 * 50,
        "{} throttled entries",
        stats.failed_entries()
    );
    assert_eq!(s["throttled"], stats.failed_entries(), "{s}");
    assert_eq!(s["sent"], 50, "{s}");
    assert_exactly_once(&input, &moto.read_back_records("busy").await);
}

/// The resume file a stopped backfill names in its summary, read as JSON Lines.
fn resume_file(out: &Output) -> (std::path::PathBuf, Vec<Value>) {
    let s = summary(out);
    let path = std::path::PathBuf::from(
        s["resume_file"]
            .as_str()
            .unwrap_or_else(|| panic!("no resume file in the summary: {s}")),
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let records = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    (path, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_that_makes_no_progress_gives_up_and_its_resume_file_sends_the_rest() {
    let moto = Moto::start();
    moto.create_stream("stuck", 2).await;
    // The first PutRecords goes through, every later entry is throttled for ever.
    let (proxy, _) = fault_proxy::spawn(
        moto.addr,
        FaultPlan::new(
            "PutRecords",
            [
                Fault::Pass,
                Fault::Repeat(Box::new(Fault::FailEntries { one_in: 1 })),
            ],
        ),
    )
    .await
    .unwrap();
    let dir = scratch("stuck");
    let input = records(3_000, 11);
    let file = dir.join("books.json");
    write_array(&file, &input);
    let child = spawn_backfill(
        &dir,
        &format!("http://{proxy}"),
        "stuck",
        file.to_str().unwrap(),
        &["--give-up-after", "3s", "--in-flight", "1"],
    );
    let out = exit_within(
        child,
        Duration::from_secs(30),
        "a backfill with no progress",
    )
    .await;
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("no record acknowledged by stream `stuck` for 3 s"),
        "{log}"
    );
    let s = summary(&out);
    let sent = s["sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < 3_000, "{s}");
    let (path, rest) = resume_file(&out);
    assert_eq!(rest.len() as u64, 3_000 - sent, "{s}");
    assert_eq!(s["resume_records"], 3_000 - sent);
    assert!(
        path.starts_with(&dir),
        "in the working directory: {}",
        path.display()
    );

    // The rerun on the resume file sends exactly the rest.
    let out = backfill(
        &one_write_at_a_time(&moto).await,
        "stuck",
        path.to_str().unwrap(),
        &["--json-lines"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&out)["sent"], 3_000 - sent);
    assert_exactly_once(&input, &moto.read_back_records("stuck").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backfill_leaves_a_resume_file_that_sends_exactly_the_rest() {
    let moto = Moto::start();
    moto.create_stream("resume", 2).await;
    let dir = scratch("resume");
    let input = records(6_000, 12);
    let file = dir.join("books.json");
    write_array(&file, &input);
    let endpoint = one_write_at_a_time(&moto).await;
    // ~240 records/s over 2 shards: about 25 s in all; interrupted after 3 s.
    let child = spawn_backfill(
        &dir,
        &endpoint,
        "resume",
        file.to_str().unwrap(),
        &["--shard-records-per-sec", "150"],
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    // SIGTERM (systemd, `kill`) stops as Ctrl-C does; the pipe test above sends SIGINT.
    common::signal(&child, "TERM");
    let stopping = Instant::now();
    let out = exit_within(child, Duration::from_secs(20), "interrupted backfill").await;
    assert!(
        stopping.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let s = summary(&out);
    let sent = s["sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < 6_000, "interrupted mid-backfill: {s}");
    let (path, rest) = resume_file(&out);
    assert_eq!(
        rest.len() as u64,
        6_000 - sent,
        "the rest, read on from the file: {s}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&path.display().to_string()), "{stdout}");

    let out = backfill(&endpoint, "resume", path.to_str().unwrap(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&out)["sent"], 6_000 - sent);
    // Every record landed; a copy only where the first run said one was possible.
    let landed = moto.read_back_records("resume").await;
    let counts = upc_counts(landed.iter().map(|r| r.data.as_slice()));
    assert_eq!(counts.len(), 6_000, "every record landed");
    let copies: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        copies as u64 <= s["possibly_duplicated"].as_u64().unwrap(),
        "{copies} copies, {s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_interrupt_ends_the_process_at_once() {
    let moto = Moto::start();
    moto.create_stream("hung", 1).await;
    // Every PutRecords is held 30 s by the proxy: the first interrupt waits (a little) for
    // the requests in flight; the second does not wait at all.
    let (proxy, stats) = fault_proxy::spawn(
        moto.addr,
        FaultPlan::repeat("PutRecords", Fault::Delay(Duration::from_secs(30))),
    )
    .await
    .unwrap();
    let dir = scratch("hung");
    let file = dir.join("books.json");
    write_array(&file, &records(100, 13));
    let child = spawn_backfill(
        &dir,
        &format!("http://{proxy}"),
        "hung",
        file.to_str().unwrap(),
        &[],
    );
    let started = Instant::now();
    while stats.delayed() == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "no PutRecords");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::signal(&child, "INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    common::signal(&child, "INT");
    let second = Instant::now();
    let out = exit_within(child, Duration::from_secs(20), "twice interrupted backfill").await;
    assert!(
        second.elapsed() < Duration::from_secs(1),
        "{:?}",
        second.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_with_the_pipe_still_open_ends_the_backfill_at_once() {
    let moto = Moto::start();
    let dir = scratch("fatal");
    let endpoint = one_write_at_a_time(&moto).await;
    // No such stream: the backfill cannot start; the input's writer is quiet but still there.
    let mut child = spawn_backfill(&dir, &endpoint, "missing", "-", &["--json-lines"]);
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, &lines_of(&records(3, 14))).unwrap();
    let out = exit_within(
        child,
        Duration::from_secs(10),
        "backfill to a missing stream",
    )
    .await;
    drop(stdin);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("`missing` not found"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_refusal_mid_backfill_leaves_every_unsent_record_in_the_resume_file() {
    let moto = Moto::start();
    moto.create_stream("denied", 2).await;
    // The first PutRecords goes through; then Kinesis refuses for good (access withdrawn).
    let (proxy, stats) = fault_proxy::spawn(
        moto.addr,
        FaultPlan::new(
            "PutRecords",
            [
                Fault::Pass,
                Fault::Repeat(Box::new(Fault::Reject("AccessDeniedException"))),
            ],
        ),
    )
    .await
    .unwrap();
    let dir = scratch("denied");
    let input = records(2_000, 15);
    let file = dir.join("books.json");
    write_array(&file, &input);
    let child = spawn_backfill(
        &dir,
        &format!("http://{proxy}"),
        "denied",
        file.to_str().unwrap(),
        &["--in-flight", "1"],
    );
    let out = exit_within(child, Duration::from_secs(30), "a refused backfill").await;
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("AccessDeniedException"), "{log}");
    assert!(stats.rejected() > 0);
    let s = summary(&out);
    let sent = s["sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < 2_000, "{s}");
    // The refused request's records too, not only those never sent.
    let (path, rest) = resume_file(&out);
    assert_eq!(rest.len() as u64, 2_000 - sent, "{s}");
    let out = backfill(
        &one_write_at_a_time(&moto).await,
        "denied",
        path.to_str().unwrap(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_exactly_once(&input, &moto.read_back_records("denied").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttling_proxy_refuses_past_a_shards_second_and_only_that_shard() {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;
    let moto = Moto::start();
    moto.create_stream("rig", 2).await;
    let (proxy, stats) = fault_proxy::spawn(
        moto.addr,
        FaultPlan::repeat(
            "",
            Fault::ShardLimits {
                records_per_sec: 100,
                bytes_per_sec: 1024 * 1024,
            },
        ),
    )
    .await
    .unwrap();
    // The SDK's own retries off: a throttled call must come back as it was answered.
    let client = aws_sdk_kinesis::Client::from_conf(
        common::client_for(&format!("http://{proxy}"))
            .config()
            .to_builder()
            .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
            .build(),
    );
    // Keys whose MD5 is in the lower half (the first shard) or the upper half (the second).
    let first_half = |key: &String| Md5::digest(key.as_bytes())[0] < 0x80;
    let keys: Vec<String> = (0..).map(|i| format!("k{i}")).take(1000).collect();
    let low: Vec<&String> = keys.iter().filter(|k| first_half(k)).take(150).collect();
    let high: Vec<&String> = keys.iter().filter(|k| !first_half(k)).take(10).collect();
    let entries: Vec<_> = low
        .iter()
        .chain(&high)
        .enumerate()
        .map(|(i, key)| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(format!("{{\"n\":{i}}}")))
                .partition_key(key.as_str())
                .build()
                .unwrap()
        })
        .collect();
    // moto's first write is slow; warm it up directly, past the proxy.
    moto.client()
        .put_record()
        .stream_name("rig")
        .data(Blob::new("{}"))
        .partition_key("warm-up")
        .send()
        .await
        .expect("PutRecord to moto");
    let sent_at = Instant::now();
    let answer = client
        .put_records()
        .stream_name("rig")
        .set_records(Some(entries))
        .send()
        .await
        .expect("PutRecords through the proxy");
    assert_eq!(answer.failed_record_count, Some(50));
    for (i, r) in answer.records.iter().enumerate() {
        let throttled = r.error_code.as_deref() == Some("ProvisionedThroughputExceededException");
        assert_eq!(throttled, (100..150).contains(&i), "entry {i}: {r:?}");
    }
    assert_eq!((stats.within_limit(), stats.over_limit()), (110, 50));
    // PutRecord on the full shard: a 400; a second later the shard takes records again.
    let put = |key: &str| {
        client
            .put_record()
            .stream_name("rig")
            .data(Blob::new("{}"))
            .partition_key(key)
            .send()
    };
    let result = put(low[0]).await;
    assert!(
        sent_at.elapsed() < Duration::from_millis(900),
        "moto too slow for this test"
    );
    let err = result.expect_err("the shard's second is full");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(low[1]).await.expect("a new second");
    assert_eq!(moto.read_back("rig").await.len(), 1 + 110 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permission_to_list_shards_the_stream_is_metered_as_one_shard_and_nothing_is_lost()
{
    let moto = Moto::start();
    moto.create_stream("blind", 2).await;
    // Every ListShards refused as IAM refuses it; the writes go through one at a time.
    let (proxy, stats) = fault_proxy::spawn(
        moto.addr,
        FaultPlan::repeat("ListShards", Fault::Reject("AccessDeniedException")),
    )
    .await
    .unwrap();
    let dir = scratch("blind");
    let input = records(1_500, 23);
    let file = dir.join("books.json");
    write_array(&file, &input);
    let out = backfill(
        &format!("http://{proxy}"),
        "blind",
        file.to_str().unwrap(),
        &[],
    );
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(stats.rejected() > 0, "ListShards was refused");
    let warned = common::named(&log, "shard_list_denied");
    assert_eq!(warned.len(), 1, "{log}");
    assert_eq!(warned[0]["stream"], "blind", "{log}");
    assert!(
        warned[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("AccessDeniedException")),
        "{log}"
    );
    assert_eq!(summary(&out)["sent"], 1_500);
    let landed = moto.read_back_records("blind").await;
    assert_exactly_once(&input, &landed);
}
