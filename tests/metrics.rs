//! CloudWatch metrics from the daemon, against the local CloudWatch endpoint of the test rig
//! (Smithy RPC v2 CBOR, as the real SDK speaks it) and moto: what CloudWatch receives matches
//! what the stream holds, and a dead, silent or refusing endpoint costs nothing but a warning.

mod common;

use std::time::{Duration, Instant};

use bookstream_testsite::cloudwatch::{Answer, LocalCloudWatch};
use common::rig::*;
use common::{free_port, signal};

fn section(endpoint: &str) -> String {
    format!("{FAST}\n[metrics]\ncloudwatch = true\nendpoint_url = \"{endpoint}\"\n")
}

/// A CloudWatch that takes everything and a rig for `stream` over the test site with
/// `site_args`, publishing to it.
async fn rig_with_cloudwatch(stream: &'static str, site_args: &[&str]) -> (LocalCloudWatch, Rig) {
    let cw = LocalCloudWatch::start(Answer::Ok).unwrap();
    let rig = Rig::new(stream, site_args, &section(&cw.endpoint())).await;
    (cw, rig)
}

/// Runs the daemon until the stream holds `n` records, stops it with SIGTERM and returns its
/// log and how long the stop took.
async fn run(rig: &Rig, n: usize) -> (String, Duration) {
    let child = spawn_daemon(&rig.config, None, None);
    wait_for_records(&rig.moto, rig.stream, n, Duration::from_secs(60)).await;
    let asked = Instant::now();
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    (log, asked.elapsed())
}

/// The largest lateness of a send in the daemon's log, in ms.
fn max_lateness_ms(log: &str) -> f64 {
    common::named(log, "record_sent")
        .iter()
        .map(|e| e["lateness_us"].as_f64().unwrap() / 1000.0)
        .fold(0.0, f64::max)
}

#[tokio::test]
async fn what_cloudwatch_receives_matches_what_the_stream_holds() {
    let (cw, rig) = rig_with_cloudwatch("cw", &["--books", "30", "--per-page", "10"]).await;
    let (log, _) = run(&rig, 25).await;
    let records = rig.moto.read_back("cw").await.len();
    let cycles = common::named(&log, "cycle_finished").len();
    assert_eq!(cw.sum("RecordsSent"), records as f64, "{log}");
    assert_eq!(cw.sum("Cycles"), cycles as f64, "{log}");
    assert!(
        cw.requests() <= cycles as u64 + 1,
        "one request per cycle at most"
    );
    let datums = cw.datums();
    assert!(datums.iter().all(|d| d.namespace == "bookstream"
        && d.dimensions == [("StreamName".to_owned(), "cw".to_owned())]));
    for (name, unit) in [
        ("RecordsSent", "Count"),
        ("Cycles", "Count"),
        ("PutRetries", "Count"),
        ("PutFailures", "Count"),
        ("DeadLettered", "Count"),
        ("SendLateness", "Milliseconds"),
        ("PutLatency", "Milliseconds"),
        ("ScrapeFailures", "Count"),
        ("ProductPagesFailed", "Count"),
        ("CatalogueAge", "Seconds"),
        ("ListingAge", "Seconds"),
        ("VerificationAge", "Seconds"),
        ("RecordsNotSent", "Count"),
        ("CycleErrors", "Count"),
    ] {
        let found = cw.named(name);
        assert!(!found.is_empty(), "no {name}");
        assert!(
            found.iter().all(|d| d.unit.as_deref() == Some(unit)),
            "{name}: {found:?}"
        );
    }
    let latency = cw.named("PutLatency");
    let samples: f64 = latency
        .iter()
        .map(|d| d.statistics.unwrap().sample_count)
        .sum();
    assert_eq!(samples, records as f64, "one latency sample per record");
    assert_eq!(cw.sum("PutFailures"), 0.0);
    // Published every cycle, 0 in a healthy one.
    assert_eq!(cw.named("CycleErrors").len(), cw.named("Cycles").len());
    assert_eq!(cw.sum("CycleErrors"), 0.0, "{log}");
    assert_eq!(cw.sum("RecordsNotSent"), 0.0, "{log}");
}

#[tokio::test]
async fn a_dead_or_silent_cloudwatch_costs_a_warning_and_never_delays_a_send() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let silent = LocalCloudWatch::start(Answer::Silent).unwrap();
    for (name, endpoint) in [("dead", closed), ("silent", silent.endpoint())] {
        let stream: &'static str = Box::leak(format!("cw-{name}").into_boxed_str());
        let rig = Rig::new(
            stream,
            &["--books", "80", "--per-page", "10"],
            &section(&endpoint),
        )
        .await;
        // 7 cycles of 2 s: longer than one 10 s publish timeout.
        let (log, stop) = run(&rig, 70).await;
        let warnings = common::named(&log, "metrics_not_published");
        assert_eq!(warnings.len(), 1, "{name}: rate-limited to one: {log}");
        assert!(
            max_lateness_ms(&log) < 100.0,
            "{name}: sends stay on the grid: {log}"
        );
        assert!(stop < Duration::from_secs(8), "{name}: stopped in {stop:?}");
        assert_eq!(check_walk(&rig.upcs().await, &truth(80, 10)), 0);
    }
}

#[tokio::test]
async fn a_missing_permission_is_one_warning_naming_it_and_no_crash() {
    let cw = LocalCloudWatch::start(Answer::Error(403, "AccessDenied".into())).unwrap();
    let rig = Rig::new(
        "cw-denied",
        &["--books", "30", "--per-page", "10"],
        &section(&cw.endpoint()),
    )
    .await;
    let (log, _) = run(&rig, 25).await;
    let named: Vec<_> = common::named(&log, "metrics_denied")
        .into_iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap()
                .contains("cloudwatch:PutMetricData")
        })
        .collect();
    assert_eq!(named.len(), 1, "{log}");
    assert!(cw.requests() >= 2, "it kept trying, quietly");
    assert!(
        common::named(&log, "metrics_not_published").is_empty(),
        "{log}"
    );
}

/// A daemon on `config` with a NOTIFY_SOCKET, its refresh and cron overridden by `env`.
fn daemon(
    rig_dir: &std::path::Path,
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, Notify) {
    let notify = Notify::bind(rig_dir);
    let child = spawn_daemon_with(config, Some(&notify.path), None, env);
    (child, notify)
}

/// Stops the daemon with SIGTERM (which publishes what is pending) and returns its log.
fn stop(child: std::process::Child) -> String {
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    log
}

#[tokio::test]
async fn no_catalogue_at_first_start_rings_cycle_errors_and_records_not_sent() {
    let cw = LocalCloudWatch::start(Answer::Ok).unwrap();
    let moto = common::Moto::start();
    moto.create_stream("cw-nocat", 1).await;
    let dir = common::scratch("cw-nocat");
    // The site is unreachable from the first start on.
    let dead = format!("http://127.0.0.1:{}/", free_port());
    let config = write_config(
        &dir,
        &dead,
        &moto.endpoint,
        "cw-nocat",
        &section(&cw.endpoint()),
    );
    let (child, notify) = daemon(&dir, &config, &[("BOOKSTREAM__SITE__ATTEMPTS", "1")]);
    notify.expect("STATUS=cycle 1: ", Duration::from_secs(20));
    notify.expect("STATUS=cycle 2: ", Duration::from_secs(10));
    let log = stop(child);
    let cycles = cw.sum("Cycles");
    assert!(cycles >= 2.0, "{log}");
    // Every cycle of the run had no catalogue: each is an error, each left its slot unused.
    assert_eq!(
        cw.sum("CycleErrors"),
        cycles,
        "{:?}",
        cw.named("CycleErrors")
    );
    assert_eq!(
        cw.sum("RecordsNotSent"),
        cycles * 10.0,
        "{:?}",
        cw.named("RecordsNotSent")
    );
    assert_eq!(cw.sum("RecordsSent"), 0.0);
    assert_eq!(cw.sum("PutFailures"), 0.0);
    assert!(cw.named("CatalogueAge").is_empty(), "no catalogue, no age");
    assert!(moto.read_back("cw-nocat").await.is_empty());
}

/// A first walk longer than a slot (at the default 2 requests a second the real site's takes ~9
/// minutes) is a start, not a failure: before, each of its cycles counted in CycleErrors and
/// RecordsNotSent, and on a fresh install both alarms (three 5-minute periods) went off.
#[tokio::test]
async fn a_first_walk_longer_than_a_slot_rings_no_alarm() {
    // 6 listing pages, 60 product pages and robots.txt at 10 a second: ~7 s, cycles every 2 s.
    let (cw, rig) = rig_with_cloudwatch("cw-first", &["--books", "60", "--per-page", "10"]).await;
    let child = spawn_daemon_with(
        &rig.config,
        None,
        None,
        &[("BOOKSTREAM__SITE__MAX_REQUESTS_PER_SEC", "10")],
    );
    wait_for_records(&rig.moto, rig.stream, 15, Duration::from_secs(60)).await;
    let log = stop(child);
    let finished = common::named(&log, "cycle_finished");
    let waiting: Vec<u64> = finished
        .iter()
        .filter_map(|e| e["first_walk"].as_u64())
        .collect();
    assert!(
        waiting.len() >= 2,
        "cycles during the first walk: {waiting:?}\n{log}"
    );
    assert!(waiting.iter().all(|&pages| pages > 0), "{waiting:?}");
    assert!(
        finished[..waiting.len()]
            .iter()
            .all(|e| e["first_walk"].is_u64()),
        "the waiting cycles come first: {log}"
    );
    assert!(
        common::named(&log, "catalogue_refreshed").len() == 1,
        "{log}"
    );
    assert_eq!(cw.sum("Cycles"), finished.len() as f64, "{log}");
    assert_eq!(cw.sum("CycleErrors"), 0.0, "{:?}", cw.named("CycleErrors"));
    // At most the slot in which the walk ended, part of which went on waiting for it (before:
    // every waiting cycle's whole slot, 10 records each).
    assert!(
        cw.sum("RecordsNotSent") <= 10.0,
        "{:?}",
        cw.named("RecordsNotSent")
    );
    assert!(cw.sum("RecordsSent") >= 15.0, "{log}");
}

/// A stop during the first walk is a clean stop like any other: exit 0, no error counted.
#[tokio::test]
async fn a_stop_during_the_first_walk_is_clean() {
    // 67 requests at 5 a second: ~13 s, stopped after the first 2 s cycle.
    let (cw, rig) =
        rig_with_cloudwatch("cw-first-stop", &["--books", "60", "--per-page", "10"]).await;
    let (child, notify) = daemon(
        &rig.dir,
        &rig.config,
        &[("BOOKSTREAM__SITE__MAX_REQUESTS_PER_SEC", "5")],
    );
    notify.expect("STATUS=cycle 1: ", Duration::from_secs(20));
    let log = stop(child);
    let finished = common::named(&log, "cycle_finished");
    assert!(!finished.is_empty(), "{log}");
    assert!(
        finished.iter().all(|e| e["first_walk"].is_u64()),
        "every cycle, the stopped one too, waited for the first walk: {log}"
    );
    assert!(
        common::named(&log, "catalogue_refreshed").is_empty(),
        "{log}"
    );
    assert_eq!(cw.sum("Cycles"), finished.len() as f64, "{log}");
    assert_eq!(cw.sum("CycleErrors"), 0.0, "{:?}", cw.named("CycleErrors"));
    assert_eq!(
        cw.sum("RecordsNotSent"),
        0.0,
        "{:?}",
        cw.named("RecordsNotSent")
    );
}

#[tokio::test]
async fn a_change_feed_that_cannot_be_committed_rings_cycle_errors() {
    let cw = LocalCloudWatch::start(Answer::Ok).unwrap();
    let stream_section = format!(
        "[stream]\ninterval = \"50ms\"\nmax_records = 10\nmode = \"changes\"\n\n[metrics]\ncloudwatch = true\nendpoint_url = \"{}\"\n",
        cw.endpoint()
    );
    let rig = Rig::new(
        "cw-feed",
        &["--books", "20", "--per-page", "10"],
        &stream_section,
    )
    .await;
    let (child, notify) = daemon(
        &rig.dir,
        &rig.config,
        &[("BOOKSTREAM__SITE__REFRESH", "1s")],
    );
    notify.expect("changes sent", Duration::from_secs(20));
    // feed.json becomes a directory (with a file in it): the atomic rename of the next commit
    // over it fails with EISDIR, as root too.
    let feed = rig.dir.join("state/feed.json");
    assert!(feed.is_file(), "the initial snapshot was committed");
    std::fs::remove_file(&feed).unwrap();
    std::fs::create_dir(&feed).unwrap();
    std::fs::write(feed.join("in-the-way"), b"x").unwrap();
    let failed = notify.expect("cannot commit the change feed", Duration::from_secs(15));
    assert!(failed.contains("feed.json"), "{failed}");
    let log = stop(child);
    assert!(
        common::named(&log, "changes_not_committed")
            .iter()
            .any(|e| e["error"].as_str().is_some_and(|m| m.contains("feed.json"))),
        "{log}"
    );
    assert!(
        cw.sum("CycleErrors") >= 1.0,
        "{:?}\n{log}",
        cw.named("CycleErrors")
    );
    assert!(
        cw.max("CatalogueAge").is_some(),
        "a catalogue exists: its age is published"
    );
}

#[tokio::test]
async fn a_shrink_guard_refusing_every_refresh_rings_cycle_errors_and_catalogue_age() {
    let cw = LocalCloudWatch::start(Answer::Ok).unwrap();
    let moto = common::Moto::start();
    moto.create_stream("cw-shrink", 1).await;
    let port = free_port().to_string();
    let site = ["--port", port.as_str(), "--books", "30", "--per-page", "10"];
    let full = common::Site::start(&site);
    let dir = common::scratch("cw-shrink");
    let stream_section = format!(
        "[stream]\ninterval = \"50ms\"\nmax_records = 10\nmode = \"changes\"\ninitial_snapshot = false\n\n[metrics]\ncloudwatch = true\nendpoint_url = \"{}\"\n",
        cw.endpoint()
    );
    let config = write_config(
        &dir,
        &full.url,
        &moto.endpoint,
        "cw-shrink",
        &stream_section,
    );
    let (child, notify) = daemon(
        &dir,
        &config,
        &[
            ("BOOKSTREAM__SITE__REFRESH", "1s"),
            ("BOOKSTREAM__SCHEDULE__CRON", "* * * * * *"),
        ],
    );
    notify.expect("no changes since", Duration::from_secs(20));
    drop(full);
    let shrunk = [&site[..], &["--drop-books", "10"]].concat();
    let _shrunk = common::Site::start(&shrunk);
    notify.expect("scrape refused", Duration::from_secs(15));
    notify.expect("scrape refused", Duration::from_secs(15));
    let log = stop(child);
    // Nothing to send and nothing failing to send: only the new metrics can tell.
    assert_eq!(cw.sum("RecordsSent"), 0.0);
    assert_eq!(cw.sum("PutFailures"), 0.0);
    assert!(
        cw.sum("CycleErrors") >= 2.0,
        "{:?}\n{log}",
        cw.named("CycleErrors")
    );
    let refused: Vec<_> = common::named(&log, "catalogue_refused")
        .into_iter()
        .filter(|e| e["kind"] == "shrunk")
        .collect();
    assert!(refused.len() >= 2, "{log}");
    // The catalogue being streamed grows older than the refresh period.
    assert!(
        cw.max("CatalogueAge").unwrap() > 1.0,
        "{:?}",
        cw.named("CatalogueAge")
    );
}
