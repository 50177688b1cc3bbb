//! CloudWatch metrics from the daemon, against the local CloudWatch endpoint of the test rig
//! (Smithy RPC v2 CBOR, as the real SDK speaks it) and moto: what CloudWatch receives matches
//! what the stream holds, and a dead, silent or refusing endpoint costs nothing but a warning.

mod common;

use std::time::{Duration, Instant};

use bookstream_testsite::cloudwatch::{Answer, LocalCloudWatch};
use common::rig::*;
use common::{events, free_port, signal};

fn section(endpoint: &str) -> String {
    format!("{FAST}\n[metrics]\ncloudwatch = true\nendpoint_url = \"{endpoint}\"\n")
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
    events(log, "record sent")
        .iter()
        .map(|e| e["lateness_us"].as_f64().unwrap() / 1000.0)
        .fold(0.0, f64::max)
}

#[tokio::test]
async fn what_cloudwatch_receives_matches_what_the_stream_holds() {
    let cw = LocalCloudWatch::start(Answer::Ok).unwrap();
    let rig = Rig::new(
        "cw",
        &["--books", "30", "--per-page", "10"],
        &section(&cw.endpoint()),
    )
    .await;
    let (log, _) = run(&rig, 25).await;
    let records = rig.moto.read_back("cw").await.len();
    let cycles = events(&log, "cycle finished").len();
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
        let warnings = events(&log, "cannot publish CloudWatch metrics");
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
    let named: Vec<_> = events(&log, "CloudWatch refused the metrics")
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
        events(&log, "cannot publish CloudWatch metrics").is_empty(),
        "{log}"
    );
}
