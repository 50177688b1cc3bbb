//! The README's first set-up command, `bookstream demo`, end to end: it starts its own
//! moto_server and test site, runs two cycles and writes a Firehose-shaped object.

mod common;

#[test]
fn demo_streams_two_cycles_and_writes_a_firehose_shaped_object() {
    let out = common::bookstream()
        .args(["demo", "--records", "3", "--interval", "20ms"])
        .output()
        .expect("run bookstream demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("6 records in stream bookstream-demo"),
        "{stdout}"
    );
    assert!(
        stderr.contains("cycle 1: 3/3 sent, cursor 3/1000"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cycle 2: 3/3 sent, cursor 6/1000"),
        "{stderr}"
    );
    let object = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("as Firehose would buffer them into S3 (records back to back): ")
        })
        .unwrap_or_else(|| panic!("no object path in {stdout}"));
    assert!(object.contains("/json_data/"), "{object}");
    let body = std::fs::read_to_string(object).unwrap();
    assert_eq!(
        body.matches("}{").count(),
        5,
        "six objects back to back: {body}"
    );
    assert!(body.starts_with("{\"title\":"), "{body}");
    // The change feed: version 0 -> 1, the first 3 events (added books come first).
    let feed = stdout
        .split_once("3 change events in stream bookstream-demo-changes")
        .unwrap_or_else(|| panic!("no change feed in {stdout}"))
        .1;
    assert!(feed.contains("added"), "{feed}");
    assert!(stderr.contains("3/3 changes sent, backlog"), "{stderr}");
    // The metrics path: 6 catalogue records and 3 change events in 3 cycles.
    assert!(
        stdout.contains("RecordsSent 9, Cycles 3, SendLateness max"),
        "{stdout}"
    );
}
