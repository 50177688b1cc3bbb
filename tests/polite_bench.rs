//! The refresh benchmark (built only with `--features bench-refresh`; `benches/refresh.sh`
//! runs it): today's full refresh (every product page every walk: `verify_every = 1s`) and the
//! incremental refresh side by side, in one run, against the project's test site answering
//! every request in 50 ms (100 books on 10 listing pages), at 5 requests a second, in changes
//! mode against moto. Each run starts the site at the version before the one it switches to,
//! lets the daemon take its first walk (which reads every page: a full scrape) and two
//! steady walks of the unchanged site, then switches the site and waits for every event the
//! switch makes (added, changed, removed) to be in the stream.
//!
//! Measured per run: requests and bytes (response heads and bodies, as the site wrote them)
//! of the first walk and of a steady walk; from the switch, when every listing-visible change
//! (repriced, retitled, added books) was in the stream, when the removal was, when the
//! product-page-only stock-count change was, and the events in all.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bookstream_testsite::{RunningSite, Site as Generated, SiteBook};
use common::rig::*;
use common::{Moto, scratch, signal};

const CHANGES: &str = "[stream]\ninterval = \"50ms\"\nmax_records = 20\nmode = \"changes\"\ninitial_snapshot = false\n";
const BOOKS: usize = 100;
const PER_PAGE: usize = 10;

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
    let deadline = Instant::now() + Duration::from_secs(600);
    while site.stats().hits(page1) < from + n {
        assert!(Instant::now() < deadline, "no walk within 600 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first version switch (from `v - 1` to `v`) whose stock-count change is visible on the
/// product page only (a count that stays above 0, so the listing still says "In stock"): the
/// change the rotation, not the listing, must find.
fn versions_with_a_product_only_change() -> (u32, u32) {
    for to in 1..50 {
        let (old, new) = (version(to - 1), version(to));
        if new.iter().any(|b| {
            old.iter()
                .any(|o| o.upc == b.upc && o.stock > 0 && b.stock > 0 && o.stock != b.stock)
        }) {
            return (to - 1, to);
        }
    }
    panic!("no version of the test site changes a stock count only");
}

fn version(v: u32) -> Vec<SiteBook> {
    Generated::generate_version(BOOKS, PER_PAGE, v)
        .books()
        .to_vec()
}

/// The events a switch from `old` to `new` makes, by kind: (listing-visible: added, repriced,
/// retitled, or out of / back in stock; removed; stock count only), as (event, upc).
struct Expected {
    listing: BTreeSet<(String, String)>,
    removed: BTreeSet<(String, String)>,
    stock_only: BTreeSet<(String, String)>,
}

impl Expected {
    fn of(old: &[SiteBook], new: &[SiteBook]) -> Expected {
        let mut e = Expected {
            listing: BTreeSet::new(),
            removed: BTreeSet::new(),
            stock_only: BTreeSet::new(),
        };
        let ev = |k: &str, u: &str| (k.to_owned(), u.to_owned());
        for b in new {
            match old.iter().find(|o| o.upc == b.upc) {
                None => {
                    e.listing.insert(ev("added", &b.upc));
                }
                Some(o) if o.price != b.price || o.title != b.title => {
                    e.listing.insert(ev("changed", &b.upc));
                }
                Some(o) if (o.stock == 0) != (b.stock == 0) => {
                    e.listing.insert(ev("changed", &b.upc));
                }
                Some(o) if o.stock != b.stock => {
                    e.stock_only.insert(ev("changed", &b.upc));
                }
                Some(_) => {}
            }
        }
        for o in old.iter().filter(|o| !new.iter().any(|b| b.upc == o.upc)) {
            e.removed.insert(ev("removed", &o.upc));
        }
        e
    }
}

/// One run's settings.
struct Run {
    name: &'static str,
    verify_every: &'static str,
    cron: &'static str,
    /// `None`: the default `[site] refresh`.
    refresh: Option<&'static str>,
    /// Wait for the stock-count change too (only within `verify_every`).
    wait_stock: bool,
    /// Wait for the removal too.
    wait_removal: bool,
    /// Steady walks measured before the switch.
    steady_walks: u64,
}

/// What one run measured.
#[derive(Debug, Default)]
struct Measured {
    first_requests: u64,
    first_bytes: u64,
    steady_requests: f64,
    steady_bytes: f64,
    listing: Option<Duration>,
    removal: Option<Duration>,
    stock: Option<Duration>,
    events: BTreeSet<(String, String)>,
    duplicates: usize,
}

async fn measure(run: Run, from: u32, to: u32) -> Measured {
    let moto = Moto::start();
    moto.create_stream(run.name, 1).await;
    let (books, per_page) = (BOOKS.to_string(), PER_PAGE.to_string());
    let (from_v, to_v) = (from.to_string(), to.to_string());
    let base = [
        "--books",
        &books,
        "--per-page",
        &per_page,
        "--delay",
        "50ms",
    ];
    let site = live_site(&[&base[..], &["--version", &from_v]].concat());
    let dir = scratch(run.name);
    let config = write_config(&dir, &site.url(), &moto.endpoint, run.name, CHANGES);
    let mut env = vec![
        ("BOOKSTREAM__SCHEDULE__CRON", run.cron),
        ("BOOKSTREAM__SITE__MAX_REQUESTS_PER_SEC", "5"),
        ("BOOKSTREAM__SITE__VERIFY_EVERY", run.verify_every),
    ];
    if let Some(refresh) = run.refresh {
        env.push(("BOOKSTREAM__SITE__REFRESH", refresh));
    }
    // The rig's config says `refresh = "1h"`; the default is what the file leaves unset.
    let config_text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, config_text.replace("refresh = \"1h\"\n", "")).unwrap();
    let child = spawn_daemon_with(&config, None, None, &env);
    let mut m = Measured::default();
    walks_started(&site, 2).await; // the first walk (reads everything) was taken
    m.first_requests = site.stats().requests() - 1;
    m.first_bytes = site.stats().bytes_sent();
    let (requests, bytes) = (site.stats().requests(), site.stats().bytes_sent());
    walks_started(&site, run.steady_walks).await;
    let walks = run.steady_walks as f64;
    m.steady_requests = (site.stats().requests() - requests) as f64 / walks;
    m.steady_bytes = (site.stats().bytes_sent() - bytes) as f64 / walks;
    let expected = Expected::of(&version(from), &version(to));
    site.switch(&[&base[..], &["--version", &to_v]].concat())
        .unwrap();
    let switched = Instant::now();
    loop {
        let got: Vec<(String, String)> = moto
            .read_back(run.name)
            .await
            .iter()
            .map(|d| {
                let e: serde_json::Value = serde_json::from_slice(d).unwrap();
                let upc = e["upc"].as_str().unwrap_or_default().to_owned();
                (e["event"].as_str().unwrap_or_default().to_owned(), upc)
            })
            .collect();
        let set: BTreeSet<(String, String)> = got.iter().cloned().collect();
        let now = switched.elapsed();
        let all = |want: &BTreeSet<(String, String)>| want.is_subset(&set);
        if m.listing.is_none() && all(&expected.listing) {
            m.listing = Some(now);
        }
        if m.removal.is_none() && all(&expected.removed) {
            m.removal = Some(now);
        }
        if m.stock.is_none() && all(&expected.stock_only) {
            m.stock = Some(now);
        }
        let done = m.listing.is_some()
            && (!run.wait_removal || m.removal.is_some())
            && (!run.wait_stock || m.stock.is_some());
        if done {
            m.duplicates = got.len() - set.len();
            m.events = set;
            break;
        }
        assert!(
            switched.elapsed() < Duration::from_secs(600),
            "{}: not every expected event within 600 s: {got:?}",
            run.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    m
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

#[tokio::test]
async fn refresh_benchmark() {
    let (from, to) = versions_with_a_product_only_change();
    let expected = Expected::of(&version(from), &version(to));
    let truth: BTreeSet<_> = expected
        .listing
        .iter()
        .chain(&expected.removed)
        .chain(&expected.stock_only)
        .cloned()
        .collect();
    println!(
        "site version {from} -> {to}: {} listing-visible events, {} removed, {} stock count only",
        expected.listing.len(),
        expected.removed.len(),
        expected.stock_only.len()
    );
    let runs = [
        Run {
            name: "bench-full",
            verify_every: "1s",
            cron: "*/10 * * * * *",
            refresh: Some("10s"),
            wait_stock: true,
            wait_removal: true,
            steady_walks: 2,
        },
        Run {
            name: "bench-incr",
            verify_every: "1h",
            cron: "*/10 * * * * *",
            refresh: Some("10s"),
            wait_stock: false,
            wait_removal: true,
            steady_walks: 2,
        },
        Run {
            name: "bench-incr-2m",
            verify_every: "2m",
            cron: "*/10 * * * * *",
            refresh: Some("10s"),
            wait_stock: true,
            wait_removal: true,
            steady_walks: 2,
        },
    ];
    let minute = std::env::var_os("BENCH_SKIP_MINUTE")
        .is_none()
        .then_some(Run {
            name: "bench-minute",
            verify_every: "1h",
            cron: "0 * * * * *",
            refresh: None,
            wait_stock: false,
            wait_removal: false,
            steady_walks: 1,
        });
    let mut rows = Vec::new();
    for run in runs.into_iter().chain(minute) {
        let label = format!(
            "{} (cron {}, refresh {}, verify_every {})",
            run.name,
            run.cron,
            run.refresh.unwrap_or("default"),
            run.verify_every
        );
        let m = measure(run, from, to).await;
        println!("{label}: {m:?}");
        rows.push((label, m));
    }
    let full_scrape = rows[0].1.first_bytes as f64;
    println!(
        "| run | first walk (full scrape): requests, bytes | steady walk: requests, bytes (÷ full scrape) | listing-visible change -> stream | removal -> stream | stock count only -> stream | events (= full refresh's) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, m) in &rows {
        let parity = if m.events == rows[0].1.events && m.events == truth {
            format!("{}, the same", m.events.len())
        } else if m.events.is_subset(&truth) {
            format!(
                "{} of {} (waited for part only)",
                m.events.len(),
                truth.len()
            )
        } else {
            format!("NO: {:?}", m.events.symmetric_difference(&truth))
        };
        println!(
            "| {label} | {}, {} | {:.0}, {:.0} ({:.3}) | {} | {} | {} | {parity}{} |",
            m.first_requests,
            m.first_bytes,
            m.steady_requests,
            m.steady_bytes,
            m.steady_bytes / full_scrape,
            secs(m.listing),
            secs(m.removal),
            secs(m.stock),
            if m.duplicates > 0 {
                format!(", {} sent twice", m.duplicates)
            } else {
                String::new()
            }
        );
    }
}
