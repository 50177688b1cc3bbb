//! The change feed (`[stream] mode = "changes"`) against moto and the project's test site
//! moving between catalogue versions: the stream holds exactly the expected events (read back
//! at TRIM_HORIZON), survives kill -9 at any point, and a broken site produces none.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use bookstream_testsite::{Site as Generated, SiteBook};
use common::rig::*;
use common::{Moto, Site, bookstream, free_port, scratch, signal};

const CHANGES: &str = "[stream]\ninterval = \"50ms\"\nmax_records = 5\nmode = \"changes\"\n";
const CHANGES_NO_SNAPSHOT: &str = "[stream]\ninterval = \"50ms\"\nmax_records = 5\nmode = \"changes\"\ninitial_snapshot = false\n";

/// Every record read back, parsed.
async fn events(moto: &Moto, stream: &str) -> Vec<serde_json::Value> {
    let records = moto.read_back(stream).await;
    common::assert_valid_records(&records);
    records
        .iter()
        .map(|d| serde_json::from_slice(d).expect("a record is one JSON object"))
        .collect()
}

/// What an event says, for comparing multisets: (upc, event, changed fields).
type Said = (String, String, BTreeSet<String>);

fn said(e: &serde_json::Value) -> Said {
    (
        e["upc"].as_str().unwrap().to_owned(),
        e["event"].as_str().unwrap().to_owned(),
        e["changed_fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect(),
    )
}

/// The events between two versions of the generated catalogue, from the generator's own
/// ground truth (not from the code under test).
fn expected(old: &[SiteBook], new: &[SiteBook]) -> BTreeSet<Said> {
    let before: HashMap<&str, &SiteBook> = old.iter().map(|b| (b.upc.as_str(), b)).collect();
    let after: HashMap<&str, &SiteBook> = new.iter().map(|b| (b.upc.as_str(), b)).collect();
    let mut out = BTreeSet::new();
    for b in new {
        match before.get(b.upc.as_str()) {
            None => {
                out.insert((b.upc.clone(), "added".into(), BTreeSet::new()));
            }
            Some(was) => {
                let mut fields = BTreeSet::new();
                if was.title != b.title {
                    fields.insert("title".to_owned());
                }
                if was.price != b.price {
                    for f in [
                        "price",
                        "price_gbp",
                        "price_excl_tax_gbp",
                        "price_incl_tax_gbp",
                    ] {
                        fields.insert(f.to_owned());
                    }
                }
                if was.stock != b.stock {
                    fields.insert("stock".to_owned());
                }
                if (was.stock > 0) != (b.stock > 0) {
                    fields.insert("availability".to_owned());
                }
                if !fields.is_empty() {
                    out.insert((b.upc.clone(), "changed".into(), fields));
                }
            }
        }
    }
    for b in old.iter().filter(|b| !after.contains_key(b.upc.as_str())) {
        out.insert((b.upc.clone(), "removed".into(), BTreeSet::new()));
    }
    out
}

fn version(books: usize, v: u32) -> Vec<SiteBook> {
    Generated::generate_version(books, 10, v).books().to_vec()
}

fn site_args(port: &str, books: &str, v: &str) -> Vec<String> {
    [
        "--port",
        port,
        "--books",
        books,
        "--per-page",
        "10",
        "--version",
        v,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn start_site(args: &[String]) -> Site {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Site::start(&refs)
}

/// A daemon in changes mode that refreshes every second.
fn spawn_changes(config: &Path) -> std::process::Child {
    spawn_daemon_with(
        config,
        None,
        None,
        &[
            ("BOOKSTREAM__SITE__REFRESH", "1s"),
            ("BOOKSTREAM__SCHEDULE__CRON", "* * * * * *"),
            // Every product page read at every walk: these tests are about the diff, and
            // their versions change stock counts, which only product pages show.
            ("BOOKSTREAM__SITE__VERIFY_EVERY", "1s"),
        ],
    )
}

/// The ages, in seconds, a STATUS line gives for the listings and the product pages
/// ("..., listings 3s old, products 3s old"); panics when it gives none.
fn freshness(status: &str) -> (u64, u64) {
    let age = |what: &str| -> u64 {
        let after = status
            .split(&format!(", {what} "))
            .nth(1)
            .unwrap_or_else(|| panic!("no {what} age in {status:?}"));
        let age = after.split(' ').next().unwrap_or_default();
        let secs = age
            .strip_suffix('s')
            .unwrap_or_else(|| panic!("{what} age not in seconds: {status:?}"));
        secs.parse()
            .unwrap_or_else(|_| panic!("{what} age {age:?} in {status:?}"))
    };
    (age("listings"), age("products"))
}

#[tokio::test]
async fn first_start_sends_exactly_one_snapshot_record_per_book() {
    let rig = Rig::new("snap", &["--books", "20", "--per-page", "10"], CHANGES).await;
    let notify = Notify::bind(&rig.dir);
    let child = spawn_daemon(&rig.config, Some(&notify.path), None);
    wait_for_records(&rig.moto, "snap", 20, Duration::from_secs(60)).await;
    let status = notify.expect("no changes since", Duration::from_secs(10));
    // STATUS says how fresh the feed is: the walk and every product page read just now.
    let (listings, products) = freshness(&status);
    assert!(listings <= 30 && products <= 30, "{status}");
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let got = events(&rig.moto, "snap").await;
    assert_eq!(got.len(), 20, "nothing but the snapshot: {got:?}");
    assert!(got.iter().all(|e| e["event"] == "snapshot"));
    let upcs: Vec<String> = got
        .iter()
        .map(|e| e["upc"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(upcs, truth(20, 10), "each book once, in listing order");
    // The book's fields as in catalogue mode, the old five keys first, then the event's.
    let keys: Vec<&str> = got[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys[..5],
        ["title", "price", "num_reviews", "upc", "availability"]
    );
    assert_eq!(
        keys[keys.len() - 5..],
        [
            "event",
            "changed_fields",
            "previous",
            "detected_at",
            "event_id"
        ]
    );
}

#[tokio::test]
async fn a_new_site_version_yields_exactly_the_expected_events_and_nothing_else() {
    let moto = Moto::start();
    moto.create_stream("feed", 1).await;
    let port = free_port().to_string();
    let v0 = start_site(&site_args(&port, "60", "0"));
    let dir = scratch("feed");
    let config = write_config(&dir, &v0.url, &moto.endpoint, "feed", CHANGES_NO_SNAPSHOT);
    let child = spawn_changes(&config);
    // The first refresh only sets the baseline (initial_snapshot = false): no records.
    wait_for_log_file(&dir, "feed.json", Duration::from_secs(30));
    drop(v0);
    let _v3 = start_site(&site_args(&port, "60", "3"));
    let want = expected(&version(60, 0), &version(60, 3));
    wait_for_records(&moto, "feed", want.len(), Duration::from_secs(60)).await;
    // A few more refreshes of the same version: nothing more.
    tokio::time::sleep(Duration::from_secs(4)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let got = events(&moto, "feed").await;
    let got_set: BTreeSet<Said> = got.iter().map(said).collect();
    assert_eq!(got.len(), got_set.len(), "no event twice: {got:?}");
    assert_eq!(got_set, want);
    for kind in ["added", "changed", "removed"] {
        assert!(
            want.iter().any(|w| w.1 == kind),
            "version 3 has a {kind} book"
        );
    }
    // `previous` holds the old values of exactly the changed fields.
    let old: HashMap<String, SiteBook> = version(60, 0)
        .into_iter()
        .map(|b| (b.upc.clone(), b))
        .collect();
    for e in got.iter().filter(|e| e["event"] == "changed") {
        let previous = e["previous"].as_object().unwrap();
        let fields: BTreeSet<&str> = previous.keys().map(String::as_str).collect();
        let changed: BTreeSet<&str> = e["changed_fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(fields, changed);
        let was = &old[e["upc"].as_str().unwrap()];
        if let Some(p) = previous.get("price") {
            assert_eq!(p, was.price.as_str());
        }
        if let Some(s) = previous.get("stock") {
            assert_eq!(s, was.stock);
        }
    }
    for e in got.iter().filter(|e| e["event"] == "removed") {
        let was = &old[e["upc"].as_str().unwrap()];
        assert_eq!(e["price"], was.price.as_str(), "removed: last known values");
    }
}

/// Until `site` has had no request for 300 ms: the walk under way has finished (a walk of the
/// local site takes some 50 ms; with `refresh = 1s` the next starts a second after it).
fn between_walks(site: &Site) {
    let mut last = (site.stats().requests(), std::time::Instant::now());
    let deadline = last.1 + Duration::from_secs(30);
    while last.1.elapsed() < Duration::from_millis(300) {
        assert!(
            std::time::Instant::now() < deadline,
            "the site never went quiet"
        );
        std::thread::sleep(Duration::from_millis(20));
        let now = site.stats().requests();
        if now != last.0 {
            last = (now, std::time::Instant::now());
        }
    }
}

/// Waits until `dir/state/NAME` exists.
fn wait_for_log_file(dir: &Path, name: &str, within: Duration) {
    let path = dir.join("state").join(name);
    let deadline = std::time::Instant::now() + within;
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} not written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn kill_9_at_random_points_loses_no_event_and_duplicates_at_most_one_per_kill() {
    let moto = Moto::start();
    moto.create_stream("crash", 1).await;
    let port = free_port().to_string();
    let dir = scratch("crash");
    let mut site = Some(start_site(&site_args(&port, "40", "0")));
    let config = write_config(
        &dir,
        &site.as_ref().unwrap().url,
        &moto.endpoint,
        "crash",
        CHANGES,
    );
    let kills = 16;
    for k in 0..kills {
        if k == kills / 2 {
            // Mid-run the site moves on: detection happens between kills too.
            drop(site.take());
            site = Some(start_site(&site_args(&port, "40", "3")));
        }
        let child = spawn_changes(&config);
        let ms = 700 + fastrand::u64(..2300);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        signal(&child, "KILL");
        finish(child);
    }
    assert!(site.is_some());
    let mut want: BTreeMap<Said, usize> = BTreeMap::new();
    let v0 = version(40, 0);
    for b in &v0 {
        *want
            .entry((b.upc.clone(), "snapshot".into(), BTreeSet::new()))
            .or_default() += 1;
    }
    for w in expected(&v0, &version(40, 3)) {
        *want.entry(w).or_default() += 1;
    }
    let total: usize = want.values().sum();
    // A last, undisturbed run drains the backlog.
    let child = spawn_changes(&config);
    wait_for_records(&moto, "crash", total, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");

    let got = events(&moto, "crash").await;
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut distinct: BTreeMap<Said, usize> = BTreeMap::new();
    for e in &got {
        let n = ids
            .entry(e["event_id"].as_str().unwrap().to_owned())
            .or_default();
        *n += 1;
        if *n == 1 {
            *distinct.entry(said(e)).or_default() += 1;
        }
    }
    let duplicates = got.len() - ids.len();
    assert_eq!(
        distinct, want,
        "after dropping repeated event_ids, exactly the expected events"
    );
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates after {kills} kills"
    );
    eprintln!(
        "change feed, kill -9 x{kills}: {total} events expected, {} delivered, 0 lost, {duplicates} duplicated",
        got.len()
    );
}

#[tokio::test]
async fn a_broken_site_version_produces_zero_events() {
    let moto = Moto::start();
    moto.create_stream("broken", 1).await;
    let port = free_port().to_string();
    let v0 = start_site(&site_args(&port, "30", "0"));
    let dir = scratch("broken");
    let config = write_config(&dir, &v0.url, &moto.endpoint, "broken", CHANGES_NO_SNAPSHOT);
    let child = spawn_changes(&config);
    wait_for_log_file(&dir, "feed.json", Duration::from_secs(30));
    // The next walk starts as the first is taken; shrink the site between walks, not in the
    // middle of one (product pages answering 404 half-way would remove their books at once).
    between_walks(&v0);
    drop(v0);
    let mut args = site_args(&port, "30", "0");
    args.extend(["--drop-books".to_owned(), "10".to_owned()]);
    let _shrunk = start_site(&args);
    // The first complete walk of the shrunken site keeps the missing books for a second
    // (`[site] removed_after = 2`); the second is refused by the shrink guard.
    tokio::time::sleep(Duration::from_secs(10)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let refused = common::named(&log, "catalogue_refused");
    assert!(
        refused
            .iter()
            .any(|e| e["kind"] == "shrunk" && e["stale"] == true),
        "refused by the shrink guard, the last good catalogue streamed: {log}"
    );
    assert!(
        events(&moto, "broken").await.is_empty(),
        "a shrunken site looks like no change"
    );
}

#[test]
fn diff_prints_the_events_between_two_saved_catalogues() {
    let dir = scratch("diff");
    let mut files = Vec::new();
    // Both versions from the same address, as the site's URLs (a field) stay the same.
    let port = free_port().to_string();
    for v in ["0", "3"] {
        let site = start_site(&site_args(&port, "60", v));
        let file = dir.join(format!("v{v}.json"));
        let out = bookstream()
            .args(["scrape", "--max-requests-per-sec", "1000"])
            .args(["--site", &site.url, "--output"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        files.push(file);
    }
    let out = bookstream().arg("diff").args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: BTreeSet<Said> = lines.iter().map(said).collect();
    assert_eq!(got.len(), lines.len());
    assert_eq!(got, expected(&version(60, 0), &version(60, 3)));

    let bad = bookstream()
        .args(["diff", "/nonexistent.json"])
        .arg(&files[0])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent.json"));
}

/// The test site on `port`, switchable while it runs (`RunningSite::switch`).
fn live_site(args: &[&str]) -> bookstream_testsite::RunningSite {
    let argv = std::iter::once("bookstream-testsite").chain(args.iter().copied());
    <bookstream_testsite::SiteArgs as clap::Parser>::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("bad test-site arguments {args:?}: {e}"))
        .start()
        .unwrap_or_else(|e| panic!("cannot start the test site {args:?}: {e}"))
}

/// Waits until the daemon has taken at least `n` refreshes that started from now on: a
/// refresh starts (with listing page 1) only once the one before it was taken, so page 1
/// asked for `n + 1` more times means `n` whole refreshes in between were judged.
async fn refreshes(site: &bookstream_testsite::RunningSite, n: u64) {
    let page1 = "/catalogue/page-1.html";
    let from = site.stats().hits(page1);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while site.stats().hits(page1) < from + n + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon took fewer than {n} refreshes within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Returns just after a refresh has walked the site, well before the next one starts: the
/// next starts a second after this one is taken, and a walk of the small test sites here
/// takes a few tens of milliseconds.
async fn between_refreshes(site: &bookstream_testsite::RunningSite) {
    refreshes(site, 0).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
}

/// A changes-mode daemon refreshing every second, with `env` added.
fn spawn_changes_with(config: &Path, env: &[(&str, &str)]) -> std::process::Child {
    let mut all = vec![
        ("BOOKSTREAM__SITE__REFRESH", "1s"),
        ("BOOKSTREAM__SCHEDULE__CRON", "* * * * * *"),
        ("BOOKSTREAM__SITE__VERIFY_EVERY", "1s"),
    ];
    all.extend_from_slice(env);
    spawn_daemon_with(config, None, None, &all)
}

fn product_path(book: &SiteBook) -> String {
    format!("/catalogue/{}_{}/index.html", book.slug, book.id)
}

#[tokio::test]
async fn a_product_page_that_always_fails_makes_no_event_before_during_or_after() {
    let moto = Moto::start();
    moto.create_stream("product500", 1).await;
    let base = ["--books", "30", "--per-page", "10"];
    let site = live_site(&base);
    let dir = scratch("product500");
    let config = write_config(
        &dir,
        &site.url(),
        &moto.endpoint,
        "product500",
        CHANGES_NO_SNAPSHOT,
    );
    let child = spawn_changes_with(&config, &[("BOOKSTREAM__SITE__ATTEMPTS", "2")]);
    wait_for_log_file(&dir, "feed.json", Duration::from_secs(30));
    refreshes(&site, 2).await;
    // One product page answers 500 on every attempt, for two refreshes and more.
    let broken = product_path(&version(30, 0)[15]);
    site.switch(&[&base[..], &["--fail-always", &broken]].concat())
        .unwrap();
    refreshes(&site, 2).await;
    assert!(
        site.stats().hits(&broken) >= 4,
        "the fault was met: {} requests for {broken}",
        site.stats().hits(&broken)
    );
    site.switch(&base).unwrap();
    refreshes(&site, 2).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let got: Vec<(String, String)> = events(&moto, "product500")
        .await
        .iter()
        .map(|e| {
            let key = e["upc"].as_str().or(e["url"].as_str()).unwrap_or_default();
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                key.to_owned(),
            )
        })
        .collect();
    assert!(
        got.is_empty(),
        "a product page that failed is no change: {got:?}"
    );
}

#[tokio::test]
async fn a_walk_that_ends_before_the_pagers_last_page_removes_nothing() {
    let moto = Moto::start();
    moto.create_stream("shortwalk", 1).await;
    // 50 listing pages of 2 books.
    let base = ["--books", "100", "--per-page", "2"];
    let site = live_site(&base);
    let dir = scratch("shortwalk");
    let config = write_config(
        &dir,
        &site.url(),
        &moto.endpoint,
        "shortwalk",
        CHANGES_NO_SNAPSHOT,
    );
    let child = spawn_changes(&config);
    wait_for_log_file(&dir, "feed.json", Duration::from_secs(30));
    // Page 45 of 50 loses its "next" link: the walk ends there, 10 books (10%, within
    // max_shrink) short.
    site.switch(&[&base[..], &["--no-next-on", "45"]].concat())
        .unwrap();
    refreshes(&site, 2).await;
    assert!(site.stats().hits("/catalogue/page-46.html") <= 1);
    site.switch(&base).unwrap();
    refreshes(&site, 2).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let said: Vec<Said> = events(&moto, "shortwalk").await.iter().map(said).collect();
    let removed: Vec<&Said> = said.iter().filter(|s| s.1 == "removed").collect();
    assert!(removed.is_empty(), "an incomplete walk removed {removed:?}");
    assert!(said.is_empty(), "and nothing else changed: {said:?}");
}

#[tokio::test]
async fn a_change_that_happens_again_gets_a_new_event_id() {
    let moto = Moto::start();
    moto.create_stream("recur", 1).await;
    let at = |v: &'static str| ["--books", "40", "--per-page", "10", "--version", v];
    let site = live_site(&at("0"));
    let dir = scratch("recur");
    let config = write_config(
        &dir,
        &site.url(),
        &moto.endpoint,
        "recur",
        CHANGES_NO_SNAPSHOT,
    );
    let child = spawn_changes(&config);
    wait_for_log_file(&dir, "feed.json", Duration::from_secs(30));
    let (v0, v1) = (version(40, 0), version(40, 1));
    let forth = expected(&v0, &v1).len();
    let back = expected(&v1, &v0).len();
    assert!(forth > 0 && back > 0, "version 1 changes something");
    // v0 -> v1 -> v0 -> v1: the third step's changes are the first step's again.
    let mut want = 0;
    for (v, n) in [("1", forth), ("0", back), ("1", forth)] {
        // Between two walks, so that none sees half of one version and half of the other.
        between_refreshes(&site).await;
        site.switch(&at(v)).unwrap();
        want += n;
        wait_for_records(&moto, "recur", want, Duration::from_secs(90)).await;
    }
    refreshes(&site, 2).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let got = events(&moto, "recur").await;
    assert_eq!(
        got.len(),
        want,
        "each step's events once: {:?}",
        got.iter().map(said).collect::<Vec<_>>()
    );
    let ids: BTreeSet<&str> = got
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        got.len(),
        "a change that recurs is another change, with another event_id"
    );
    // The same book's same change, the first and the third time: two ids.
    let first = said(&got[0]);
    let same: Vec<&str> = got
        .iter()
        .filter(|e| said(e) == first)
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(same.len(), 2, "{first:?} happened twice");
    assert_ne!(same[0], same[1]);
}

#[tokio::test]
async fn a_corrupt_feed_json_is_kept_and_changes_mode_refuses_to_start_until_the_operator_chooses()
{
    let rig = Rig::new(
        "corruptfeed",
        &["--books", "20", "--per-page", "10"],
        CHANGES,
    )
    .await;
    let state = rig.dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let feed = state.join("feed.json");
    let garbage = b"{\"baseline\":null,\"pending\":[{\"seq\":1,\"ev".to_vec();
    std::fs::write(&feed, &garbage).unwrap();
    for command in ["once", "run"] {
        let out = bookstream()
            .args([command, "--config", rig.config.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(65), "{command}: {stderr}");
        assert!(
            stderr.contains(&feed.display().to_string())
                && stderr.contains("not valid JSON")
                && stderr.contains("restore")
                && stderr.contains("move it aside"),
            "{command}: {stderr}"
        );
        assert_eq!(std::fs::read(&feed).unwrap(), garbage, "kept as it was");
    }
    let names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("corrupt")), "{names:?}");
    assert!(rig.upcs().await.is_empty(), "nothing was sent");

    // Catalogue mode does not need the feed: it streams, and leaves the file alone.
    let out = bookstream()
        .args(["once", "--config", rig.config.to_str().unwrap()])
        .env("BOOKSTREAM__STREAM__MODE", "catalogue")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&feed).unwrap(), garbage, "still kept");
    assert_eq!(rig.upcs().await.len(), 5, "one cycle of catalogue mode");

    // The operator's choice: moved aside, changes mode starts a fresh feed (from a refresh:
    // the catalogue is over a second old).
    std::fs::rename(&feed, state.join("feed.json.bad")).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let out = bookstream()
        .args(["once", "--config", rig.config.to_str().unwrap()])
        .env("BOOKSTREAM__SITE__REFRESH", "1s")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(feed.exists(), "a fresh feed");
}

#[tokio::test]
async fn a_corrupt_feed_json_is_never_overwritten_after_a_reload_into_changes_mode() {
    let catalogue = "[stream]\ninterval = \"50ms\"\nmax_records = 5\n";
    let rig = Rig::new(
        "heldfeed",
        &["--books", "20", "--per-page", "10"],
        catalogue,
    )
    .await;
    let state = rig.dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let feed = state.join("feed.json");
    let garbage = b"{\"pending\":[{\"seq\":1,".to_vec();
    std::fs::write(&feed, &garbage).unwrap();
    let child = spawn_changes(&rig.config);
    wait_for_records(&rig.moto, "heldfeed", 5, Duration::from_secs(30)).await;
    // The operator switches to changes mode without having dealt with the file.
    write_config(
        &rig.dir,
        &rig.site_url,
        &rig.moto.endpoint,
        "heldfeed",
        CHANGES,
    );
    signal(&child, "HUP");
    tokio::time::sleep(Duration::from_secs(5)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    assert_eq!(
        std::fs::read(&feed).unwrap(),
        garbage,
        "kept as it was: {log}"
    );
    assert!(
        log.contains("not writing") && log.contains("feed.json"),
        "the refusal is logged: {log}"
    );
    let got = events(&rig.moto, "heldfeed").await;
    assert!(
        got.iter().all(|r| r.get("event").is_none()),
        "no change event without a feed to commit it to"
    );
}
