//! The refresh benchmark (built only with `--features bench-refresh`; `benches/refresh.sh` runs it): today's full
//! refresh (every product page every walk: `verify_every = 1s`) and the incremental refresh
//! (the default `verify_every = 1h`) side by side, in one run, against the project's test site
//! answering in 50 ms, at 5 requests a second, with a 10 s cron and `refresh = 10s`. Prints
//! the requests a walk costs on an unchanged site and how long a repriced book takes from the
//! site's change to its record's arrival in the stream.

mod common;

use std::time::{Duration, Instant};

use bookstream_testsite::{RunningSite, Site as Generated};
use common::rig::*;
use common::{Moto, scratch, signal};

const CHANGES: &str = "[stream]\ninterval = \"50ms\"\nmax_records = 20\nmode = \"changes\"\ninitial_snapshot = false\n";
const BOOKS: usize = 100;

fn live_site(args: &[&str]) -> RunningSite {
    let argv = std::iter::once("bookstream-testsite").chain(args.iter().copied());
    <bookstream_testsite::SiteArgs as clap::Parser>::try_parse_from(argv)
        .unwrap()
        .start()
        .unwrap()
}

async fn walks_started(site: &RunningSite, n: u64) {
    let page1 = "/catalogue/page-1.html";
    let from = site.stats().hits(page1);
    let deadline = Instant::now() + Duration::from_secs(300);
    while site.stats().hits(page1) < from + n {
        assert!(Instant::now() < deadline, "no walk within 300 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (requests a steady walk costs, repriced-to-stream latency) for one mode.
async fn measure(name: &'static str, verify_every: &str) -> (f64, Duration) {
    let moto = Moto::start();
    moto.create_stream(name, 1).await;
    let base = ["--books", "100", "--per-page", "10", "--delay", "50ms"];
    let site = live_site(&base);
    let dir = scratch(name);
    let config = write_config(&dir, &site.url(), &moto.endpoint, name, CHANGES);
    let env = [
        ("BOOKSTREAM__SITE__REFRESH", "10s"),
        ("BOOKSTREAM__SCHEDULE__CRON", "*/10 * * * * *"),
        ("BOOKSTREAM__SITE__MAX_REQUESTS_PER_SEC", "5"),
        ("BOOKSTREAM__SITE__VERIFY_EVERY", verify_every),
    ];
    let child = spawn_daemon_with(&config, None, None, &env);
    walks_started(&site, 2).await; // the first walk (reads everything) was taken
    let before = site.stats().requests();
    walks_started(&site, 2).await;
    let per_walk = (site.stats().requests() - before) as f64 / 2.0;
    let v0 = Generated::generate_version(BOOKS, 10, 0);
    let v1 = Generated::generate_version(BOOKS, 10, 1);
    let repriced: Vec<String> = v1
        .books()
        .iter()
        .filter(|b| {
            v0.books()
                .iter()
                .any(|o| o.upc == b.upc && (o.price != b.price || o.title != b.title))
        })
        .map(|b| b.upc.clone())
        .collect();
    site.switch(&[&base[..], &["--version", "1"]].concat())
        .unwrap();
    let switched = Instant::now();
    let latency = loop {
        let got: Vec<serde_json::Value> = moto
            .read_back(name)
            .await
            .iter()
            .map(|d| serde_json::from_slice(d).unwrap())
            .collect();
        let there = |u: &String| {
            got.iter()
                .any(|e| e["event"] == "changed" && e["upc"].as_str() == Some(u))
        };
        if repriced.iter().all(there) {
            break switched.elapsed();
        }
        assert!(switched.elapsed() < Duration::from_secs(300));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    (per_walk, latency)
}

#[tokio::test]
async fn refresh_benchmark() {
    let full = measure("bench-full", "1s").await;
    let incremental = measure("bench-incr", "1h").await;
    println!(
        "| refresh | requests per walk, unchanged site | repriced book: site change -> stream |"
    );
    println!("|---|---|---|");
    println!(
        "| full (verify_every = 1s, today's) | {:.0} | {:.1} s |",
        full.0,
        full.1.as_secs_f64()
    );
    println!(
        "| incremental (verify_every = 1h) | {:.0} | {:.1} s |",
        incremental.0,
        incremental.1.as_secs_f64()
    );
}
