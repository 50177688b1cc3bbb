//! The site, misbehaving or hostile: links to other hosts, loops, duplicates, trickled pages,
//! 429s with Retry-After, redirects, pages without products, a catalogue that suddenly shrinks.
//! `bookstream scrape` and the daemon run as a user runs them against the project's test site
//! in each of its hostile modes; every outcome is bounded, logged and never a panic.

mod common;

use std::time::{Duration, Instant};

use common::rig::*;
use common::{Site, bookstream, run, scratch, signal, stderr};

/// `bookstream scrape` of `site` into a file: (output, books, elapsed).
fn scrape(site: &Site, extra: &[&str]) -> (std::process::Output, Vec<serde_json::Value>, Duration) {
    let file = scratch("hostile").join("books.json");
    let mut args = vec![
        "--log-format",
        "json",
        "scrape",
        "--max-requests-per-sec",
        "1000",
        "--site",
        &site.url,
        "--output",
    ];
    let path = file.to_str().unwrap().to_owned();
    args.push(&path);
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = run(&args);
    let elapsed = started.elapsed();
    let books = std::fs::read_to_string(&file)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out, books, elapsed)
}

fn book_upcs(books: &[serde_json::Value]) -> Vec<String> {
    books
        .iter()
        .map(|b| b["upc"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[test]
fn links_to_another_host_are_never_fetched() {
    let other = Site::start(&["--books", "20", "--per-page", "10"]);
    let site = Site::start(&[
        "--books",
        "20",
        "--per-page",
        "10",
        "--foreign-links",
        &other.url,
    ]);
    let (out, books, _) = scrape(&site, &[]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(other.stats().requests(), 0, "the other host was contacted");
    // The first book of each of the 2 pages pointed elsewhere: left out, with a warning each.
    assert_eq!(books.len(), 18, "{log}");
    assert_eq!(
        common::named(&log, "foreign_link_skipped").len(),
        2,
        "{log}"
    );
    assert!(log.contains("another origin"), "{log}");
}

#[test]
fn a_redirect_to_another_host_or_in_a_loop_is_not_followed() {
    let other = Site::start(&["--books", "10", "--per-page", "10"]);
    let to_other = format!("/catalogue/page-1.html={}catalogue/page-1.html", other.url);
    let site = Site::start(&["--books", "10", "--per-page", "10", "--redirect", &to_other]);
    let (out, _, elapsed) = scrape(&site, &[]);
    let log = stderr(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("another origin") && log.contains("page-1.html"),
        "{log}"
    );
    assert_eq!(other.stats().requests(), 0);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");

    let looping = Site::start(&[
        "--books",
        "10",
        "--per-page",
        "10",
        "--redirect",
        "/catalogue/page-1.html=/catalogue/page-1.html",
    ]);
    let (out, _, _) = scrape(&looping, &[]);
    let log = stderr(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("redirects"), "{log}");
    assert!(
        looping.stats().requests() <= 6 * 4,
        "bounded: {}",
        looping.stats().requests()
    );
}

#[test]
fn a_next_link_back_to_the_first_page_ends_the_walk() {
    let site = Site::start(&["--books", "30", "--per-page", "10", "--next-loop"]);
    let (out, books, _) = scrape(&site, &[]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(books.len(), 30);
    let looped = common::named(&log, "next_link_looped_back");
    assert_eq!(looped.len(), 1, "{log}");
    assert!(
        looped[0]["link"].is_string() && looped[0]["page"].is_string(),
        "{log}"
    );
    assert_eq!(site.stats().hits("/catalogue/page-1.html"), 1);
}

#[test]
fn a_book_listed_twice_is_kept_once_with_a_warning_naming_both_urls() {
    let site = Site::start(&["--books", "40", "--per-page", "10", "--duplicate-listing"]);
    let (out, books, _) = scrape(&site, &[]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    let got = book_upcs(&books);
    assert_eq!(got, truth(40, 10), "each UPC once, in listing order");
    let twice = common::named(&log, "listed_twice");
    assert!(!twice.is_empty(), "{log}");
    for e in &twice {
        let (first, dropped) = (e["first"].as_str().unwrap(), e["dropped"].as_str().unwrap());
        // The site lists the same product twice: both places are named (here the same URL).
        assert!(
            first.ends_with("index.html") && dropped.ends_with("index.html"),
            "{e}"
        );
        assert!(e["key"].as_str().is_some_and(|k| !k.is_empty()), "{e}");
    }
}

#[test]
fn a_page_trickled_a_byte_a_second_is_cut_off_by_the_request_deadline() {
    let site = Site::start(&[
        "--books",
        "20",
        "--per-page",
        "10",
        "--trickle",
        "/catalogue/page-2.html",
        "--trickle-interval",
        "1s",
    ]);
    let (out, _, elapsed) = scrape(&site, &["--timeout", "2s"]);
    let log = stderr(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("page-2.html"), "{log}");
    // 4 attempts of at most 2 s each, plus backoff: bounded, not a page's length in seconds.
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

#[test]
fn a_429_with_retry_after_is_waited_out_and_nothing_is_lost() {
    let site = Site::start(&[
        "--books",
        "10",
        "--per-page",
        "10",
        "--throttle-every",
        "4",
        "--retry-after",
        "2",
    ]);
    let (out, books, elapsed) = scrape(&site, &["--concurrency", "1"]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(book_upcs(&books), truth(10, 10));
    let throttled = site.stats().throttled();
    assert!(throttled >= 2, "{throttled}");
    // One request at a time: each 429 costs the 2 s the server asked for, not a 0.2 s backoff.
    assert!(
        elapsed >= Duration::from_secs(2 * throttled),
        "{throttled} throttles in {elapsed:?}"
    );
}

#[test]
fn a_listing_page_without_products_fails_the_scrape_naming_it() {
    let site = Site::start(&["--books", "30", "--per-page", "10", "--no-products-on", "2"]);
    let (out, books, _) = scrape(&site, &[]);
    let log = stderr(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("page-2.html") && log.contains("lists no books"),
        "{log}"
    );
    assert!(books.is_empty());
}

#[test]
fn html_that_is_not_a_catalogue_or_not_utf8_is_a_clear_error_never_a_panic() {
    let dir = scratch("junk");
    std::fs::create_dir_all(dir.join("catalogue")).unwrap();
    std::fs::write(
        dir.join("catalogue/page-1.html"),
        b"\xff\xfe<html><body><p>\x80\x81 <b>unclosed",
    )
    .unwrap();
    let site = Site::start(&["--root", dir.to_str().unwrap()]);
    let (out, _, _) = scrape(&site, &[]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("page-1.html") && log.contains("lists no books"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn a_scrape_that_shrinks_past_max_shrink_is_refused_and_the_last_good_catalogue_streamed() {
    let moto = common::Moto::start();
    moto.create_stream("shrink", 1).await;
    let port = common::free_port().to_string();
    let full = Site::start(&["--port", &port, "--books", "30", "--per-page", "10"]);
    let dir = scratch("shrink");
    let section = "[stream]\ninterval = \"50ms\"\nmax_records = 5\n";
    let config = write_config(&dir, &full.url, &moto.endpoint, "shrink", section);
    let child = spawn_daemon_with(
        &config,
        None,
        None,
        &[
            ("BOOKSTREAM__SITE__REFRESH", "1s"),
            ("BOOKSTREAM__SCHEDULE__CRON", "* * * * * *"),
        ],
    );
    wait_for_records(&moto, "shrink", 5, Duration::from_secs(20)).await;
    drop(full);
    let _broken = Site::start(&[
        "--port",
        &port,
        "--books",
        "30",
        "--per-page",
        "10",
        "--drop-books",
        "10",
    ]);
    let now = moto.read_back("shrink").await.len();
    wait_for_records(&moto, "shrink", now + 40, Duration::from_secs(60)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    assert!(
        common::named(&log, "catalogue_refused")
            .iter()
            .any(|e| e["kind"] == "shrunk"
                && e["stale"] == true
                && e["error"].as_str().unwrap().contains("found 10 books")),
        "{log}"
    );
    // The walk went on over all 30 books of the last good catalogue.
    assert_eq!(check_walk(&upcs(&moto, "shrink").await, &truth(30, 10)), 0);
}

#[tokio::test]
async fn sigterm_during_the_first_scrape_ends_the_daemon_within_2_s() {
    let rig = Rig::new(
        "term",
        &["--books", "200", "--per-page", "10", "--delay", "300ms"],
        FAST,
    )
    .await;
    let notify = Notify::bind(&rig.dir);
    let child = spawn_daemon(&rig.config, Some(&notify.path), None);
    notify.expect("READY=1", Duration::from_secs(20));
    // The first tick comes within 2 s; the scrape (20 pages at 300 ms, serially) takes longer.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let asked = Instant::now();
    signal(&child, "TERM");
    let (status, log) = finish(child);
    let took = asked.elapsed();
    assert!(status.success(), "{log}");
    assert!(
        took < Duration::from_secs(2),
        "stopped {took:?} after SIGTERM\n{log}"
    );
    assert!(
        rig.upcs().await.is_empty(),
        "nothing was sent: the scrape never finished"
    );
}

#[test]
fn sigint_during_a_scrape_ends_it_within_2_s() {
    let site = Site::start(&["--books", "200", "--per-page", "10", "--delay", "300ms"]);
    let child = bookstream()
        .args(["scrape", "--max-requests-per-sec", "1000"])
        .args(["--site", &site.url, "--concurrency", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let asked = Instant::now();
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
}

#[test]
fn a_page_that_lost_its_next_link_ends_the_walk_as_incomplete_by_its_pager() {
    let site = Site::start(&["--books", "50", "--per-page", "10", "--no-next-on", "3"]);
    let (out, books, _) = scrape(&site, &[]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(books.len(), 30, "pages 1 to 3: {log}");
    assert_eq!(site.stats().hits("/catalogue/page-4.html"), 0);
    let warned = common::named(&log, "listing_walk_incomplete");
    assert_eq!(warned.len(), 1, "{log}");
    let message = warned[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("page-3.html") && message.contains("\"Page 3 of 5\""),
        "{message}"
    );
    // The faithful site: a complete walk, no warning.
    let whole = Site::start(&["--books", "50", "--per-page", "10"]);
    let (out, books, _) = scrape(&whole, &[]);
    let log = stderr(&out);
    assert_eq!(books.len(), 50, "{log}");
    assert!(
        common::named(&log, "listing_walk_incomplete").is_empty(),
        "{log}"
    );
}
