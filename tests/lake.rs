//! The lake on loopback: the daemon sends real records in both modes (moto, the test site with
//! its version switch), the test plays Firehose's part (the records as JSON Lines objects under
//! `json_data/YYYY/MM/DD/HH/`, one batch delivered twice as Firehose's retries may), then
//! - every record validates against `bookstream schema --format json-schema` (Python
//!   `jsonschema`, tests/lake/validate.py);
//! - DuckDB reads the objects with the columns of `bookstream schema --format glue` and runs the
//!   template's named queries, transpiled from Athena SQL (tests/lake/query.py); the answers
//!   equal what the site served: the current price of a repriced book, the day's price changes
//!   each once, the books that went out of stock, the count per category;
//! - pyarrow writes the same records as Parquet with the Glue schema, reads them back whole,
//!   and the queries give the same answers over Parquet.
//!
//! The Python side must be installed (.ci/run does); a missing package fails the test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use bookstream_testsite::{Site as Generated, SiteBook};
use common::fault_proxy::{self, Fault, FaultPlan};
use common::rig::write_config;
use common::{Moto, Site, free_port, scratch};
use serde_json::Value;

const BOOKS: usize = 60;
const PER_PAGE: usize = 10;
const VERSION: u32 = 3;
/// A slot that outlasts the scrapes (the cycle ends at the next tick: midnight UTC).
const CRON: &str = "0 0 0 * * *";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn site(port: &str, version: u32, fail: bool) -> Site {
    let (books, per_page, version) = (BOOKS.to_string(), PER_PAGE.to_string(), version.to_string());
    let mut args = vec![
        "--port",
        port,
        "--books",
        &books,
        "--per-page",
        &per_page,
        "--version",
        &version,
    ];
    // One product page answers 500 in the first (catalogue-mode) scrape: a record with `null`s;
    // a book that stays the same, so that the answers of the queries do not depend on it.
    let failing = format!("_{}/index.html", unchanged_book().id);
    if fail {
        args.extend(["--fail-always", &failing]);
    }
    Site::start(&args)
}

fn catalogue(version: u32) -> Vec<SiteBook> {
    Generated::generate_version(BOOKS, PER_PAGE, version)
        .books()
        .to_vec()
}

/// A book with the same values in version 0 and `VERSION`.
fn unchanged_book() -> SiteBook {
    let now = catalogue(VERSION);
    catalogue(0)
        .into_iter()
        .find(|b| now.contains(b))
        .expect("a book that does not change")
}

async fn once(config: &Path, env: &[(&str, &str)]) {
    let out = tokio::process::Command::from(common::bookstream())
        .args(["once", "--config", config.to_str().unwrap()])
        .env("BOOKSTREAM__SCHEDULE__CRON", CRON)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run bookstream once");
    assert!(out.status.success(), "{}", common::stderr(&out));
}

fn schema(format: &str, dir: &Path) -> PathBuf {
    let out = common::run(&["schema", "--format", format]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let path = dir.join(format!("schema-{format}.json"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Runs a Python script of tests/lake; its stdout, or a failure with everything it said.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(repo().join("tests/lake").join(script))
        .args(args)
        .output()
        .expect("python3 must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Plays Firehose with `AppendDelimiterToRecord`: records in arrival order, 10 to an object,
/// each followed by a newline, under the arrival hour's folder (UTC). Returns the objects.
fn write_like_firehose(root: &Path, records: &[(Vec<u8>, f64)], name: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for (n, batch) in records.chunks(10).enumerate() {
        let secs = batch[0].1 as i64;
        let at = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        let folder = root
            .join("json_data")
            .join(at.format("%Y/%m/%d/%H").to_string());
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join(format!(
            "{name}-1-{}-{n:04}",
            at.format("%Y-%m-%d-%H-%M-%S")
        ));
        let mut body = Vec::new();
        for (data, _) in batch {
            body.extend_from_slice(data);
            body.push(b'\n');
        }
        std::fs::write(&path, body).unwrap();
        paths.push(path);
    }
    paths
}

struct Lake {
    dir: PathBuf,
    objects: Vec<PathBuf>,
    /// Every record Kinesis holds, plus the one delivered twice.
    records: Vec<Value>,
}

/// Waits past midnight UTC when it is less than two minutes away: the cycles' slot ends at
/// midnight, and "today's price changes" must be the day the changes were detected on.
async fn clear_of_midnight() {
    let now = chrono::Utc::now().timestamp();
    let to_midnight = 86_400 - now.rem_euclid(86_400);
    if to_midnight < 120 {
        tokio::time::sleep(std::time::Duration::from_secs(to_midnight as u64 + 1)).await;
    }
}

/// Catalogue mode over version 0 (one product page failing), then changes mode over version
/// `VERSION`, on one state directory, then changes mode from scratch (a snapshot of every
/// book), all into one stream; then Firehose's part.
async fn produce(name: &'static str) -> Lake {
    clear_of_midnight().await;
    let moto = Moto::start();
    moto.create_stream(name, 1).await;
    let port = free_port().to_string();
    let dir = scratch(name);
    let v0 = site(&port, 0, true);
    let stream_section = format!("[stream]\ninterval = \"10ms\"\nmax_records = {BOOKS}\n");
    let config = write_config(&dir, &v0.url, &moto.endpoint, name, &stream_section);
    once(&config, &[]).await;
    // Times are whole seconds, and the current-catalogue query takes each UPC's latest record:
    // a removal detected in the same second as the book's catalogue record was scraped ties
    // with it (the order between them is DuckDB's to pick). A real removal comes walks later;
    // here the next run starts over a second after this one's scrape.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    drop(v0);
    let v = site(&port, VERSION, false);
    // One complete walk proves a removal here (the product waits for two by default), so
    // that one refresh over the new version yields every kind of event.
    let changes = [
        ("BOOKSTREAM__STREAM__MODE", "changes"),
        ("BOOKSTREAM__SITE__REFRESH", "0s"),
        ("BOOKSTREAM__SITE__REMOVED_AFTER", "1"),
    ];
    // The change feed through a proxy that loses every other PutRecord answer after moto
    // wrote the record: the daemon sends each event again, with the same event_id.
    let every_other: Vec<Fault> = (0..200)
        .map(|n| {
            if n % 2 == 0 {
                Fault::DropResponse
            } else {
                Fault::Pass
            }
        })
        .collect();
    let lossy = FaultPlan::new("PutRecord", every_other);
    let (proxy, stats) = fault_proxy::spawn(moto.addr, lossy).await.unwrap();
    let proxied = format!("http://{proxy}");
    let config = write_config(&dir, &v.url, &proxied, name, &stream_section);
    once(&config, &changes).await;
    assert!(stats.dropped() > 0, "no answer was lost");
    let fresh = dir.join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let config = write_config(&fresh, &v.url, &moto.endpoint, name, &stream_section);
    once(&config, &changes).await;
    let landed = moto.read_back_arrivals(name).await;
    let mut records: Vec<Value> = landed
        .iter()
        .map(|(d, _)| serde_json::from_slice(d).expect("a record is one JSON object"))
        .collect();
    let mut objects = write_like_firehose(&dir, &landed, name);
    // Firehose is at least once: a retried delivery lands a record again, here a price change.
    let (i, _) = records
        .iter()
        .enumerate()
        .find(|(_, r)| is_price_change(r))
        .unwrap_or_else(|| panic!("no price change among {records:?}"));
    let repeat = vec![landed[i].clone()];
    objects.extend(write_like_firehose(&dir, &repeat, "retry"));
    records.push(records[i].clone());
    Lake {
        dir,
        objects,
        records,
    }
}

fn is_price_change(r: &Value) -> bool {
    r["event"] == "changed"
        && r["changed_fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "price"))
}

#[tokio::test]
async fn every_record_of_both_modes_validates_against_the_schema() {
    let lake = produce("lake-valid").await;
    let kinds: BTreeSet<String> = lake
        .records
        .iter()
        .map(|r| r["event"].as_str().unwrap_or("catalogue").to_owned())
        .collect();
    for kind in ["catalogue", "snapshot", "added", "changed", "removed"] {
        assert!(kinds.contains(kind), "no {kind} record among {kinds:?}");
    }
    assert!(
        lake.records.iter().any(|r| r["upc"].is_null()),
        "a book whose product page failed (nulls) is among the records"
    );
    let mut ids = BTreeMap::new();
    for id in lake.records.iter().filter_map(|r| r["event_id"].as_str()) {
        *ids.entry(id).or_insert(0) += 1;
    }
    assert!(
        ids.values().any(|n| *n > 2),
        "an event sent twice by the daemon and delivered once more by Firehose: {ids:?}"
    );
    let schema = schema("json-schema", &lake.dir);
    let mut args = vec![schema.to_str().unwrap().to_owned()];
    args.extend(lake.objects.iter().map(|p| p.to_str().unwrap().to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let said = python("validate.py", &refs);
    assert_eq!(
        said.trim(),
        format!(
            "{} records in {} objects valid",
            lake.records.len(),
            lake.objects.len()
        )
    );
    // And a record with a key the schema does not have is refused.
    let bad = lake.dir.join("bad");
    let mut record = lake.records[0].clone();
    record["isbn"] = Value::from("978-0");
    std::fs::write(&bad, format!("{record}\n")).unwrap();
    let out = Command::new("python3")
        .arg(repo().join("tests/lake/validate.py"))
        .args([schema.to_str().unwrap(), bad.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && said.contains("'isbn' was unexpected"),
        "{said}"
    );
}

/// What the site says: v0 -> v`VERSION`, books by UPC.
struct Truth {
    now: BTreeMap<String, SiteBook>,
    repriced: BTreeSet<(String, String, String)>,
    out_of_stock: BTreeSet<String>,
    per_category: BTreeMap<String, u64>,
}

fn truth() -> Truth {
    let old: BTreeMap<String, SiteBook> = catalogue(0)
        .into_iter()
        .map(|b| (b.upc.clone(), b))
        .collect();
    let now: BTreeMap<String, SiteBook> = catalogue(VERSION)
        .into_iter()
        .map(|b| (b.upc.clone(), b))
        .collect();
    let mut repriced = BTreeSet::new();
    let mut out_of_stock = BTreeSet::new();
    let mut per_category = BTreeMap::new();
    for (upc, b) in &now {
        *per_category.entry(b.category.clone()).or_insert(0) += 1;
        if let Some(was) = old.get(upc) {
            if was.price != b.price {
                repriced.insert((upc.clone(), was.price.clone(), b.price.clone()));
            }
            if was.stock > 0 && b.stock == 0 {
                out_of_stock.insert(upc.clone());
            }
        }
    }
    assert!(
        !repriced.is_empty() && !out_of_stock.is_empty(),
        "version {VERSION} reprices a book and takes one out of stock"
    );
    Truth {
        now,
        repriced,
        out_of_stock,
        per_category,
    }
}

fn check_answers(format: &str, got: &Value, want: &Truth) {
    let current = got["CurrentCatalogueQuery"].as_array().unwrap();
    let prices: BTreeMap<String, String> = current
        .iter()
        .map(|r| {
            (
                r["upc"].as_str().unwrap().to_owned(),
                r["price"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(current.len(), prices.len(), "{format}: one row per UPC");
    let want_prices: BTreeMap<String, String> = want
        .now
        .iter()
        .map(|(u, b)| (u.clone(), b.price.clone()))
        .collect();
    assert_eq!(prices, want_prices, "{format}: the current catalogue");
    for (upc, was, now) in &want.repriced {
        assert_eq!(&prices[upc], now, "{format}: {upc} repriced from {was}");
    }
    let changes = got["PriceChangesTodayQuery"].as_array().unwrap();
    let said: BTreeSet<(String, String, String)> = changes
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_owned();
            (s("upc"), s("was"), s("now"))
        })
        .collect();
    assert_eq!(changes.len(), said.len(), "{format}: each change once");
    assert_eq!(said, want.repriced, "{format}: today's price changes");
    let out: BTreeSet<String> = got["OutOfStockQuery"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["upc"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(out, want.out_of_stock, "{format}: went out of stock");
    let per: BTreeMap<String, u64> = got["BooksPerCategory"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(per, want.per_category, "{format}: books per category");
}

#[tokio::test]
async fn the_templates_queries_answer_what_was_sent_over_json_lines_and_parquet() {
    let want = truth();
    let lake = produce("lake-query").await;
    let columns = schema("glue", &lake.dir);
    let parquet = lake.dir.join("parquet");
    let template = repo().join("packaging/cloudformation.yaml");
    let out = python(
        "query.py",
        &[
            "--template",
            template.to_str().unwrap(),
            "--columns",
            columns.to_str().unwrap(),
            "--root",
            lake.dir.to_str().unwrap(),
            "--parquet",
            parquet.to_str().unwrap(),
        ],
    );
    let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    check_answers("json lines", &got["jsonl"], &want);
    check_answers("parquet", &got["parquet"], &want);
    assert_eq!(got["jsonl"], got["parquet"], "the same answers from both");
}
