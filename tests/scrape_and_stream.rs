//! `scrape`, `stream`, `tail` and `check-config` as a user runs them: the real binary against
//! the project's test site and a real moto_server on 127.0.0.1, records read back and compared.

mod common;

use std::time::Duration;

use bookstream_testsite::Site as Generated;
use common::fault_proxy::{self, Fault, FaultPlan};
use common::{Moto, Site, run, scratch, stderr};

fn scrape_to_file(site: &Site, extra: &[&str]) -> (std::process::Output, Vec<serde_json::Value>) {
    let out_file = scratch("scrape").join("books.json");
    let mut args = vec![
        "scrape",
        "--max-requests-per-sec",
        "1000",
        "--site",
        &site.url,
        "--output",
    ];
    let out_str = out_file.to_str().unwrap().to_owned();
    args.push(&out_str);
    args.extend_from_slice(extra);
    let output = run(&args);
    let books = std::fs::read_to_string(&out_file)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (output, books)
}

#[test]
fn scrape_returns_the_full_catalogue_with_real_upcs_in_listing_order() {
    let site = Site::start(&[]);
    let (output, books) = scrape_to_file(&site, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let truth = Generated::generate(1000, 20);
    assert_eq!(books.len(), 1000);
    for (got, want) in books.iter().zip(truth.books()) {
        assert_eq!(got["title"], want.title.as_str());
        assert_eq!(got["upc"], want.upc.as_str());
        assert_eq!(got["price"], want.price.as_str());
        assert_eq!(got["rating"], want.rating);
        assert_eq!(got["stock"], want.stock);
        assert_eq!(got["category"], want.category.as_str());
        let availability = if want.stock > 0 {
            "In stock"
        } else {
            "Out of stock"
        };
        assert_eq!(got["availability"], availability);
        assert!(got["url"].as_str().unwrap().starts_with(&site.url));
    }
}

#[test]
fn pages_limit_stops_after_n_listing_pages() {
    let site = Site::start(&["--books", "100", "--per-page", "10"]);
    let (output, books) = scrape_to_file(&site, &["--pages", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(books.len(), 30);
}

#[test]
fn transient_server_errors_are_retried_and_nothing_is_lost() {
    let site = Site::start(&["--books", "40", "--per-page", "10", "--fail-first", "2"]);
    let (output, books) = scrape_to_file(&site, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(books.len(), 40);
    assert!(books.iter().all(|b| b["upc"].is_string()));
}

#[test]
fn a_listing_page_that_keeps_failing_fails_the_scrape_naming_its_url() {
    let site = Site::start(&[
        "--books",
        "40",
        "--per-page",
        "10",
        "--fail-always",
        "page-3.html",
    ]);
    let (output, _) = scrape_to_file(&site, &[]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("/catalogue/page-3.html") && err.contains("500"),
        "{err}"
    );
}

#[test]
fn a_product_page_that_keeps_failing_keeps_the_book_with_listing_fields() {
    let truth = Generated::generate(20, 10);
    let victim = &truth.books()[3];
    let pattern = format!("{}_{}/", victim.slug, victim.id);
    let site = Site::start(&[
        "--books",
        "20",
        "--per-page",
        "10",
        "--fail-always",
        &pattern,
    ]);
    let (output, books) = scrape_to_file(&site, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(books.len(), 20);
    assert_eq!(books[3]["title"], victim.title.as_str());
    assert_eq!(books[3]["price"], victim.price.as_str());
    assert!(books[3]["upc"].is_null());
    assert!(stderr(&output).contains(&pattern), "{}", stderr(&output));
    assert!(
        books
            .iter()
            .enumerate()
            .all(|(i, b)| i == 3 || b["upc"].is_string())
    );
}

fn compact(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// `n` small records whose UPCs are `{prefix}0`, `{prefix}1`, ...
fn records(prefix: &str, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| serde_json::json!({"upc": format!("{prefix}{i}")}))
        .collect()
}

/// Writes `records` to a file and runs `bookstream stream` on it (JSON logs) against
/// `endpoint`, off the async runtime so an in-process fault proxy keeps serving.
async fn stream_records(
    stream: &str,
    interval: &str,
    records: &[serde_json::Value],
    endpoint: &str,
) -> std::process::Output {
    let file = scratch(stream).join("records.json");
    std::fs::write(&file, serde_json::to_vec(records).unwrap()).unwrap();
    let args: Vec<String> = [
        "--log-format",
        "json",
        "stream",
        "--stream-name",
        stream,
        "--interval",
        interval,
        "--json-file",
        file.to_str().unwrap(),
        "--endpoint-url",
        endpoint,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    tokio::task::spawn_blocking(move || run(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

#[tokio::test]
async fn stream_puts_each_record_as_compact_json_and_they_read_back_in_order() {
    let moto = Moto::start();
    moto.create_stream("books", 1).await;
    let site = Site::start(&["--books", "30", "--per-page", "10"]);
    let (_, books) = scrape_to_file(&site, &[]);
    let file = scratch("stream").join("books.json");
    std::fs::write(&file, serde_json::to_vec(&books).unwrap()).unwrap();
    let output = run(&[
        "stream",
        "--stream-name",
        "books",
        "--interval",
        "20ms",
        "--max-records",
        "25",
        "--json-file",
        file.to_str().unwrap(),
        "--endpoint-url",
        &moto.endpoint,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let got = moto.read_back("books").await;
    let want: Vec<Vec<u8>> = books[..25].iter().map(compact).collect();
    assert_eq!(got, want);

    let tail = run(&[
        "tail",
        "--stream-name",
        "books",
        "--endpoint-url",
        &moto.endpoint,
    ]);
    assert!(tail.status.success(), "{}", stderr(&tail));
    let lines: Vec<&[u8]> = tail
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines, want.iter().map(Vec::as_slice).collect::<Vec<_>>());
}

#[tokio::test]
async fn max_records_above_the_data_sends_everything_once_with_newline_delimiters() {
    let moto = Moto::start();
    moto.create_stream("b", 1).await;
    let records: Vec<serde_json::Value> = (0..5)
        .map(|i| serde_json::json!({"upc": format!("u{i}"), "n": i}))
        .collect();
    let file = scratch("max").join("r.json");
    std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();
    let output = run(&[
        "stream",
        "--stream_name",
        "b",
        "-i",
        "0.01",
        "-mr",
        "150",
        "--json-file",
        file.to_str().unwrap(),
        "--endpoint-url",
        &moto.endpoint,
        "--record-delimiter",
        "newline",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let got = moto.read_back("b").await;
    let want: Vec<Vec<u8>> = records
        .iter()
        .map(|r| [compact(r), b"\n".to_vec()].concat())
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn old_setup_sh_invocation_with_json_url_works() {
    let moto = Moto::start();
    moto.create_stream("legacy", 1).await;
    let dir = scratch("legacy");
    let records: Vec<serde_json::Value> = (0..3).map(|i| serde_json::json!({"upc": i})).collect();
    std::fs::write(
        dir.join("books.json"),
        serde_json::to_vec(&records).unwrap(),
    )
    .unwrap();
    let site = Site::start(&["--root", dir.to_str().unwrap()]);
    let url = format!("{}books.json", site.url);
    let output = run(&[
        "stream",
        "-sn",
        "legacy",
        "-i",
        "0.01",
        "-mr",
        "3",
        "-url",
        &url,
        "--endpoint-url",
        &moto.endpoint,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(moto.read_back("legacy").await.len(), 3);
}

#[tokio::test]
async fn a_missing_stream_is_a_clear_error_and_a_failing_exit() {
    let moto = Moto::start();
    let file = scratch("missing").join("r.json");
    std::fs::write(&file, br#"[{"upc":"x"}]"#).unwrap();
    let output = run(&[
        "stream",
        "--stream-name",
        "nope",
        "--interval",
        "10ms",
        "--json-file",
        file.to_str().unwrap(),
        "--endpoint-url",
        &moto.endpoint,
    ]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("`nope` not found at http://127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_without_losing_a_record() {
    let moto = Moto::start();
    moto.create_stream("faulty", 1).await;
    let plan = FaultPlan {
        target: "PutRecord".into(),
        faults: vec![
            Fault::Throttle,
            Fault::Pass,
            Fault::InternalFailure,
            Fault::ServiceUnavailable,
            Fault::Pass,
            Fault::Throttle,
            Fault::Throttle,
        ],
    };
    let (proxy, stats) = fault_proxy::spawn(moto.addr, plan).await.unwrap();
    let records = records("r", 6);
    let output = stream_records("faulty", "10ms", &records, &format!("http://{proxy}")).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let got = moto.read_back("faulty").await;
    assert_eq!(got, records.iter().map(compact).collect::<Vec<_>>());
    assert!(stats.matched() >= 11, "{stats:?}");
    assert_eq!(common::named(&stderr(&output), "put_retrying").len(), 5);
}

#[tokio::test]
async fn a_lost_response_duplicates_at_most_that_record_and_loses_none() {
    let moto = Moto::start();
    moto.create_stream("lossy", 1).await;
    let plan = FaultPlan {
        target: "PutRecord".into(),
        faults: vec![Fault::Pass, Fault::DropResponse],
    };
    let (proxy, _) = fault_proxy::spawn(moto.addr, plan).await.unwrap();
    let records = records("r", 4);
    let output = stream_records("lossy", "10ms", &records, &format!("http://{proxy}")).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let got = moto.read_back("lossy").await;
    let r: Vec<Vec<u8>> = records.iter().map(compact).collect();
    assert_eq!(
        got,
        vec![
            r[0].clone(),
            r[1].clone(),
            r[1].clone(),
            r[2].clone(),
            r[3].clone()
        ]
    );
}

#[tokio::test]
async fn slow_puts_do_not_push_the_schedule_back() {
    // Each put takes 150 ms; the old script would drift 150 ms per record. On the fixed grid
    // sends start at t0 + k * interval (read from the send log). The 10 ms figure on a quiet
    // machine is measured by the benchmark (BENCHMARKS.md), not asserted here.
    let moto = Moto::start();
    moto.create_stream("paced", 1).await;
    let plan = FaultPlan {
        target: "PutRecord".into(),
        faults: vec![Fault::Delay(Duration::from_millis(150)); 12],
    };
    let (proxy, _) = fault_proxy::spawn(moto.addr, plan).await.unwrap();
    let output = stream_records(
        "paced",
        "250ms",
        &records("p", 12),
        &format!("http://{proxy}"),
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let sends = common::named(&stderr(&output), "record_sent");
    assert_eq!(sends.len(), 12);
    let mut late: Vec<i64> = sends
        .iter()
        .map(|s| s["lateness_us"].as_i64().unwrap())
        .collect();
    assert!(
        sends.iter().all(|s| s["put_ms"].as_u64().unwrap() >= 150),
        "{sends:?}"
    );
    // Sleeping after each put would make send k start k * 150 ms late (1.65 s by the last).
    // On the grid no send is even one put's latency late, and the typical send is on time.
    assert!(late.iter().all(|l| (0..120_000).contains(l)), "{late:?}");
    late.sort();
    assert!(late[late.len() / 2] < 10_000, "median lateness {late:?}");
    assert_eq!(moto.read_back("paced").await.len(), 12);
}

#[tokio::test]
async fn interrupt_stops_after_the_in_flight_put_and_reports_the_count() {
    let moto = Moto::start();
    moto.create_stream("int", 1).await;
    let records: Vec<serde_json::Value> = (0..100).map(|i| serde_json::json!({"upc": i})).collect();
    let file = scratch("int").join("r.json");
    std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();
    let child = common::bookstream()
        .args([
            "stream",
            "--stream-name",
            "int",
            "--interval",
            "100ms",
            "--json-file",
            file.to_str().unwrap(),
            "--endpoint-url",
            &moto.endpoint,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    common::signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let sent: usize = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout:?}"));
    assert!((5..100).contains(&sent), "{stdout}");
    assert_eq!(moto.read_back("int").await.len(), sent);
}

#[test]
fn check_config_accepts_the_shipped_file_and_names_file_and_key_on_errors() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/bookstream.toml");
    let ok = run(&["check-config", "--config", shipped]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("stream_name = \"books-stream\""));

    let bad = scratch("cfg").join("bad.toml");
    std::fs::write(
        &bad,
        "[kinesis]\nstream_name = \"b\"\n[stream]\ninterval = \"fast\"\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml") && err.contains("interval") && err.contains("expected a duration"),
        "{err}"
    );

    let missing = run(&["check-config", "--config", "/nonexistent/b.toml"]);
    assert_eq!(missing.status.code(), Some(78));
    assert!(stderr(&missing).contains("/nonexistent/b.toml"));

    let env_bad = common::bookstream()
        .args(["check-config", "--config", shipped])
        .env("BOOKSTREAM__SCHEDULE__CRON", "every minute")
        .output()
        .unwrap();
    assert_eq!(env_bad.status.code(), Some(78));
    assert!(
        stderr(&env_bad).contains("schedule.cron"),
        "{}",
        stderr(&env_bad)
    );
}

#[tokio::test]
async fn per_record_partition_keys_spread_over_shards_and_tail_reads_them_all() {
    let moto = Moto::start();
    moto.create_stream("wide", 4).await;
    let records = records("w", 40);
    let output = stream_records("wide", "5ms", &records, &moto.endpoint).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let shards: std::collections::BTreeSet<String> = common::named(&stderr(&output), "record_sent")
        .iter()
        .map(|e| e["shard_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        shards.len() > 1,
        "UPC partition keys all landed on {shards:?}"
    );

    let tail = run(&[
        "tail",
        "--stream-name",
        "wide",
        "--endpoint-url",
        &moto.endpoint,
    ]);
    assert!(tail.status.success(), "{}", stderr(&tail));
    let mut got: Vec<String> = String::from_utf8_lossy(&tail.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let mut want: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    let limited = run(&[
        "tail",
        "--stream-name",
        "wide",
        "--endpoint-url",
        &moto.endpoint,
        "--limit",
        "7",
    ]);
    assert_eq!(String::from_utf8_lossy(&limited.stdout).lines().count(), 7);
}

#[tokio::test]
async fn tail_follow_prints_records_as_they_arrive_until_interrupted() {
    use std::io::BufRead;
    let moto = Moto::start();
    moto.create_stream("live", 2).await;
    let mut child = common::bookstream()
        .args([
            "tail",
            "--stream-name",
            "live",
            "--from",
            "latest",
            "--follow",
            "--endpoint-url",
            &moto.endpoint,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // LATEST is taken when tail starts: give it a moment, then write.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let records = records("live", 5);
    let output = stream_records("live", "100ms", &records, &moto.endpoint).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let mut got: Vec<String> = (0..5)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("a followed record")
        })
        .collect();
    let mut want: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    common::signal(&child, "INT");
    assert!(child.wait().unwrap().success());
}
