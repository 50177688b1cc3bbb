//! Nothing lost, nothing stuck: the state directory (a second process, unreadable files, a full
//! disk), records Kinesis can never accept, and a stalled put. Each test drives the real
//! binary against moto (through the fault proxy where Kinesis must misbehave) and asserts on
//! what the stream holds, read back at TRIM_HORIZON.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bookstream_testsite::cloudwatch::{Answer, LocalCloudWatch};
use common::fault_proxy::{self, Fault, FaultPlan};
use common::rig::*;
use common::{bookstream, scratch, signal};

fn once(config: &Path) -> std::process::Output {
    bookstream()
        .args([
            "once",
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
        ])
        .output()
        .expect("run bookstream once")
}

const ONCE6: &str = "[stream]\ninterval = \"20ms\"\nmax_records = 6\n";

#[tokio::test]
async fn a_second_process_on_the_same_state_dir_exits_at_once_naming_it_and_the_holders_pid() {
    let rig = Rig::new("lock", &["--books", "20", "--per-page", "10"], FAST).await;
    let notify = Notify::bind(&rig.dir);
    let daemon = spawn_daemon(&rig.config, Some(&notify.path), None);
    notify.expect("READY=1", Duration::from_secs(20));

    let started = Instant::now();
    let out = once(&rig.config);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    let state = rig.dir.join("state");
    assert!(
        stderr.contains(&state.display().to_string())
            && stderr.contains(&format!("PID {}", daemon.id())),
        "{stderr}"
    );
    assert!(common::named(&stderr, "record_sent").is_empty(), "{stderr}");
    // The same from a shell with no AWS set-up at all (as an operator's `sudo bookstream once`
    // beside the unit): the lock is named, not the missing region the unit's environment has.
    let bare = bookstream()
        .env_clear()
        .env("HOME", &rig.dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["once", "--config", rig.config.to_str().unwrap()])
        .output()
        .expect("run bookstream once");
    let bare_stderr = String::from_utf8_lossy(&bare.stderr);
    assert_eq!(bare.status.code(), Some(75), "{bare_stderr}");
    assert!(
        bare_stderr.contains(&format!("PID {}", daemon.id())),
        "{bare_stderr}"
    );

    signal(&daemon, "TERM");
    let (status, daemon_stderr) = finish(daemon);
    assert!(status.success(), "{daemon_stderr}");
    // Only the daemon's records are in the stream, walked once without a gap or a repeat.
    assert_eq!(check_walk(&rig.upcs().await, &truth(20, 10)), 0);
}

#[tokio::test]
async fn an_unreadable_cursor_refuses_to_start_instead_of_starting_from_book_0() {
    let rig = Rig::new("unreadable", &["--books", "10", "--per-page", "5"], ONCE6).await;
    let state = rig.dir.join("state");
    std::fs::create_dir_all(state.join("cursor.json")).unwrap();
    for command in ["once", "run"] {
        let out = bookstream()
            .args([command, "--config", rig.config.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(74), "{command}: {stderr}");
        assert!(
            stderr.contains("cannot read") && stderr.contains("cursor.json"),
            "{stderr}"
        );
    }
    assert!(
        state.join("cursor.json").is_dir(),
        "nothing was moved aside"
    );
    assert!(rig.upcs().await.is_empty(), "nothing was sent");
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount")
            .success();
        assert!(
            ok,
            "mount -t tmpfs failed: this test needs root (a real full filesystem); CI runs as root"
        );
        Tmpfs(at.to_owned())
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_full_state_disk_pauses_sending_says_so_in_the_metrics_and_resumes_by_itself() {
    let cw = LocalCloudWatch::start(Answer::Ok).unwrap();
    let metrics = format!(
        "{FAST}\n[metrics]\ncloudwatch = true\nendpoint_url = \"{}\"\n",
        cw.endpoint()
    );
    let rig = Rig::new("full", &["--books", "30", "--per-page", "10"], &metrics).await;
    let disk = Tmpfs::mount(&rig.dir.join("state"), "512k");
    let notify = Notify::bind(&rig.dir);
    let daemon = spawn_daemon(&rig.config, Some(&notify.path), None);
    wait_for_records(&rig.moto, "full", 5, Duration::from_secs(30)).await;

    let filler = disk.fill();
    let status = notify.expect("cannot save the cursor", Duration::from_secs(10));
    assert!(
        status.contains("state directory") && status.contains("No space left on device"),
        "{status}"
    );
    let paused_at = rig.moto.read_back("full").await.len();
    // Two more cycles (2 s each) with the disk full: nothing goes out.
    notify.expect("cannot save the cursor", Duration::from_secs(5));
    notify.expect("cannot save the cursor", Duration::from_secs(5));
    assert_eq!(rig.moto.read_back("full").await.len(), paused_at);
    // The alarms' metrics say so (published by the next cycle, the disk being full or not):
    // at least the two whole cycles above sent nothing of their 10 records, each an error.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cw.sum("CycleErrors") < 2.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        cw.sum("CycleErrors") >= 2.0,
        "{:?}",
        cw.named("CycleErrors")
    );
    assert!(
        cw.sum("RecordsNotSent") >= 20.0,
        "{:?}",
        cw.named("RecordsNotSent")
    );
    assert_eq!(
        cw.sum("PutFailures"),
        0.0,
        "no put failed: only the metrics above tell"
    );

    std::fs::remove_file(filler).unwrap();
    wait_for_records(&rig.moto, "full", paused_at + 15, Duration::from_secs(30)).await;
    signal(&daemon, "TERM");
    let (exit, stderr) = finish(daemon);
    assert!(exit.success(), "{stderr}");
    assert!(
        !common::named(&stderr, "cursor_saved_again").is_empty(),
        "{stderr}"
    );
    let got = rig.upcs().await;
    assert_eq!(check_walk(&got, &truth(30, 10)), 0, "no skip, no repeat");
    drop(disk);
}

/// A rig whose Kinesis endpoint is a fault proxy following `faults` for PutRecord.
async fn proxied(name: &'static str, faults: Vec<Fault>) -> (Rig, std::path::PathBuf) {
    let rig = Rig::new(name, &["--books", "12", "--per-page", "6"], ONCE6).await;
    let (proxy, _stats) = fault_proxy::spawn(rig.moto.addr, FaultPlan::new("PutRecord", faults))
        .await
        .unwrap();
    let config = rig.config_through(proxy, ONCE6);
    (rig, config)
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_kinesis_refuses_as_invalid_is_dead_lettered_and_the_walk_goes_on() {
    let faults = vec![
        Fault::Pass,
        Fault::Pass,
        Fault::Reject("InvalidArgumentException"),
    ];
    let (rig, config) = proxied("dead", faults).await;
    let out = once(&config);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let order = truth(12, 6);
    let mut expected: Vec<String> = order[..6].to_vec();
    expected.remove(2);
    assert_eq!(rig.upcs().await, expected);

    let dead = std::fs::read_to_string(rig.dir.join("state/dead-letter.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{dead}");
    assert_eq!(lines[0]["record"]["upc"], order[2].as_str());
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("InvalidArgumentException")
    );
    assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
    let logged = common::named(&stderr, "record_dead_lettered");
    assert!(
        logged
            .iter()
            .any(|e| e["level"] == "ERROR"
                && e["message"].as_str().unwrap().contains("dead-lettered")),
        "{stderr}"
    );
    let finished = common::named(&stderr, "cycle_finished");
    assert!(
        finished[0]["message"]
            .as_str()
            .unwrap()
            .contains("1 dead-lettered"),
        "{finished:?}"
    );

    // The next cycle goes on after the walk, not back to the refused book.
    assert!(once(&config).status.success());
    let mut expected: Vec<String> = order.clone();
    expected.remove(2);
    assert_eq!(rig.upcs().await, expected);
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_that_is_not_about_the_record_makes_it_wait_and_nothing_is_dead_lettered() {
    let faults = vec![Fault::Pass, Fault::Reject("AccessDeniedException")];
    let (rig, config) = proxied("denied", faults).await;
    let out = once(&config);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("AccessDeniedException"), "{stderr}");
    assert!(!rig.dir.join("state/dead-letter.jsonl").exists());
    assert!(once(&config).status.success());
    assert_eq!(
        rig.upcs().await,
        truth(12, 6)[..7].to_vec(),
        "book 2 waited, then went"
    );
}

#[tokio::test]
async fn stream_refuses_a_record_over_1_mib_sends_the_rest_and_exits_non_zero() {
    let rig = Rig::new("big", &["--books", "1", "--per-page", "1"], FAST).await;
    let file = rig.dir.join("big.json");
    let huge = "x".repeat(1024 * 1024);
    let records = serde_json::json!([
        {"upc": "a", "n": 0},
        {"upc": "b", "blob": huge},
        {"upc": "c", "n": 2},
    ]);
    std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();
    let out = bookstream()
        .args([
            "stream",
            "--stream-name",
            "big",
            "-i",
            "20ms",
            "--json-file",
        ])
        .arg(&file)
        .args(["--endpoint-url", &rig.moto.endpoint])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("element 1") && stderr.contains("1048576") && stderr.contains("big.json"),
        "{stderr}"
    );
    assert_eq!(rig.upcs_of_any().await, ["a", "c"]);
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_8_s_stall_the_next_records_keep_one_interval_apart() {
    let rig = Rig::new("stall", &["--books", "1", "--per-page", "1"], FAST).await;
    let faults = vec![Fault::Pass, Fault::Delay(Duration::from_secs(8))];
    let (proxy, _stats) = fault_proxy::spawn(rig.moto.addr, FaultPlan::new("PutRecord", faults))
        .await
        .unwrap();
    let file = scratch("stall").join("five.json");
    let records: Vec<_> = (0..5)
        .map(|i| serde_json::json!({"upc": format!("r{i}")}))
        .collect();
    std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();
    let out = bookstream()
        .args(["stream", "--stream-name", "stall", "-i", "1", "--json-file"])
        .arg(&file)
        .args(["--endpoint-url", &format!("http://{proxy}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arrivals = rig.moto.read_back_arrivals("stall").await;
    assert_eq!(arrivals.len(), 5);
    let gaps: Vec<f64> = arrivals.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(gaps[0] > 7.0, "the stall is visible: {gaps:?}");
    assert!(
        gaps.iter().all(|&g| g >= 0.9),
        "records went out back to back: {gaps:?}"
    );
}

#[tokio::test]
async fn a_book_listed_twice_goes_out_once_per_pass() {
    let rig = Rig::new(
        "twice",
        &["--books", "40", "--per-page", "10", "--duplicate-listing"],
        FAST,
    )
    .await;
    rig.run_until(45, &[]).await;
    let got = rig.upcs().await;
    assert_eq!(
        check_walk(&got, &truth(40, 10)),
        0,
        "one pass, each UPC once"
    );
}

#[tokio::test]
async fn twenty_kill_9_at_random_points_lose_nothing_and_duplicate_at_most_once_each() {
    let rig = Rig::new("soak", &["--books", "40", "--per-page", "10"], FAST).await;
    let kills = 20;
    kill_9_repeatedly(&rig.config, kills, 1000, 3000).await;
    let sent = rig.moto.read_back("soak").await.len();
    rig.run_until(sent + 12, &[]).await;
    let got = rig.upcs().await;
    let dups = check_walk(&got, &truth(40, 10));
    assert!(dups <= kills, "{dups} duplicates after {kills} kills");
    eprintln!(
        "soak: kill -9 x{kills}: {} records delivered, 0 lost, {dups} duplicated",
        got.len()
    );
}

/// Debian's libfaketime, which steps the wall clock of a running process (package faketime).
fn libfaketime() -> String {
    let found = ["x86_64-linux-gnu", "aarch64-linux-gnu"]
        .iter()
        .map(|arch| format!("/usr/lib/{arch}/faketime/libfaketime.so.1"))
        .find(|p| Path::new(p).exists());
    found.unwrap_or_else(|| {
        panic!("libfaketime.so.1 not found: install Debian's faketime package (.ci/run does)")
    })
}

#[tokio::test]
async fn wall_clock_steps_back_and_forward_never_stall_cycles_nor_overlap_them() {
    let rig = Rig::new("clock", &["--books", "30", "--per-page", "10"], FAST).await;
    let offset = rig.dir.join("faketime");
    std::fs::write(&offset, "+0").unwrap();
    let lib = libfaketime();
    let child = spawn_daemon_with(
        &rig.config,
        None,
        None,
        &[
            ("LD_PRELOAD", lib.as_str()),
            ("FAKETIME_TIMESTAMP_FILE", offset.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            // As on a real host: a wall-clock step leaves CLOCK_MONOTONIC alone.
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    wait_for_records(&rig.moto, "clock", 10, Duration::from_secs(30)).await;
    for step in ["-1h", "+2h"] {
        std::fs::write(&offset, step).unwrap();
        let now = rig.moto.read_back("clock").await.len();
        // Cycles of 10 records every 2 s: 20 more within 15 s means no stall of an hour.
        wait_for_records(&rig.moto, "clock", now + 20, Duration::from_secs(15)).await;
    }
    signal(&child, "TERM");
    let (status, log) = finish(child);
    assert!(status.success(), "{log}");
    assert_no_overlap(&log);
    assert!(!common::named(&log, "tick_missed").is_empty(), "{log}");
    assert_eq!(check_walk(&rig.upcs().await, &truth(30, 10)), 0);
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_file_rotates_by_size_keeps_a_bounded_number_of_files_and_says_so() {
    let rig = Rig::new("rotate", &["--books", "30", "--per-page", "10"], FAST).await;
    // Kinesis refuses every record as invalid: each one is dead-lettered.
    let plan = FaultPlan::repeat("PutRecord", Fault::Reject("InvalidArgumentException"));
    let (proxy, _stats) = fault_proxy::spawn(rig.moto.addr, plan).await.unwrap();
    let config = rig.config_through(proxy, FAST);
    let notify = Notify::bind(&rig.dir);
    // A dead letter of a book is about 1 KB: two or three a file, two rotated files kept.
    let cap = 3000;
    let daemon = spawn_daemon_with(
        &config,
        Some(&notify.path),
        None,
        &[
            ("BOOKSTREAM__STATE__DEAD_LETTER_MAX_BYTES", "3000"),
            ("BOOKSTREAM__STATE__DEAD_LETTER_FILES", "2"),
        ],
    );
    // Three cycles of 10: 30 dead letters, far more than three files of 3000 bytes hold.
    let status = notify.expect("(30 in all", Duration::from_secs(30));
    signal(&daemon, "TERM");
    let (exit, log) = finish(daemon);
    assert!(exit.success(), "{log}");
    let state = rig.dir.join("state");
    let current = state.join("dead-letter.jsonl");
    assert!(
        status.contains(&format!("3 files: {} and .1 to .2", current.display())),
        "{status}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dead-letter"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "dead-letter.jsonl",
            "dead-letter.jsonl.1",
            "dead-letter.jsonl.2"
        ]
    );
    // Each file within the cap; together the newest dead letters, in order, ending with the
    // last one written (never lost), as the log names them.
    let mut kept = Vec::new();
    for name in names.iter().rev() {
        let text = std::fs::read_to_string(state.join(name)).unwrap();
        assert!(text.len() <= cap, "{name}: {} bytes", text.len());
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            kept.push(v["record"]["upc"].as_str().unwrap().to_owned());
        }
    }
    let logged: Vec<String> = common::named(&log, "record_dead_lettered")
        .iter()
        .map(|e| e["upc"].as_str().unwrap().to_owned())
        .collect();
    assert!(logged.len() >= 30, "{log}");
    assert!(kept.len() >= 3 && kept.len() < logged.len(), "{kept:?}");
    assert_eq!(kept, logged[logged.len() - kept.len()..], "{kept:?}");
    assert!(rig.upcs().await.is_empty(), "nothing reached the stream");
}
