//! Never cry wolf: the change feed against moto and the project's test site when the site
//! fails part of a walk (a listing page answering 503, a captcha instead of a page) and when a
//! book really goes: `removed` only after `[site] removed_after` (2) complete walks in a row
//! have not listed it, or at once when its product page answers 410.

mod common;

use std::path::Path;
use std::time::Duration;

use bookstream_testsite::{RunningSite, Site as Generated};
use common::rig::*;
use common::{Moto, scratch, signal};

const CHANGES: &str = "[stream]\ninterval = \"50ms\"\nmax_records = 5\nmode = \"changes\"\ninitial_snapshot = false\n";

fn live_site(args: &[&str]) -> RunningSite {
    let argv = std::iter::once("bookstream-testsite").chain(args.iter().copied());
    <bookstream_testsite::SiteArgs as clap::Parser>::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("bad test-site arguments {args:?}: {e}"))
        .start()
        .unwrap_or_else(|e| panic!("cannot start the test site {args:?}: {e}"))
}

/// A changes-mode daemon that refreshes every second, with `extra` settings.
fn spawn_changes_with(config: &Path, extra: &[(&str, &str)]) -> std::process::Child {
    let mut env = vec![
        ("BOOKSTREAM__SITE__REFRESH", "1s"),
        ("BOOKSTREAM__SCHEDULE__CRON", "* * * * * *"),
        ("BOOKSTREAM__SITE__ATTEMPTS", "2"),
    ];
    env.extend_from_slice(extra);
    spawn_daemon_with(config, None, None, &env)
}

fn spawn_changes(config: &Path) -> std::process::Child {
    spawn_changes_with(config, &[])
}

/// Until listing page 1 has been asked for `n` more times (a walk starts there).
async fn walks_started(site: &RunningSite, n: u64) {
    let page1 = "/catalogue/page-1.html";
    let from = site.stats().hits(page1);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while site.stats().hits(page1) < from + n {
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {n} walks started within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Just after a walk started and (the site answering at once) finished, well before the next
/// one, which starts a second after it.
async fn between_walks(site: &RunningSite) {
    walks_started(site, 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
}

fn wait_for_feed(dir: &Path) {
    let path = dir.join("state").join("feed.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "no feed.json");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (event, upc) of every record in the stream.
async fn said(moto: &Moto, stream: &str) -> Vec<(String, String)> {
    moto.read_back(stream)
        .await
        .iter()
        .map(|d| {
            let e: serde_json::Value = serde_json::from_slice(d).expect("one JSON object");
            let key = e["upc"].as_str().or(e["url"].as_str()).unwrap_or_default();
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                key.to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_failing_listing_page_or_a_captcha_removes_and_changes_nothing() {
    let moto = Moto::start();
    moto.create_stream("wolf", 1).await;
    let base = ["--books", "30", "--per-page", "10"];
    let site = live_site(&base);
    let dir = scratch("wolf");
    let config = write_config(&dir, &site.url(), &moto.endpoint, "wolf", CHANGES);
    let child = spawn_changes(&config);
    wait_for_feed(&dir);
    walks_started(&site, 2).await;
    // Listing page 2 answers 503 on every attempt; then a captcha instead of listing page 3,
    // then instead of a product page; each for three walks. Version 1 meanwhile changes
    // books on every page, so a walk that used what it could read would report them.
    let v1 = ["--version", "1"];
    for fault in [
        ["--fail-always", "/catalogue/page-2.html"],
        ["--captcha", "/catalogue/page-3.html"],
    ] {
        between_walks(&site).await;
        site.switch(&[&base[..], &v1, &fault].concat()).unwrap();
        walks_started(&site, 3).await;
    }
    let product = Generated::generate_version(30, 10, 0).books()[5]
        .slug
        .clone();
    between_walks(&site).await;
    site.switch(&[&base[..], &["--captcha", &product]].concat())
        .unwrap();
    walks_started(&site, 3).await;
    assert!(site.stats().hits("/catalogue/page-2.html") >= 6);
    between_walks(&site).await;
    site.switch(&base).unwrap();
    walks_started(&site, 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let got = said(&moto, "wolf").await;
    assert!(
        got.is_empty(),
        "walks that could not read a page said {got:?}"
    );
}

#[tokio::test]
async fn a_real_removal_is_one_removed_after_the_second_complete_walk() {
    let moto = Moto::start();
    moto.create_stream("gone2", 1).await;
    let base = ["--books", "20", "--per-page", "10"];
    let site = live_site(&base);
    let dir = scratch("gone2");
    let config = write_config(&dir, &site.url(), &moto.endpoint, "gone2", CHANGES);
    let child = spawn_changes(&config);
    wait_for_feed(&dir);
    walks_started(&site, 2).await;
    // The last book leaves the listing. Answers take 300 ms, so the next walk is still
    // waiting for its page 1 when the test sees it start and breaks its page 2.
    let dropped = ["--drop-books", "19", "--delay", "300ms"];
    between_walks(&site).await;
    site.switch(&[&base[..], &dropped].concat()).unwrap();
    walks_started(&site, 1).await; // the first walk of the smaller site
    walks_started(&site, 1).await; // it was complete and judged; the next one starts
    site.switch(
        &[
            &base[..],
            &dropped,
            &["--fail-always", "/catalogue/page-2.html"],
        ]
        .concat(),
    )
    .unwrap();
    walks_started(&site, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_one = said(&moto, "gone2").await;
    assert!(
        after_one.is_empty(),
        "removed after one complete walk (and a failed one): {after_one:?}"
    );
    site.switch(&[&base[..], &dropped].concat()).unwrap();
    walks_started(&site, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let last = Generated::generate_version(20, 10, 0).books()[19]
        .upc
        .clone();
    assert_eq!(
        said(&moto, "gone2").await,
        [("removed".to_owned(), last)],
        "exactly one removed, after the second complete walk"
    );
}

#[tokio::test]
async fn a_product_page_answering_410_is_removed_at_the_next_walk() {
    let moto = Moto::start();
    moto.create_stream("gone410", 1).await;
    let base = ["--books", "20", "--per-page", "10"];
    let site = live_site(&base);
    let dir = scratch("gone410");
    let config = write_config(&dir, &site.url(), &moto.endpoint, "gone410", CHANGES);
    // Every product page read at every walk: a 410 is seen when the page is read.
    let child = spawn_changes_with(&config, &[("BOOKSTREAM__SITE__VERIFY_EVERY", "1s")]);
    wait_for_feed(&dir);
    walks_started(&site, 2).await;
    let book = Generated::generate_version(20, 10, 0).books()[7].clone();
    between_walks(&site).await;
    site.switch(&[&base[..], &["--gone", &book.slug]].concat())
        .unwrap();
    walks_started(&site, 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    assert_eq!(
        said(&moto, "gone410").await,
        [("removed".to_owned(), book.upc)],
        "the listing still shows it, its page says it is gone"
    );
}

#[tokio::test]
async fn an_unchanged_site_costs_its_listing_pages_and_a_repriced_book_is_in_the_stream_within_a_cycle()
 {
    let moto = Moto::start();
    moto.create_stream("fresh", 1).await;
    let base = ["--books", "30", "--per-page", "10"];
    let site = live_site(&base);
    let dir = scratch("fresh");
    let config = write_config(&dir, &site.url(), &moto.endpoint, "fresh", CHANGES);
    // A walk every second; every product page read at least once an hour (the default).
    let child = spawn_changes(&config);
    wait_for_feed(&dir);
    between_walks(&site).await;
    let before = site.stats().requests();
    let listing_before = site.stats().hits("/catalogue/page-1.html");
    for _ in 0..4 {
        between_walks(&site).await;
    }
    let walks = site.stats().hits("/catalogue/page-1.html") - listing_before;
    let spent = site.stats().requests() - before;
    // 3 listing pages a walk, and the rotation's share: 30 books x 1 s / 1 h, one a walk.
    assert!(walks >= 4, "{walks} walks");
    assert!(
        spent <= walks * (3 + 1),
        "{spent} requests in {walks} walks of an unchanged site of 3 listing pages and 30 books"
    );
    // Version 1 reprices, retitles, adds and removes books: those the listing shows are
    // read at once and in the stream within the next walk plus its send.
    let v0 = Generated::generate_version(30, 10, 0);
    let v1 = Generated::generate_version(30, 10, 1);
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
    assert!(
        !repriced.is_empty(),
        "version 1 reprices or retitles a book"
    );
    site.switch(&[&base[..], &["--version", "1"]].concat())
        .unwrap();
    let switched = std::time::Instant::now();
    let deadline = switched + Duration::from_secs(20);
    let arrived = loop {
        let got = said(&moto, "fresh").await;
        if repriced
            .iter()
            .all(|u| got.iter().any(|(e, k)| e == "changed" && k == u))
        {
            break switched.elapsed();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "repriced {repriced:?} not in the stream within 20 s: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    assert!(
        arrived <= Duration::from_secs(5),
        "a walk every second, and the change took {arrived:?} to reach the stream"
    );
}

#[tokio::test]
async fn a_token_that_changes_on_every_fetch_is_never_a_change() {
    // Every page carries a CSRF token and a timestamp new on each request (inside each
    // product pod and next to the product's title): no answer is ever a 304 and no two
    // bodies match, yet nothing a book is made of changes.
    let moto = Moto::start();
    moto.create_stream("volatile", 1).await;
    let base = ["--books", "20", "--per-page", "10", "--volatile"];
    let site = live_site(&base);
    let dir = scratch("volatile");
    let config = write_config(&dir, &site.url(), &moto.endpoint, "volatile", CHANGES);
    // Every product page read again at every walk, so the token is read there too.
    let child = spawn_changes_with(&config, &[("BOOKSTREAM__SITE__VERIFY_EVERY", "1s")]);
    wait_for_feed(&dir);
    let product = Generated::generate_version(20, 10, 0).books()[4].clone();
    let product_path = format!("/catalogue/{}_{}/index.html", product.slug, product.id);
    let read_before = site.stats().hits(&product_path);
    walks_started(&site, 5).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    assert!(
        site.stats().hits(&product_path) >= read_before + 4,
        "product pages were not read again: {log}"
    );
    assert_eq!(site.stats().not_modified(), 0, "every answer differs");
    let got = said(&moto, "volatile").await;
    assert!(
        got.is_empty(),
        "an unchanged catalogue whose pages carry a per-request token said {got:?}"
    );
}
