//! The config's tests: inline cases, and the folders of valid and invalid files
//! (`tests/config_test/`, after rathole's `tests/config_test/`).

use super::*;
use std::path::PathBuf;

const MINIMAL: &str = "[kinesis]\nstream_name = \"books\"\n";

#[test]
fn defaults_fill_everything_but_the_stream_name() {
    let file = Path::new("t.toml");
    let cfg = Config::from_toml(MINIMAL, file).unwrap();
    assert_eq!(cfg.stream.interval, Duration::from_secs(1));
    assert_eq!(cfg.stream.max_records, 60);
    assert_eq!(cfg.site.concurrency, 8);
    assert_eq!(
        cfg.site.refresh,
        Duration::from_secs(60),
        "a walk every cycle"
    );
    assert_eq!(cfg.schedule.cron, "0 * * * * *");
    assert_eq!(cfg.kinesis.partition_key, "{upc}");
    let settings = cfg.validate(file).unwrap();
    assert_eq!(settings.schedule.expr(), "0 * * * * *");
    assert_eq!(
        settings.kinesis.partition_key,
        PartitionKey::Field("upc".into())
    );
    assert_eq!(settings.site.pages, None, "pages = 0 is all of them");
    assert_eq!(settings.site.fetch.attempts, cfg.site.attempts);
    assert_eq!(settings.site.fetch.max_body_bytes, cfg.site.max_page_bytes);
}

#[test]
fn a_page_limit_and_a_fixed_key_are_typed_once() {
    let text = format!("{MINIMAL}partition_key = \"No\"\n[site]\npages = 3\n");
    let settings = Config::from_toml(&text, Path::new("t.toml"))
        .and_then(|c| c.validate(Path::new("t.toml")))
        .unwrap();
    assert_eq!(settings.site.pages, Some(3));
    assert_eq!(
        settings.kinesis.partition_key,
        PartitionKey::Fixed("No".into())
    );
}

#[test]
fn effective_settings_print_as_toml_that_loads_back() {
    let cfg = Config::from_toml(MINIMAL, Path::new("t.toml")).unwrap();
    let again = Config::from_toml(&cfg.to_toml(), Path::new("printed.toml")).unwrap();
    assert_eq!(again, cfg);
    again.validate(Path::new("printed.toml")).unwrap();
}

#[test]
fn shipped_config_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bookstream.toml");
    Settings::load(&path).unwrap();
}

fn err(text: &str) -> String {
    let file = Path::new("bad.toml");
    Config::from_toml(text, file)
        .and_then(|cfg| cfg.validate(file))
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_values_are_named_with_file_and_key() {
    let cases = [
        ("[site]\nbase_url = \"ftp://x\"\n", "site.base_url"),
        ("[site]\nconcurrency = 0\n", "site.concurrency"),
        ("[stream]\ninterval = \"0s\"\n", "stream.interval"),
        ("[stream]\ninterval = \"100000000y\"\n", "stream.interval"),
        ("[stream]\nmax_records = 4294967295\n", "stream.max_records"),
        (
            "[site]\nrequest_timeout = \"11m\"\n",
            "site.request_timeout",
        ),
        ("[site]\nrefresh = \"31days\"\n", "site.refresh"),
        ("[site]\nattempts = 1000000\n", "site.attempts"),
        ("[site]\nmax_page_bytes = 0\n", "site.max_page_bytes"),
        ("[site]\nmax_shrink = 1.5\n", "site.max_shrink"),
        ("[site]\nmax_shrink = -0.1\n", "site.max_shrink"),
        (
            "[site]\nmax_requests_per_sec = 0.0\n",
            "site.max_requests_per_sec",
        ),
        ("[site]\nremoved_after = 0\n", "site.removed_after"),
        (
            "[site]\nmax_requests_per_sec = 5000.0\n",
            "site.max_requests_per_sec",
        ),
        ("[schedule]\ncron = \"every minute\"\n", "schedule.cron"),
        (
            "[state]\ndead_letter_max_bytes = 0\n",
            "state.dead_letter_max_bytes",
        ),
        (
            "[state]\ndead_letter_files = 0\n",
            "state.dead_letter_files",
        ),
    ];
    for (extra, key) in cases {
        let msg = err(&format!("{MINIMAL}{extra}"));
        assert!(
            msg.starts_with("bad.toml: ") && msg.contains(key),
            "{key}: {msg}"
        );
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_rejected() {
    let msg = err(&format!("{MINIMAL}[site]\nbase_ulr = \"http://x\"\n"));
    assert!(msg.contains("base_ulr"), "{msg}");
    let msg = err(&format!("{MINIMAL}[stream]\ninterval = \"soon\"\n"));
    assert!(msg.contains("expected a duration"), "{msg}");
    let msg = err(&format!("{MINIMAL}[stream]\nmax_records = \"many\"\n"));
    assert!(msg.contains("max_records"), "{msg}");
    let msg = err("[site]\npages = 1\n");
    assert!(msg.contains("kinesis"), "{msg}");
}

/// The `.toml` files of one folder under `tests/config_test/`.
fn files(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config_test")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .toml files in {}", dir.display());
    files
}

#[test]
fn every_file_in_the_valid_folder_loads_and_prints_back() {
    for path in files("valid") {
        let cfg = Config::load(&path).unwrap();
        cfg.validate(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again = Config::from_toml(&cfg.to_toml(), &path).unwrap();
        assert_eq!(again, cfg, "{}", path.display());
    }
}

/// Each invalid file's first line is `# error names: WHAT`: the error must start with the
/// file's path and contain WHAT (the key, or what was expected).
#[test]
fn every_file_in_the_invalid_folder_is_refused_naming_the_file_and_what_is_wrong() {
    for path in files("invalid") {
        let text = std::fs::read_to_string(&path).unwrap();
        let what = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error names: "))
            .unwrap_or_else(|| panic!("{}: first line `# error names: ...`", path.display()));
        let err = Settings::load(&path)
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", path.display()))
            .to_string();
        assert!(
            err.starts_with(&format!("{}: ", path.display())) && err.contains(what),
            "{}: expected an error naming {what:?}, got: {err}",
            path.display()
        );
    }
}

/// Every key of `valid/every_key.toml` reaches the settings, typed: none is dropped or
/// swapped for its default on the way from `Config` to `Settings`.
#[test]
fn every_key_set_in_the_file_reaches_the_settings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_test/valid/every_key.toml");
    let s = Settings::load(&path).unwrap();
    let secs = Duration::from_secs;
    assert_eq!(s.site.base_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(s.site.pages, Some(3));
    assert_eq!(s.site.concurrency, 4);
    assert_eq!(s.site.refresh, Duration::ZERO);
    assert_eq!(s.site.max_shrink, 1.0);
    assert_eq!(s.site.max_requests_per_sec, 10.0);
    assert_eq!(s.site.removed_after, 3);
    assert_eq!(s.site.verify_every, secs(7200));
    assert_eq!(s.site.fetch.request_timeout, secs(5));
    assert_eq!(s.site.fetch.user_agent, "bookstream-test/1");
    assert_eq!(s.site.fetch.attempts, 2);
    assert_eq!(s.site.fetch.max_body_bytes, 1_048_576);
    assert_eq!(s.kinesis.stream_name, "books.stream_2");
    assert_eq!(s.kinesis.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        s.kinesis.endpoint_url.as_ref().map(|u| u.as_str()),
        Some("http://127.0.0.1:4566/")
    );
    assert_eq!(s.kinesis.partition_key, PartitionKey::Fixed("fixed".into()));
    assert_eq!(s.stream.interval, Duration::from_millis(250));
    assert_eq!(s.stream.max_records, 100);
    assert_eq!(s.stream.record_delimiter, Delimiter::Newline);
    assert_eq!(s.stream.mode, Mode::Changes);
    assert!(!s.stream.initial_snapshot);
    assert_eq!(s.schedule.expr(), "*/10 * * * * *");
    assert_eq!(s.state.dir, Path::new("/tmp/bookstream-state"));
    assert_eq!(s.state.dead_letter_max_bytes, 1024);
    assert_eq!(s.state.dead_letter_files, 2);
    assert!(s.metrics.cloudwatch);
    assert_eq!(s.metrics.namespace, "bookstream/test");
    assert_eq!(
        s.metrics.endpoint_url.as_ref().map(|u| u.as_str()),
        Some("http://127.0.0.1:4567/")
    );
}
