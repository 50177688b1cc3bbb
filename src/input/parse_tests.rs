//! The grammar's tests: every problem names its element, line and byte offset and what was
//! expected; stops are stops, not errors.

use super::*;
use serde_json::Value;

/// The parse's problem, or the objects it found.
fn parsed(bytes: &[u8], format: Format) -> Result<Vec<Value>, Problem> {
    let mut out = Vec::new();
    let reader: Box<dyn Read> = Box::new(io::Cursor::new(bytes.to_vec()));
    parse(reader, format, &Source::Stdin, &mut |_, bytes| {
        out.push(serde_json::from_slice(bytes).map_err(|e| e.to_string())?);
        Ok(Step::More)
    })
    .map_err(|e| e.problem)?;
    Ok(out)
}

fn read_all(bytes: &[u8], format: Format) -> Result<Vec<Value>, String> {
    parsed(bytes, format).map_err(|p| p.to_string())
}

/// A reader that returns one byte per read: every character is split across reads.
struct Dribble(io::Cursor<Vec<u8>>);
impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn arrays_and_lines_give_the_same_objects() {
    let tricky = br#"[{"s": "a \"}] {[", "n": {"m": [1, {"x": "]"}]}}, {"e": "\\"}]"#;
    let t = read_all(tricky, Format::Array).unwrap();
    assert_eq!(t.len(), 2, "brackets and quotes inside strings are text");
    assert_eq!(t[0]["s"], "a \"}] {[");
    assert_eq!(t[1]["e"], "\\");
    let array = br#" [ {"title": "caf\u00e9", "upc": "a"}, {"upc": "b", "n": 1} ] "#;
    let lines = b"{\"title\": \"caf\xc3\xa9\", \"upc\": \"a\"}\n\n{\"upc\": \"b\", \"n\": 1}\n";
    let a = read_all(array, Format::Array).unwrap();
    assert_eq!(a, read_all(lines, Format::Lines).unwrap());
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["title"], "café");
    assert_eq!(read_all(b"[]", Format::Array).unwrap(), Vec::<Value>::new());
}

#[test]
fn multibyte_characters_split_across_reads_are_whole() {
    let text = "[{\"title\": \"£51.77 — 日本\"}]".as_bytes().to_vec();
    let reader: Box<dyn Read> = Box::new(Dribble(io::Cursor::new(text)));
    let mut got = Vec::new();
    parse(reader, Format::Array, &Source::Stdin, &mut |_, bytes| {
        got.push(serde_json::from_slice::<Value>(bytes).unwrap());
        Ok(Step::More)
    })
    .unwrap();
    assert_eq!(got[0]["title"], "£51.77 — 日本");
}

/// Each problem in full: what it is, where (element, line, byte offset), what was expected.
#[test]
fn each_bad_input_says_where_it_is_and_what_was_expected() {
    let cases: &[(&[u8], Format, &str)] = &[
        (
            b"  \n",
            Format::Array,
            "is empty; expected a JSON array of objects",
        ),
        (
            b"\n",
            Format::Lines,
            "is empty; expected JSON Lines (one JSON object per line)",
        ),
        (
            b"  <html>",
            Format::Array,
            "looks like HTML or XML, not JSON (byte offset 2); expected a JSON array of objects",
        ),
        (
            b"[{\"t\": \"caf\xe9\"}]",
            Format::Array,
            "not UTF-8 text (invalid byte at offset 11); expected a JSON array of objects",
        ),
        (
            b"{\"a\": 1}",
            Format::Array,
            "expected a JSON array of objects, got a JSON object",
        ),
        (
            b"\n\n{\"a\": }",
            Format::Array,
            "not valid JSON (line 3, column 7): expected value at line 1 column 7; \
             expected a JSON array of objects",
        ),
        (
            b"[{\"a\": 1},\n 2]",
            Format::Array,
            "element 1 is a JSON number, not an object (line 2, byte offset 12); \
             expected a JSON array of objects",
        ),
        (
            b"[\n{\"a\": 1},\n{\"a\": }]",
            Format::Array,
            "not valid JSON in element 1 (line 3, byte offset 12): expected value at line 1 column 7",
        ),
        (
            b"[{\"a\": 1}, {\"a\": \"}",
            Format::Array,
            "not valid JSON in element 1 (line 1, byte offset 11): the input ends inside it; \
             expected its closing `}`",
        ),
        (
            b"[{\"a\": 1},\n",
            Format::Array,
            "not valid JSON: the input ends inside the array, after 1 element(s) \
             (line 2, byte offset 11); expected `,` or `]`",
        ),
        (
            b"[{\"a\": 1},]",
            Format::Array,
            "not valid JSON: a `,` with no element after it before `]` (line 1, byte offset 10); \
             expected an object after each `,`",
        ),
        (
            b"[{\"a\": 1} {\"b\": 2}]",
            Format::Array,
            "not valid JSON: expected `,` or `]` after element 0, found `{` (line 1, byte offset 10)",
        ),
        (
            b"[{\"a\": 1}]\n x",
            Format::Array,
            "not valid JSON: trailing characters after the array (`x`, line 2, byte offset 12); \
             expected nothing after its closing `]`",
        ),
        (
            b"{\"a\": 1}\n\n[1]\n",
            Format::Lines,
            "line 3 is a JSON array, not an object (element 1, byte offset 10); \
             expected JSON Lines (one JSON object per line)",
        ),
        (
            // Blank lines before the first line count (they are skipped before it).
            b"\n\n{\"a\": 1}\n[1]\n",
            Format::Lines,
            "line 4 is a JSON array, not an object (element 1, byte offset 11); \
             expected JSON Lines (one JSON object per line)",
        ),
        (
            b"{\"a\": 1}\n{\"a\": \n",
            Format::Lines,
            "not valid JSON in line 2 (element 1, byte offset 9): EOF while parsing a value at line 2 column 0",
        ),
    ];
    for (bytes, format, expect) in cases {
        let err = read_all(bytes, *format).unwrap_err();
        assert_eq!(&err, expect, "{:?}", String::from_utf8_lossy(bytes));
    }
}

#[test]
fn a_problem_in_an_element_carries_its_index_line_and_offset() {
    let text = b"[\n  {\"a\": 1},\n  {\"a\": 2},\n  {\"a\": x}\n]";
    match parsed(text, Format::Array).unwrap_err() {
        Problem::InvalidElement { at, .. } => assert_eq!(
            at,
            At {
                format: Format::Array,
                element: 2,
                line: 4,
                offset: 28,
            }
        ),
        other => panic!("{other}"),
    }
    assert_eq!(&text[28..30], b"{\"");
}

#[test]
fn a_consumer_gone_ends_the_parse_as_stopped_not_as_bad_input() {
    /// Two elements, then the feed says its consumer is gone.
    struct Gone(Option<Vec<u8>>);
    impl Read for Gone {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.take() {
                Some(text) => {
                    buf[..text.len()].copy_from_slice(&text);
                    Ok(text.len())
                }
                None => Err(io::Error::other(ConsumerGone)),
            }
        }
    }
    let text = br#"[{"a":1},{"a":2},{"a""#.to_vec();
    let ended = parse(
        Box::new(Gone(Some(text))),
        Format::Array,
        &Source::Stdin,
        &mut |_, _| Ok(Step::More),
    )
    .unwrap();
    assert_eq!(ended, Ended::Stopped(2));
}

#[test]
fn a_failed_read_names_its_offset() {
    struct Broken(bool);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if std::mem::replace(&mut self.0, true) {
                return Err(io::Error::other("disk on fire"));
            }
            buf[..9].copy_from_slice(br#"[{"a":1},"#);
            Ok(9)
        }
    }
    let err = parse(
        Box::new(Broken(false)),
        Format::Array,
        &Source::File("books.json".into()),
        &mut |_, _| Ok(Step::More),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "books.json: reading it failed at byte offset 9: disk on fire"
    );
}

#[test]
fn a_sink_that_says_stop_stops_the_parse_with_the_exact_count() {
    for (bytes, format) in [
        (&br#"[{"a":1},{"a":2},{"a":3}]"#[..], Format::Array),
        (&b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"[..], Format::Lines),
    ] {
        let mut seen = 0;
        let reader: Box<dyn Read> = Box::new(io::Cursor::new(bytes.to_vec()));
        let ended = parse(reader, format, &Source::Stdin, &mut |_, _| {
            seen += 1;
            Ok(if seen < 2 { Step::More } else { Step::Stop })
        })
        .unwrap();
        assert_eq!(
            ended,
            Ended::Stopped(1),
            "{format:?}: one handed over in full"
        );
        assert_eq!(seen, 2);
    }
}

#[test]
fn a_line_over_the_cap_is_refused_naming_its_number_and_offset() {
    let mut text = b"{\"a\":1}\n\n".to_vec();
    let long = MAX_ELEMENT_BYTES + 10;
    text.push(b'{');
    text.resize(text.len() + long, b' ');
    let err = read_all(&text, Format::Lines).unwrap_err();
    assert!(
        err.contains(
            "line 3 (from byte offset 9) is longer than 67108864 bytes, the most one record may take; \
             refused before reading more of it (element 1)"
        ),
        "{err}"
    );
    // A line of exactly the cap (plus its newline) is taken.
    let mut ok = b"{}".to_vec();
    ok.resize(MAX_ELEMENT_BYTES, b' ');
    ok.push(b'\n');
    assert_eq!(read_all(&ok, Format::Lines).unwrap().len(), 1);
}

#[test]
fn the_element_scan_finds_the_same_ends_however_the_input_is_split() {
    let tricky =
        br#"[{"s": "a \"}] {[", "b": "\\", "n": {"m": [1, {"x": "]\\\""}]}}, {"e": "\\\\"},
        {"u": "\u00e9 \" } ]", "k": [[], {}]}]"#;
    let whole = read_all(tricky, Format::Array).unwrap();
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[0]["b"], "\\");
    assert_eq!(whole[2]["u"], "é \" } ]");
    let reader: Box<dyn Read> = Box::new(Dribble(io::Cursor::new(tricky.to_vec())));
    let mut split = Vec::new();
    parse(reader, Format::Array, &Source::Stdin, &mut |_, bytes| {
        split.push(serde_json::from_slice::<Value>(bytes).unwrap());
        Ok(Step::More)
    })
    .unwrap();
    assert_eq!(
        split, whole,
        "one byte per read: escapes and quotes split across reads"
    );
}
