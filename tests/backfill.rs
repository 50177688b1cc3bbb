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

/// An endpoint in front of `moto` that forwards writes one at a time (no faults).
async fn one_write_at_a_time(moto: &Moto) -> String {
    let (addr, _) = fault_proxy::spawn(moto.addr, FaultPlan::new("", Vec::new()))
        .await
        .expect("proxy");
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

/// The summary's figures, from its log event.
fn summary(out: &Output) -> Value {
    let log = stderr(out);
    let events = common::events(&log, "backfill ");
    events
        .into_iter()
        .rfind(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| !m.starts_with("backfill progress") && !m.starts_with("backfill:"))
        })
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
    // A limit low enough that the limiter, not moto, sets the pace.
    let limit = 300;
    let out = backfill(
        &one_write_at_a_time(&moto).await,
        "bulk",
        file.to_str().unwrap(),
        &["--shard-records-per-sec", &limit.to_string()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["sent"], 20_000, "{s}");
    assert_eq!(s["refused"], 0);
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
    // Under the limit in every second of every shard; and the limiter did set the pace.
    let busiest: Vec<usize> = per_shard.into_values().map(busiest_second).collect();
    eprintln!("busiest second per shard: {busiest:?} (limit {limit})");
    assert_eq!(busiest.len(), 4);
    assert!(
        busiest.iter().all(|&n| n <= limit),
        "{busiest:?} over {limit}/s"
    );
    assert!(
        busiest.iter().all(|&n| n >= limit / 2),
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
    assert!(log.contains("resharded: 4 open shard(s), was 2"), "{log}");
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
