//! Kinesis at its edges: an acknowledgement that comes late or never (the record written all
//! the same, by the fault proxy in front of moto), and an AWS set-up with no region or no
//! credentials at all (the real binary in a clean environment). What the stream holds is read
//! back at TRIM_HORIZON.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bookstream_testsite::cloudwatch::{Answer, LocalCloudWatch};
use common::fault_proxy::{self, Fault, FaultPlan};
use common::rig::*;
use common::{Moto, scratch};

/// The longest run of one UPC back to back: how many copies a record got in one pass.
fn most_copies(upcs: &[String]) -> usize {
    upcs.chunk_by(|a, b| a == b)
        .map(<[String]>::len)
        .max()
        .unwrap_or(0)
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_11_s_late_is_waited_for_and_the_record_written_at_most_twice() {
    let moto = Moto::start();
    moto.create_stream("late", 1).await;
    let plan = FaultPlan::repeat("PutRecord", Fault::DelayResponse(Duration::from_secs(11)));
    let (proxy, stats) = fault_proxy::spawn(moto.addr, plan).await.unwrap();
    let file = scratch("late").join("r.json");
    std::fs::write(&file, br#"[{"upc":"a"},{"upc":"b"}]"#).unwrap();
    let started = Instant::now();
    let out = common::bookstream()
        .args(["--log-format", "json", "stream", "--stream-name", "late"])
        .args(["-i", "1", "--max-records", "1", "--json-file"])
        .arg(&file)
        .args(["--endpoint-url", &format!("http://{proxy}")])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let copies = moto.read_back("late").await;
    assert!(
        (1..=2).contains(&copies.len()),
        "{} copies of one record ({} puts reached Kinesis), in {:?}:\n{log}",
        copies.len(),
        stats.forwarded(),
        started.elapsed()
    );
    assert!(copies.iter().all(|c| c == br#"{"upc":"a"}"#));
    assert!(out.status.success(), "{log}");
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_names_a_record_whose_answers_never_came_sends_the_rest_and_exits_1() {
    let moto = Moto::start();
    moto.create_stream("lost", 1).await;
    let plan = FaultPlan::new("PutRecord", vec![Fault::DropResponse; 2]);
    let (proxy, _stats) = fault_proxy::spawn(moto.addr, plan).await.unwrap();
    let file = scratch("lost").join("r.json");
    std::fs::write(&file, br#"[{"upc":"a"},{"upc":"b"}]"#).unwrap();
    let out = common::bookstream()
        .args([
            "stream",
            "--stream-name",
            "lost",
            "-i",
            "0.01",
            "--json-file",
        ])
        .arg(&file)
        .args(["--endpoint-url", &format!("http://{proxy}")])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("1 record(s) sent twice without an answer from Kinesis"),
        "{log}"
    );
    assert!(log.contains("element 0: record a was sent"), "{log}");
    let got = moto.read_back("lost").await;
    let want: [&[u8]; 3] = [br#"{"upc":"a"}"#, br#"{"upc":"a"}"#, br#"{"upc":"b"}"#];
    assert_eq!(got, want);
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_daemon_a_late_or_lost_answer_costs_at_most_one_copy_and_the_cursor_moves() {
    // Cycles of 2 s: book 0's answer comes 11 s late (the proxy wrote it at once), book 1's
    // first answer is lost. Each is in the stream at most twice, and the walk goes on.
    let rig = Rig::new("slowack", &["--books", "3", "--per-page", "3"], FAST).await;
    let faults = vec![
        Fault::DelayResponse(Duration::from_secs(11)),
        Fault::DropResponse,
    ];
    let (proxy, _stats) = fault_proxy::spawn(rig.moto.addr, FaultPlan::new("PutRecord", faults))
        .await
        .unwrap();
    let config = rig.config_through(proxy, FAST);
    let log = run_until(&config, &rig.moto, "slowack", 4, &[]).await;
    let got = rig.upcs().await;
    let order = truth(3, 3);
    check_walk(&got, &order);
    assert!(most_copies(&got) <= 2, "{got:?}\n{log}");
    assert_eq!(
        got[..4],
        [
            order[0].as_str(),
            order[1].as_str(),
            order[1].as_str(),
            order[2].as_str()
        ],
        "{log}"
    );
    let unknown = common::named(&log, "put_outcome_unknown");
    assert_eq!(unknown.len(), 1, "{log}");
    assert_eq!(unknown[0]["upc"], order[1].as_str(), "{unknown:?}");
    assert_eq!(unknown[0]["stream"], "slowack");
}

// The fault proxy runs on this runtime while the binary runs: it needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_resend_is_unanswered_too_is_set_aside_not_sent_a_third_time() {
    let cw = LocalCloudWatch::start(Answer::Ok).unwrap();
    let section = format!(
        "[stream]\ninterval = \"20ms\"\nmax_records = 4\n\n[metrics]\ncloudwatch = true\nendpoint_url = \"{}\"\n",
        cw.endpoint()
    );
    let rig = Rig::new("unanswered", &["--books", "4", "--per-page", "4"], &section).await;
    // Book 0: written twice, answered never; book 1: its first answer lost, the resend's not.
    let faults = vec![Fault::DropResponse; 3];
    let (proxy, _stats) = fault_proxy::spawn(rig.moto.addr, FaultPlan::new("PutRecord", faults))
        .await
        .unwrap();
    let config = rig.config_through(proxy, &section);
    let (status, log) = finished(spawn_once(&config)).await;
    assert!(status.success(), "{log}");
    let order = truth(4, 4);
    let got = rig.upcs().await;
    assert_eq!(
        got,
        [
            order[0].as_str(),
            order[0].as_str(),
            order[1].as_str(),
            order[1].as_str(),
            order[2].as_str(),
            order[3].as_str()
        ],
        "{log}"
    );
    let dead = std::fs::read_to_string(rig.dir.join("state/dead-letter.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "{dead}");
    assert_eq!(entries[0]["record"]["upc"], order[0].as_str());
    assert!(
        entries[0]["error"]
            .as_str()
            .unwrap()
            .contains("twice and neither answer came"),
        "{dead}"
    );
    // Three puts went unanswered: three possible copies, as CloudWatch hears it.
    assert_eq!(cw.sum("PossibleDuplicates"), 3.0, "{log}");
}

/// The binary with nothing of the machine's AWS set-up: no AWS_* variables, HOME an empty
/// folder (no ~/.aws), no metadata service; `env` added.
fn clean(home: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bookstream"));
    cmd.env_clear()
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd`, failing if it has not exited within `within`; returns (exit code, stderr).
fn exit_within(mut cmd: Command, within: Duration) -> (Option<i32>, String) {
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {within:?} (retrying as if the network were down?):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A daemon config with no `region`, for a Kinesis that is never reached.
fn config_without_region(dir: &Path) -> PathBuf {
    let path = write_config(dir, "http://127.0.0.1:9/", "http://127.0.0.1:9", "s", FAST);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("region = \"us-east-1\"\n", "")).unwrap();
    path
}

/// `run`, `once` and `stream` in the clean environment with `env` added.
fn each_command(dir: &Path, env: &[(&str, &str)]) -> Vec<(&'static str, Option<i32>, String)> {
    let config = config_without_region(dir);
    let records = dir.join("r.json");
    std::fs::write(&records, br#"[{"upc":"a"}]"#).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut out = Vec::new();
    for (name, args) in [
        ("run", vec!["run", "--config", config.to_str().unwrap()]),
        ("once", vec!["once", "--config", config.to_str().unwrap()]),
        (
            "stream",
            vec![
                "stream",
                "--stream-name",
                "s",
                "-i",
                "1",
                "--json-file",
                records.to_str().unwrap(),
                "--endpoint-url",
                "http://127.0.0.1:9",
            ],
        ),
    ] {
        let mut cmd = clean(&home, env);
        cmd.args(&args);
        let (code, stderr) = exit_within(cmd, Duration::from_secs(8));
        out.push((name, code, stderr));
    }
    out
}

#[test]
fn no_region_anywhere_stops_run_once_and_stream_at_start_with_78_saying_where_to_set_one() {
    let dir = scratch("noregion");
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    for (name, code, stderr) in each_command(&dir, &env) {
        assert_eq!(code, Some(78), "{name}: {stderr}");
        assert!(
            stderr.contains("no AWS region is configured"),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("AWS_REGION"), "{name}: {stderr}");
        assert!(stderr.contains("~/.aws/config"), "{name}: {stderr}");
        let option = if name == "stream" {
            "--region"
        } else {
            "`[kinesis] region`"
        };
        assert!(stderr.contains(option), "{name}: {stderr}");
    }
}

#[test]
fn no_credentials_anywhere_stop_run_once_and_stream_at_start_with_78_naming_them() {
    let dir = scratch("nocreds");
    for (name, code, stderr) in each_command(&dir, &[("AWS_REGION", "us-east-1")]) {
        assert_eq!(code, Some(78), "{name}: {stderr}");
        assert!(
            stderr.contains("no AWS credentials found"),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{name}: {stderr}");
    }
}

#[test]
fn a_metadata_service_that_never_answers_delays_the_verdict_only_seconds() {
    // Off EC2 with the metadata service not disabled: here one on loopback that takes the
    // connection and never answers. The region lookup gives up in bounded time.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let imds = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.extend(conn.ok());
        }
    });
    let dir = scratch("imds");
    let config = config_without_region(&dir);
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = clean(
        &home,
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
        ],
    );
    cmd.args(["once", "--config", config.to_str().unwrap()]);
    // The SDK's own metadata client gives up in about 2 s here; the check's bound is 10 s.
    let (code, stderr) = exit_within(cmd, Duration::from_secs(15));
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("no AWS region is configured"), "{stderr}");
}

#[tokio::test]
async fn an_endpoint_that_is_not_kinesis_stops_the_put_naming_its_answer_and_sets_nothing_aside() {
    // `[kinesis] endpoint_url` names a web server (here the test site itself): every put is
    // answered with a page of HTML. That is a refusal by whatever answered, not a lost answer:
    // no record is resent, set aside or counted as sent, and the cursor stays where it was.
    let rig = Rig::new("wrongport", &["--books", "4", "--per-page", "4"], FAST).await;
    let config = write_config(&rig.dir, &rig.site_url, &rig.site_url, "wrongport", FAST);
    let (status, log) = finished(spawn_once(&config)).await;
    assert!(!status.success(), "{log}");
    let cycles = common::named(&log, "cycle_finished");
    assert_eq!(cycles.len(), 1, "{log}");
    assert_eq!(cycles[0]["sent"], 0, "{log}");
    let error = cycles[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Kinesis rejected the put to stream `wrongport`")
            && error.contains("HTTP 405 with an answer that is not the service's"),
        "{log}"
    );
    assert!(
        common::named(&log, "put_outcome_unknown").is_empty(),
        "{log}"
    );
    assert!(
        common::named(&log, "record_dead_lettered").is_empty(),
        "{log}"
    );
    let state = rig.dir.join("state");
    assert!(!state.join("dead-letter.jsonl").exists(), "{log}");
    let cursor: serde_json::Value = std::fs::read(state.join("cursor.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or_default();
    assert_eq!(cursor["sent_total"].as_u64().unwrap_or(0), 0, "{cursor}");
    assert!(cursor["last_key"].is_null(), "{cursor}");
    assert!(rig.upcs().await.is_empty());
}
