//! `bookstream run` / `once` as systemd runs them: the real binary as a child process, a real
//! NOTIFY_SOCKET datagram listener owned by the test, real signals, a real moto_server and the
//! test site; the stream is read back at TRIM_HORIZON and checked for loss and duplicates.

mod common;

use std::process::Stdio;
use std::time::Duration;

use bookstream_testsite::Site as Generated;
use common::fault_proxy::{self, Fault, FaultPlan};
use common::rig::*;
use common::{Moto, Site, bookstream, scratch, signal};

#[tokio::test]
async fn notify_protocol_ready_status_watchdog_reload_and_stop() {
    let rig = Rig::new("sd", &["--books", "30", "--per-page", "10"], FAST).await;
    let (dir, config) = (&rig.dir, &rig.config);
    let notify = Notify::bind(dir);
    let child = spawn_daemon(config, Some(&notify.path), Some(1_000_000));

    notify.expect("READY=1", Duration::from_secs(20));
    let status = notify.expect("sent, cursor", Duration::from_secs(10));
    assert!(
        status.starts_with("STATUS=cycle 1: 10/10 sent, cursor 10/30, next "),
        "{status}"
    );
    assert!(notify.count("WATCHDOG=1", Duration::from_millis(2500)) >= 3);

    signal(&child, "HUP");
    let reloading = notify.expect("RELOADING=1", Duration::from_secs(5));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    notify.expect("READY=1", Duration::from_secs(5));

    // An invalid new config is rejected and the daemon keeps running on the old one.
    std::fs::write(
        config,
        "[kinesis]\nstream_name = \"sd\"\n[stream]\ninterval = \"never\"\n",
    )
    .unwrap();
    signal(&child, "HUP");
    notify.expect("RELOADING=1", Duration::from_secs(5));
    let rejected = notify.expect("reload rejected", Duration::from_secs(5));
    assert!(rejected.contains("interval"), "{rejected}");
    notify.expect("READY=1", Duration::from_secs(5));
    notify.expect("sent, cursor", Duration::from_secs(10));

    signal(&child, "TERM");
    notify.expect("STOPPING=1", Duration::from_secs(10));
    let (status, stderr) = finish(child);
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(dir.join("state/cursor.json").exists());
}

#[tokio::test]
async fn consecutive_cycles_walk_the_whole_catalogue_without_loss_or_duplicates() {
    let rig = Rig::new("walk", &["--books", "25", "--per-page", "5"], FAST).await;
    let stderr = rig.run_until(32, &[]).await;
    let got = rig.upcs().await;
    assert_eq!(
        check_walk(&got, &truth(25, 5)),
        0,
        "duplicates in a clean run"
    );
    assert!(got.len() > 25, "wrapped around the catalogue");
    let finished = common::named(&stderr, "cycle_finished");
    assert!(!finished.is_empty(), "{stderr}");
    assert!(finished.iter().all(|e| e["error"].is_null()), "{stderr}");
}

#[tokio::test]
async fn resumes_after_kill_9_and_sigterm_with_no_book_lost() {
    let rig = Rig::new("kills", &["--books", "40", "--per-page", "10"], FAST).await;
    let kills = 5;
    kill_9_repeatedly(&rig.config, kills, 1500, 2500).await;
    // Then a graceful stop in the middle of a cycle, and a last run.
    let sent = rig.moto.read_back("kills").await.len();
    rig.run_until(sent + 3, &[]).await;
    let sent = rig.moto.read_back("kills").await.len();
    rig.run_until(sent + 12, &[]).await;

    let got = rig.upcs().await;
    let dups = check_walk(&got, &truth(40, 10));
    assert!(dups <= kills, "{dups} duplicates after {kills} kills");
    eprintln!(
        "kill -9 x{kills}: {} records, {dups} duplicates, 0 skipped",
        got.len()
    );
}

#[tokio::test]
async fn slow_kinesis_never_overlaps_cycles_and_loses_nothing() {
    let rig = Rig::new("slow", &["--books", "20", "--per-page", "10"], FAST).await;
    let plan = FaultPlan {
        target: "PutRecord".into(),
        faults: vec![Fault::Delay(Duration::from_millis(600)); 200],
    };
    let (proxy, _) = fault_proxy::spawn(rig.moto.addr, plan).await.unwrap();
    let config = rig.config_through(proxy, FAST);
    let stderr = run_until(&config, &rig.moto, "slow", 12, &[]).await;
    assert_no_overlap(&stderr);
    assert_eq!(check_walk(&rig.upcs().await, &truth(20, 10)), 0);
}

#[tokio::test]
async fn slow_site_delays_only_the_first_cycle_and_loses_nothing() {
    let site = ["--books", "20", "--per-page", "5", "--delay", "400ms"];
    let rig = Rig::new("slowsite", &site, FAST).await;
    let stderr = rig.run_until(15, &[]).await;
    assert_no_overlap(&stderr);
    assert_eq!(check_walk(&rig.upcs().await, &truth(20, 5)), 0);
}

/// Every "cycle started" comes after the previous cycle's "cycle finished".

#[tokio::test]
async fn corrupt_state_is_reported_and_streaming_starts_fresh() {
    let section = "[stream]\ninterval = \"20ms\"\nmax_records = 5\n";
    let rig = Rig::new("fresh", &["--books", "12", "--per-page", "6"], section).await;
    let (moto, dir, config) = (&rig.moto, &rig.dir, &rig.config);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::write(dir.join("state/cursor.json"), b"{\"last_key\": 12").unwrap();
    std::fs::write(dir.join("state/catalogue.json"), b"\x00\x01").unwrap();
    let out = bookstream()
        .args(["once", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cursor.json") && stderr.contains("starting fresh"),
        "{stderr}"
    );
    assert!(dir.join("state/cursor.json.corrupt").exists());
    let order = truth(12, 6);
    assert_eq!(upcs(moto, "fresh").await, order[..5].to_vec());
    // Downstream tables read the old five keys first, in the old order, then the typed fields.
    let first: serde_json::Value =
        serde_json::from_slice(&moto.read_back("fresh").await[0]).unwrap();
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "title",
            "price",
            "num_reviews",
            "upc",
            "availability",
            "price_gbp",
            "rating",
            "stock",
            "category",
            "url",
            "product_type",
            "price_excl_tax_gbp",
            "price_incl_tax_gbp",
            "tax_gbp",
            "review_count",
            "scraped_at"
        ]
    );

    // A second `once` resumes from the saved cursor.
    let out = bookstream()
        .args(["once", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(upcs(moto, "fresh").await, order[..10].to_vec());
}

#[test]
fn a_config_error_at_start_exits_78_naming_file_and_key() {
    let dir = scratch("cfg78");
    let path = dir.join("broken.toml");
    std::fs::write(
        &path,
        "[kinesis]\nstream_name = \"s\"\n[schedule]\ncron = \"0 * * * *\"\n",
    )
    .unwrap();
    let out = bookstream()
        .args(["run", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.toml") && stderr.contains("schedule.cron"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_failed_scrape_streams_from_the_last_good_catalogue_and_says_so() {
    let moto = Moto::start();
    moto.create_stream("stale", 1).await;
    let dir = scratch("stale");
    let section = "[stream]\ninterval = \"20ms\"\nmax_records = 4\n";
    {
        let site = Site::start(&["--books", "10", "--per-page", "5"]);
        let config = write_config(&dir, &site.url, &moto.endpoint, "stale", section);
        let out = bookstream()
            .args(["once", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The site is gone now; the catalogue is due for refresh at once.
    let dead = format!("http://127.0.0.1:{}/", common::free_port());
    let config = write_config(&dir, &dead, &moto.endpoint, "stale", section);
    let out = bookstream()
        .args([
            "--log-format",
            "json",
            "once",
            "--config",
            config.to_str().unwrap(),
        ])
        .env("BOOKSTREAM__SITE__REFRESH", "0s")
        .env("BOOKSTREAM__SITE__ATTEMPTS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        common::named(&stderr, "catalogue_refused")
            .iter()
            .any(|e| e["kind"] == "failed" && e["stale"] == true),
        "{stderr}"
    );
    assert!(stderr.contains(&dead), "the failing URL is named: {stderr}");
    assert_eq!(check_walk(&upcs(&moto, "stale").await, &truth(10, 5)), 0);
    assert_eq!(upcs(&moto, "stale").await.len(), 8);
}

#[tokio::test]
async fn refreshes_use_conditional_requests() {
    let section = "[stream]\ninterval = \"50ms\"\nmax_records = 3\n";
    let rig = Rig::new("cond", &["--books", "10", "--per-page", "5"], section).await;
    let stderr = rig
        .run_until(9, &[("BOOKSTREAM__SITE__REFRESH", "1s")])
        .await;
    let refreshes = common::named(&stderr, "catalogue_refreshed");
    assert!(refreshes.len() >= 2, "{stderr}");
    assert_eq!(refreshes[0]["not_modified"], 0);
    let later = &refreshes[refreshes.len() - 1];
    assert_eq!(later["not_modified"], later["requests"], "{later}");
    assert_eq!(later["books"], 10);
}

#[tokio::test]
async fn a_reloaded_config_applies_from_the_next_cycle_including_a_new_cron() {
    let small = "[stream]\ninterval = \"50ms\"\nmax_records = 3\n";
    let rig = Rig::new("hup", &["--books", "30", "--per-page", "10"], small).await;
    let (moto, dir, config) = (&rig.moto, &rig.dir, &rig.config);
    let notify = Notify::bind(dir);
    let child = spawn_daemon(config, Some(&notify.path), None);
    notify.expect("STATUS=cycle 1: 3/3 sent", Duration::from_secs(20));

    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("max_records = 3", "max_records = 5")
        .replace("*/2 * * * * *", "*/3 * * * * *");
    std::fs::write(config, text).unwrap();
    signal(&child, "HUP");
    notify.expect("READY=1", Duration::from_secs(5));
    notify.expect("5/5 sent", Duration::from_secs(10));
    notify.expect("5/5 sent", Duration::from_secs(10));
    signal(&child, "TERM");
    let (status, stderr) = finish(child);
    assert!(status.success(), "{stderr}");

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let reload_at = lines
        .iter()
        .position(|v| v["event"] == "config_reloaded")
        .expect("reload logged");
    let after: Vec<&serde_json::Value> = lines[reload_at..]
        .iter()
        .filter(|v| v["event"] == "cycle_finished")
        .collect();
    assert!(after.len() >= 2, "{stderr}");
    // The cycle running during the reload may still be on the old config; the ones after are not.
    for v in &after[1..] {
        assert_eq!(v["planned"], 5, "{v}");
    }
    let starts: Vec<u32> = lines[reload_at..]
        .iter()
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.ends_with(" started") && m.starts_with("cycle "))
        })
        .map(|v| {
            let ts = v["timestamp"].as_str().unwrap();
            ts[17..19].parse().unwrap()
        })
        .collect();
    assert!(starts.len() >= 2, "{stderr}");
    assert!(
        starts.iter().skip(1).all(|s| s % 3 == 0),
        "cycle start seconds {starts:?}"
    );
    assert_eq!(check_walk(&upcs(moto, "hup").await, &truth(30, 10)), 0);
}

#[tokio::test]
async fn the_cursor_follows_upcs_when_the_catalogue_changes_between_scrapes() {
    let moto = Moto::start();
    moto.create_stream("change", 1).await;
    let port = common::free_port().to_string();
    let site_args = |version: &'static str| {
        vec![
            "--port",
            port.as_str(),
            "--books",
            "60",
            "--per-page",
            "20",
            "--version",
            version,
        ]
    };
    let v0 = Site::start(&site_args("0"));
    let dir = scratch("change");
    let section = "[stream]\ninterval = \"50ms\"\nmax_records = 5\n";
    let config = write_config(&dir, &v0.url, &moto.endpoint, "change", section);
    let child = bookstream()
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
        ])
        .env("BOOKSTREAM__SITE__REFRESH", "1s")
        .env("BOOKSTREAM__SCHEDULE__CRON", "* * * * * *")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_records(&moto, "change", 6, Duration::from_secs(20)).await;
    drop(v0);
    let _v1 = Site::start(&site_args("3"));
    let switched_at = moto.read_back("change").await.len();
    // Past the end of the catalogue, so that the walk wraps to the books added at the front.
    wait_for_records(&moto, "change", switched_at + 60, Duration::from_secs(60)).await;
    signal(&child, "TERM");
    let (status, stderr) = finish(child);
    assert!(status.success(), "{stderr}");

    let old = Generated::generate_version(60, 20, 0);
    let new = Generated::generate_version(60, 20, 3);
    let order = |s: &Generated| s.books().iter().map(|b| b.upc.clone()).collect::<Vec<_>>();
    let (old, new) = (order(&old), order(&new));
    assert_ne!(old, new, "version 3 must change the catalogue");
    let next_in = |order: &[String], upc: &str| {
        order
            .iter()
            .position(|u| u == upc)
            .map(|i| order[(i + 1) % order.len()].clone())
    };
    let got = upcs(&moto, "change").await;
    // Each record follows its predecessor in the old or the new catalogue (or steps over a book
    // the new catalogue removed): nothing present in both is skipped, nothing repeated.
    for pair in got.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let ok = next_in(&old, a).as_ref() == Some(b)
            || next_in(&new, a).as_ref() == Some(b)
            || (!new.contains(a) && new.contains(b))
            || (!new.contains(&next_in(&old, a).unwrap_or_default())
                && next_in(&old, a).and_then(|n| next_in(&old, &n)).as_ref() == Some(b));
        assert!(ok, "{b} after {a} skips a book:\n{got:?}");
    }
    // The books the new version added at the front go out once the walk wraps.
    for added in new.iter().filter(|u| !old.contains(u)) {
        assert!(
            got[switched_at..].contains(added),
            "new book {added} never sent"
        );
    }
}

#[tokio::test]
async fn retries_through_an_outage_stop_at_the_slot_end_and_the_record_carries_over() {
    let rig = Rig::new("outage", &["--books", "20", "--per-page", "10"], FAST).await;
    let plan = FaultPlan {
        target: "PutRecord".into(),
        faults: vec![Fault::InternalFailure; 12],
    };
    let (proxy, stats) = fault_proxy::spawn(rig.moto.addr, plan).await.unwrap();
    let config = rig.config_through(proxy, FAST);
    let stderr = run_until(&config, &rig.moto, "outage", 12, &[]).await;
    assert_no_overlap(&stderr);
    // The cycles the outage cut short, before the test's own SIGTERM; the cycle that SIGTERM
    // ends (on a slow machine it may land in a retry) is judged apart below.
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let stop = lines
        .iter()
        .position(|v| v["event"] == "stop_requested")
        .unwrap_or_else(|| panic!("no stop_requested: {stderr}"));
    let failed = |v: &&serde_json::Value| v["event"] == "cycle_finished" && v["error"].is_string();
    let error = |v: &serde_json::Value| v["error"].as_str().unwrap().to_owned();
    let carried: Vec<_> = lines[..stop].iter().filter(failed).collect();
    assert!(!carried.is_empty(), "{stderr}");
    assert!(
        carried
            .iter()
            .all(|e| error(e).contains("carries over to the next cycle")),
        "{carried:?}"
    );
    let at_stop: Vec<_> = lines[stop..].iter().filter(failed).collect();
    assert!(at_stop.len() <= 1, "{at_stop:?}");
    assert!(
        at_stop.iter().all(|e| {
            let e = error(e);
            e.contains("carries over to the next cycle")
                || e.contains("shutdown requested while retrying")
        }),
        "{at_stop:?}"
    );
    assert!(stats.internal_failures() >= 12, "{stats:?}");
    assert_eq!(check_walk(&rig.upcs().await, &truth(20, 10)), 0);
}

/// Finish STATUS lines (`cycle N: ..., next HH:MM:SS`) of the next `n` cycles.
fn next_cycle_statuses(notify: &Notify, n: usize, within: Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let m = notify
            .rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {out:?} within {within:?}"));
        if m.starts_with("STATUS=cycle ") && m.contains(", next ") && !m.contains("streaming") {
            out.push(m);
        }
    }
    out
}

/// The JSON log lines from the first event named `from` on.
fn log_after(log: &str, from: &str) -> Vec<serde_json::Value> {
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let at = lines
        .iter()
        .position(|v| v["event"] == from)
        .unwrap_or_else(|| panic!("no {from:?} event in {log}"));
    lines[at..].to_vec()
}

#[tokio::test]
async fn a_reload_to_a_cron_far_away_runs_no_cycle_and_warns_of_no_clock_step() {
    let rig = Rig::new("cronaway", &["--books", "30", "--per-page", "10"], FAST).await;
    let notify = Notify::bind(&rig.dir);
    let child = spawn_daemon(&rig.config, Some(&notify.path), None);
    next_cycle_statuses(&notify, 1, Duration::from_secs(20));
    // Once a year, at midnight on 1 January: the old schedule's missed-tick deadline (1 s
    // after its next tick, 2 s away at most) must not run a cycle in the meantime.
    let text = std::fs::read_to_string(&rig.config)
        .unwrap()
        .replace("*/2 * * * * *", "0 0 0 1 1 *");
    std::fs::write(&rig.config, text).unwrap();
    signal(&child, "HUP");
    notify.expect("READY=1", Duration::from_secs(5));
    tokio::time::sleep(Duration::from_secs(6)).await;
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    let after = log_after(&log, "config_reloaded");
    let message = |v: &serde_json::Value| v["message"].as_str().unwrap_or("").to_owned();
    assert!(
        !after.iter().any(|v| v["event"] == "tick_missed"),
        "a false clock-step warning: {log}"
    );
    assert!(
        !after
            .iter()
            .any(|v| message(v).starts_with("cycle ") && message(v).ends_with(" started")),
        "a cycle no schedule asked for: {log}"
    );
}

#[tokio::test]
async fn a_reload_from_catalogue_to_changes_mode_starts_the_feed_from_the_catalogue_it_has() {
    let rig = Rig::new("tochanges", &["--books", "30", "--per-page", "10"], FAST).await;
    let notify = Notify::bind(&rig.dir);
    let child = spawn_daemon(&rig.config, Some(&notify.path), None);
    next_cycle_statuses(&notify, 1, Duration::from_secs(20));
    let text = std::fs::read_to_string(&rig.config).unwrap().replace(
        "max_records = 10\n",
        "max_records = 10\nmode = \"changes\"\n",
    );
    std::fs::write(&rig.config, text).unwrap();
    signal(&child, "HUP");
    notify.expect("READY=1", Duration::from_secs(5));
    // The cycle running at the reload may finish in catalogue mode; the next ones are in
    // changes mode, and the refresh (`[site] refresh = 1h`) is far away.
    let statuses = next_cycle_statuses(&notify, 3, Duration::from_secs(15));
    let sent = rig.moto.read_back("tochanges").await.len();
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    assert!(
        statuses.iter().all(|s| !s.contains("no catalogue yet")),
        "{statuses:?}"
    );
    assert!(
        statuses[1..].iter().all(|s| s.contains("no changes since")),
        "{statuses:?}"
    );
    // No snapshot: the catalogue was streamed already.
    assert_eq!(rig.moto.read_back("tochanges").await.len(), sent);
    assert_eq!(check_walk(&rig.upcs().await, &truth(30, 10)), 0);
}

#[tokio::test]
async fn a_reload_turns_metrics_on_moves_them_and_turns_them_off() {
    use bookstream_testsite::cloudwatch::{Answer, LocalCloudWatch};
    let (first, second) = (
        LocalCloudWatch::start(Answer::Ok).unwrap(),
        LocalCloudWatch::start(Answer::Ok).unwrap(),
    );
    let rig = Rig::new("cwreload", &["--books", "30", "--per-page", "10"], FAST).await;
    let configure = |metrics: &str| {
        write_config(
            &rig.dir,
            &rig.site_url,
            &rig.moto.endpoint,
            "cwreload",
            &format!("{FAST}\n{metrics}"),
        );
    };
    let notify = Notify::bind(&rig.dir);
    let child = spawn_daemon(&rig.config, Some(&notify.path), None);
    next_cycle_statuses(&notify, 1, Duration::from_secs(20));
    let reload = |metrics: String| {
        configure(&metrics);
        signal(&child, "HUP");
        notify.expect("READY=1", Duration::from_secs(5));
        // The next cycle applies it, the one after is published under it.
        next_cycle_statuses(&notify, 3, Duration::from_secs(15));
    };
    let on = |endpoint: String, namespace: &str| {
        format!(
            "[metrics]\ncloudwatch = true\nendpoint_url = \"{endpoint}\"\nnamespace = \"{namespace}\"\n"
        )
    };
    assert_eq!(first.requests(), 0, "off at start");
    reload(on(first.endpoint(), "bookstream"));
    assert!(first.sum("Cycles") >= 1.0, "on after a reload");
    reload(on(second.endpoint(), "bookstream-moved"));
    let at_first = first.requests();
    assert!(second.sum("Cycles") >= 1.0, "moved to the new endpoint");
    assert!(
        second
            .datums()
            .iter()
            .all(|d| d.namespace == "bookstream-moved"),
        "{:?}",
        second.datums()
    );
    reload("[metrics]\ncloudwatch = false\n".to_owned());
    let at_second = second.requests();
    next_cycle_statuses(&notify, 2, Duration::from_secs(10));
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    assert_eq!(
        first.requests(),
        at_first,
        "nothing more to the old endpoint"
    );
    assert_eq!(second.requests(), at_second, "off after a reload: {log}");
}

#[tokio::test]
async fn sigterm_stops_once_mid_cycle_cleanly() {
    // `once` from a timer or under `timeout`: SIGTERM, not only Ctrl-C, ends the cycle after
    // the put in flight, and the cursor names what landed. (It used to be the default action:
    // the process killed where it stood, nothing logged.)
    let section = "[stream]\ninterval = \"100ms\"\nmax_records = 50\n";
    let rig = Rig::new("termonce", &["--books", "60", "--per-page", "20"], section).await;
    let child = spawn_once(&rig.config);
    let landed = wait_for_records(&rig.moto, "termonce", 5, Duration::from_secs(20)).await;
    assert!(landed >= 5, "only {landed} records in 20 s");
    signal(&child, "TERM");
    let (status, log) = finished(child).await;
    assert!(status.success(), "{status:?}: {log}");
    let stop = common::named(&log, "stop_requested");
    assert_eq!(stop.len(), 1, "{log}");
    assert_eq!(stop[0]["signal"], "SIGTERM");
    let finished = common::named(&log, "cycle_finished");
    assert_eq!(finished.len(), 1, "{log}");
    let sent = finished[0]["sent"].as_u64().unwrap();
    assert!((5..50).contains(&sent), "{sent} sent: {log}");
    let got = rig.upcs().await;
    assert_eq!(got.len() as u64, sent, "{log}");
    let cursor: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rig.dir.join("state/cursor.json")).unwrap()).unwrap();
    assert_eq!(cursor["sent_total"], sent, "{cursor}");
    assert_eq!(cursor["last_key"], got.last().unwrap().as_str(), "{cursor}");
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_once_at_once_while_its_put_waits_for_an_answer() {
    // The first signal lets the put in flight finish (its answer may take up to the attempt's
    // bound); an operator who does not want to wait signals again, and the process ends now.
    let rig = Rig::new("again", &["--books", "3", "--per-page", "3"], FAST).await;
    let plan = FaultPlan::new(
        "PutRecord",
        vec![Fault::DelayResponse(Duration::from_secs(11))],
    );
    let (proxy, stats) = fault_proxy::spawn(rig.moto.addr, plan).await.unwrap();
    let config = rig.config_through(proxy, FAST);
    let child = spawn_once(&config);
    let waited = std::time::Instant::now();
    while stats.forwarded() == 0 && waited.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.forwarded(), 1, "the first put never left");
    signal(&child, "INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = std::time::Instant::now();
    signal(&child, "TERM");
    let (status, log) = finished(child).await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{log}");
    assert_eq!(common::named(&log, "stop_requested").len(), 1, "{log}");
    let again = common::named(&log, "signalled_again");
    assert_eq!(again.len(), 1, "{log}");
    assert_eq!(again[0]["signal"], "SIGTERM");
}
