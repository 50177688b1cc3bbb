//! The events' own checks: names unique and all listed, and what a few events write, pinned
//! as the JSON log shows it (level, target, fields in order, message), so that the `events!`
//! declarations are known to write what the hand-written calls before them wrote.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::Event;
use super::{backfill, daemon, kinesis, scrape, signals};

#[test]
fn every_event_name_is_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for name in super::NAMES.iter().flat_map(|room| room.iter()) {
        assert!(seen.insert(*name), "event name `{name}` is used twice");
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "event name `{name}` is not snake_case"
        );
    }
}

/// Each room's `events!` makes its `NAMES`; this reads every event declared in `src/events/`
/// (a `"name" => Type` entry of a room's `events!`, or a hand-written `const NAME`) and wants
/// each in [`super::NAMES`], so that an event declared outside its room's `events!` cannot
/// escape the uniqueness check.
#[test]
fn every_declared_event_is_listed_in_names() {
    let listed: Vec<&str> = super::NAMES
        .iter()
        .flat_map(|room| room.iter().copied())
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/events");
    let mut declared = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry of src/events").path();
        if path.extension().is_none_or(|x| x != "rs") || path.ends_with("tests.rs") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in text.lines().map(str::trim) {
            let Some(rest) = line
                .strip_prefix("const NAME: &'static str = \"")
                .or_else(|| line.strip_prefix('"').filter(|r| r.contains("\" => ")))
            else {
                continue;
            };
            let name = rest.split('"').next().unwrap_or_default();
            declared += 1;
            assert!(
                listed.contains(&name),
                "{}: event `{name}` is missing from its room's NAMES",
                path.display()
            );
        }
    }
    assert_eq!(
        declared,
        listed.len(),
        "NAMES lists a name no event declares"
    );
}

/// A `Write` into a shared buffer, for a subscriber the test reads back.
#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JSON lines (as `--log-format json` writes them, without the time) that `emit` writes.
fn json_lines(emit: impl FnOnce()) -> Vec<String> {
    let buffer = Buffer(Arc::new(Mutex::new(Vec::new())));
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .without_time()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let bytes = buffer.0.lock().expect("buffer lock").clone();
    String::from_utf8(bytes)
        .expect("JSON lines are UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn declared_events_write_their_name_level_target_fields_and_message() {
    let url = url::Url::parse("http://127.0.0.1:8080/catalogue/a_1/index.html").expect("a URL");
    let stats = crate::kinesis::backfill::Stats {
        read: 10,
        sent: 9,
        bytes: 999,
        retried: 1,
        throttled: 4,
        ..Default::default()
    };
    let lines = json_lines(|| {
        signals::StopRequested { signal: "SIGTERM" }.emit();
        daemon::TickMissed.emit();
        daemon::ConfigReloaded {
            config: Path::new("/etc/bookstream.toml"),
        }
        .emit();
        kinesis::RecordSent {
            stream: "books",
            upc: "a897fe39b1053632",
            sequence_number: "4955",
            shard_id: "shardId-000000000000",
            attempt: 2,
            possible_duplicates: 1,
            index: 3,
            lateness_us: -12,
            put_ms: 4,
        }
        .emit();
        kinesis::PutRetrying {
            put: kinesis::Put {
                stream: "books",
                upc: "a897fe39b1053632",
                attempt: 1,
                error: "throttled",
            },
            retry_in_ms: 200,
        }
        .emit();
        scrape::ProductPageGone {
            url: &url,
            status: reqwest::StatusCode::GONE,
        }
        .emit();
        backfill::BackfillProgress {
            stats: &stats,
            total: None,
            records_per_sec: 123.6,
        }
        .emit();
    });
    let expected = [
        r#"{"level":"INFO","message":"stopping on SIGTERM","event":"stop_requested","signal":"SIGTERM","target":"bookstream::daemon"}"#,
        r#"{"level":"WARN","message":"no tick from the scheduler half a slot after one was due (did the wall clock step?); running the cycle on the monotonic clock","event":"tick_missed","target":"bookstream::daemon"}"#,
        r#"{"level":"INFO","message":"configuration reloaded from /etc/bookstream.toml; applies from the next cycle","event":"config_reloaded","config":"/etc/bookstream.toml","target":"bookstream::daemon"}"#,
        r#"{"level":"INFO","message":"record sent: upc a897fe39b1053632 seq 4955 shard shardId-000000000000 (attempt 2)","event":"record_sent","stream":"books","sequence_number":"4955","shard_id":"shardId-000000000000","upc":"a897fe39b1053632","attempt":2,"possible_duplicates":1,"index":3,"lateness_us":-12,"put_ms":4,"target":"bookstream::kinesis::producer"}"#,
        r#"{"level":"WARN","message":"put failed; retrying: upc a897fe39b1053632 attempt 1 to books again in 200 ms: throttled","event":"put_retrying","stream":"books","upc":"a897fe39b1053632","attempt":1,"error":"throttled","retry_in_ms":200,"target":"bookstream::kinesis::producer"}"#,
        r#"{"level":"INFO","message":"product page http://127.0.0.1:8080/catalogue/a_1/index.html answers 410 Gone: the book is gone","event":"product_page_gone","url":"http://127.0.0.1:8080/catalogue/a_1/index.html","status":410,"target":"bookstream::scrape"}"#,
        r#"{"level":"INFO","message":"backfill progress: 9 of ? records sent, 999 bytes, 124 records/s, 4 throttled, 1 retried","event":"backfill_progress","sent":9,"read":10,"bytes":999,"throttled":4,"retried":1,"records_per_sec":123,"target":"bookstream::commands::progress"}"#,
    ];
    assert_eq!(lines, expected);
}
