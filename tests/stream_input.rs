//! Bad input to `bookstream stream`: each case is a clear message naming the file or URL and
//! what was expected, a non-zero exit, and nothing sent (the stream is read back empty).

mod common;

use common::{Moto, Site, bookstream, scratch, stderr};

/// Runs `stream` on `source` (`--json-file` or `--json-url`) and checks the refusal.
async fn refused(moto: &Moto, stream: &str, flag: &str, source: &str, expect: &[&str]) {
    let out = bookstream()
        .args([
            "stream",
            "--stream-name",
            stream,
            "-i",
            "10ms",
            flag,
            source,
        ])
        .args(["--endpoint-url", &moto.endpoint])
        .output()
        .unwrap();
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{source}: {log}");
    assert!(log.contains(source), "names the input: {log}");
    for needle in expect {
        assert!(
            log.contains(needle),
            "{source}: expected {needle:?} in {log}"
        );
    }
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        moto.read_back(stream).await.is_empty(),
        "{source}: something was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_bad_input_is_a_clear_error_and_nothing_is_sent() {
    let moto = Moto::start();
    moto.create_stream("input", 1).await;
    let dir = scratch("input");
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let cases: [(&str, &[u8], &[&str]); 6] = [
        (
            "object.json",
            br#"{"title": "x"}"#,
            &["expected a JSON array of objects, got a JSON object"],
        ),
        (
            "mixed.json",
            br#"[{"a": 1}, 2, {"b": 3}]"#,
            &["element 1 is a JSON number, not an object"],
        ),
        ("empty.json", b"", &["is empty"]),
        ("blank.json", b" \n\t ", &["is empty"]),
        (
            "latin1.json",
            b"[{\"title\": \"caf\xe9\"}]",
            &["not UTF-8", "offset 15"],
        ),
        (
            "broken.json",
            br#"[{"title": "x"},"#,
            &["not valid JSON", "line 1"],
        ),
    ];
    for (name, bytes, expect) in cases {
        refused(&moto, "input", "--json-file", &file(name, bytes), expect).await;
    }
    refused(
        &moto,
        "input",
        "--json-file",
        "/nonexistent/books.json",
        &["No such file"],
    )
    .await;

    let site = Site::start(&["--books", "10", "--per-page", "10"]);
    let missing = format!("{}nope.json", site.url);
    refused(&moto, "input", "--json-url", &missing, &["HTTP 404"]).await;
    let html = format!("{}index.html", site.url);
    refused(&moto, "input", "--json-url", &html, &["looks like HTML"]).await;
}

#[test]
fn absurd_numbers_are_clear_errors_never_panics() {
    for interval in ["1e300", "-1", "1e-12", "nan", "inf", "25h"] {
        let out = bookstream()
            .args([
                "stream",
                "--stream-name",
                "s",
                "-i",
                interval,
                "--json-file",
                "/dev/null",
            ])
            .output()
            .unwrap();
        let log = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "-i {interval}: {log}");
        assert!(
            log.contains("--interval") && log.contains("expected"),
            "{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
    }
    let out = bookstream()
        .args([
            "scrape",
            "--site",
            "http://127.0.0.1:9/",
            "--timeout",
            "999999999999y",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_lines_line_past_the_cap_is_refused_early_in_bounded_memory() {
    let moto = Moto::start();
    moto.create_stream("huge", 1).await;
    // A 200 MiB line with no newline, streamed through a pipe: refused at the cap (64 MiB,
    // that of an array element), not read whole. The child's peak RSS comes from its parent,
    // a small Python wrapper (getrusage of its one child).
    const LINE: usize = 200 * 1024 * 1024;
    const CAP: usize = 64 * 1024 * 1024;
    let wrapper = "import resource, subprocess, sys\n\
        code = subprocess.run(sys.argv[1:]).returncode\n\
        print('maxrss_kib=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
        sys.exit(code)";
    let binary = env!("CARGO_BIN_EXE_bookstream");
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            wrapper,
            binary,
            "stream",
            "--stream-name",
            "huge",
            "-i",
            "0",
        ])
        .args([
            "--json-file",
            "-",
            "--json-lines",
            "--endpoint-url",
            &moto.endpoint,
        ])
        .envs(
            bookstream()
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (moto's interpreter) runs the child");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let block = vec![b'a'; 1024 * 1024];
        let mut written = std::io::Write::write_all(&mut stdin, b"{\"title\": \"").map(|_| 11);
        while let Ok(n) = written {
            if n >= LINE {
                break;
            }
            // A broken pipe once the child has refused the line ends the writing.
            written = std::io::Write::write_all(&mut stdin, &block).map(|_| n + block.len());
        }
        written.is_ok()
    });
    let out = child.wait_with_output().unwrap();
    let wrote_all = writer.join().unwrap();
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "<stdin>: line 1 (from byte offset 0) is longer than {CAP} bytes"
        )),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(!wrote_all, "refused before the whole line was read");
    let peak_kib: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss from the wrapper: {log}"));
    eprintln!(
        "peak RSS {} MiB for a {} MiB line",
        peak_kib / 1024,
        LINE >> 20
    );
    assert!(
        peak_kib * 1024 < CAP * 2,
        "peak RSS {} MiB: the line was held well past the cap",
        peak_kib / 1024
    );
    assert!(moto.read_back("huge").await.is_empty(), "nothing was sent");
}
