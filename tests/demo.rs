//! The README's first set-up command, `bookstream demo`, end to end: it starts its own
//! moto_server and test site, runs two cycles, writes Firehose-shaped JSON Lines objects whose
//! every record validates against `bookstream schema`, and ends with a SQL answer over them.

mod common;

#[test]
fn demo_streams_two_cycles_writes_json_lines_and_ends_with_a_query_answer() {
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
            l.strip_prefix(
                "as Firehose would buffer them into S3 (JSON Lines, the template's StorageFormat=jsonl): ",
            )
        })
        .unwrap_or_else(|| panic!("no object path in {stdout}"));
    assert!(object.contains("/json_data/"), "{object}");
    let body = std::fs::read_to_string(object).unwrap();
    assert_eq!(body.lines().count(), 6, "six records, one a line: {body}");
    assert!(body.ends_with("}\n") && !body.contains("\n\n"), "{body}");
    assert!(body.starts_with("{\"title\":"), "{body}");
    let changes = stdout
        .lines()
        .find_map(|l| l.strip_prefix("the change events as Firehose would buffer them into S3: "))
        .unwrap_or_else(|| panic!("no change-event object in {stdout}"));
    // Every record of both modes validates against the schema derived from the record types.
    let schema = std::env::temp_dir().join(format!("demo-schema-{}.json", std::process::id()));
    let printed = common::run(&["schema", "--format", "json-schema"]);
    assert!(printed.status.success(), "{}", common::stderr(&printed));
    std::fs::write(&schema, &printed.stdout).unwrap();
    let validated = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/lake/validate.py"
        ))
        .args([schema.to_str().unwrap(), object, changes])
        .output()
        .expect("python3 must be installed");
    let said = String::from_utf8_lossy(&validated.stdout);
    assert!(
        validated.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&validated.stderr)
    );
    assert_eq!(said.trim(), "9 records in 2 objects valid");
    // The change feed: version 0 -> 1, the first 3 events (added books come first).
    let feed = stdout
        .split_once("3 change events in stream bookstream-demo-changes")
        .unwrap_or_else(|| panic!("no change feed in {stdout}"))
        .1;
    assert!(feed.contains("added"), "{feed}");
    assert!(stderr.contains("3/3 changes sent, backlog"), "{stderr}");
    // The site changed after the changes mode's first cycle (which found nothing): the next
    // cycle's walk, listing pages and a few product pages, brought the change to the stream.
    assert!(
        stderr.contains("demo: changes mode: cycle 1: no changes since"),
        "{stderr}"
    );
    let within = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("demo: the site's change reached the stream within one cycle: 3 change events readable ")
        })
        .unwrap_or_else(|| panic!("no change within a cycle in {stderr}"));
    let asked: u64 = within
        .split_once("that cycle's walk asked for ")
        .and_then(|(_, r)| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no page count in {within}"));
    assert!(
        (50..200).contains(&asked),
        "50 listing pages and the product pages of the changed entries, not 1,050: {within}"
    );
    // The metrics path: 6 catalogue records and 3 change events in 4 cycles.
    assert!(
        stdout.contains("RecordsSent 9, Cycles 4, SendLateness max"),
        "{stdout}"
    );
    // The last lines: the template's query over those files, and its answer: one row for each
    // book the records name (no `removed` event among the first three).
    let mut upcs = std::collections::BTreeSet::new();
    for path in [object, changes] {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_ne!(record["event"], "removed", "{line}");
            upcs.insert(record["upc"].as_str().unwrap().to_owned());
        }
    }
    let lake = stdout
        .split_once("the template's Athena query \"bookstream current catalogue\":\n")
        .unwrap_or_else(|| panic!("no query in {stdout}"))
        .1;
    assert!(lake.starts_with("  SELECT upc, title, price"), "{lake}");
    assert!(
        lake.contains(&format!(
            "\n{} books in the current catalogue (the latest record of each UPC",
            upcs.len()
        )),
        "{lake}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("books per category: "), "{stdout}");
}
