//! The input's grammar: a JSON array of objects split by a byte scan (depth, strings, escapes),
//! each element decoded alone; or JSON Lines, each line capped like an element. Pure over a
//! `Read`: the threads and channels are in the parent module.

use std::io::{self, BufRead, Read};

use serde::de;

use super::{Format, InputError, Source};
use crate::json_text::Strings;

/// What to expect, in every message.
pub(super) const EXPECTED_ARRAY: &str = "expected a JSON array of objects";
pub(super) const EXPECTED_LINES: &str = "expected JSON Lines (one JSON object per line)";

/// What the sink says after an element: read on, or stop here (`max` reached, or the
/// consumer is gone). A stop is not an error of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    More,
    Stop,
}

/// How a parse ended, with the number of elements handed to the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// The whole input was read.
    Eof(u64),
    /// The sink said stop after this many elements.
    Stopped(u64),
}

impl Ended {
    pub(super) fn count(self) -> u64 {
        match self {
            Ended::Eof(n) | Ended::Stopped(n) => n,
        }
    }
}

/// What [`parse`] hands each element: its index and its bytes (one JSON object, found but not
/// yet decoded). The sink decodes them; `Err` is a decode error of that element.
pub(super) type Sink<'a> = &'a mut dyn FnMut(u64, &[u8]) -> Result<Step, String>;

/// A buffered reader that passes on only UTF-8 text: a bad byte is an error naming its offset,
/// and a character split across two reads is held back until it is whole.
struct Utf8Reader<R> {
    inner: R,
    buf: Box<[u8]>,
    /// `buf[start..valid]` is checked text not yet consumed; `buf[valid..end]` is the start of
    /// a character whose remaining bytes have not arrived yet.
    start: usize,
    valid: usize,
    end: usize,
    /// Offset in the input of `buf[0]`.
    base: u64,
}

impl<R: Read> Utf8Reader<R> {
    fn new(inner: R) -> Self {
        Utf8Reader {
            inner,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            start: 0,
            valid: 0,
            end: 0,
            base: 0,
        }
    }
}

impl<R: Read> BufRead for Utf8Reader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.start == self.valid {
            // Keep the incomplete character, drop what was consumed.
            let tail = self.end - self.valid;
            self.buf.copy_within(self.valid..self.end, 0);
            self.base += self.valid as u64;
            self.start = 0;
            self.valid = 0;
            self.end = tail;
            let n = self.inner.read(&mut self.buf[tail..])?;
            self.end += n;
            match std::str::from_utf8(&self.buf[..self.end]) {
                Ok(_) => self.valid = self.end,
                // Cut short by the end of this read: the rest of the character comes next.
                Err(e) if e.error_len().is_none() && n > 0 => self.valid = e.valid_up_to(),
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "not UTF-8 text (invalid byte at offset {})",
                            self.base + e.valid_up_to() as u64
                        ),
                    ));
                }
            }
            if n == 0 {
                break;
            }
        }
        Ok(&self.buf[self.start..self.valid])
    }

    fn consume(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.valid);
    }
}

impl<R: Read> Read for Utf8Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = out.len().min(available.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Parses `reader` and hands each element to `sink`; says how it ended and after how many.
pub(super) fn parse(
    reader: Box<dyn Read + '_>,
    format: Format,
    source: &Source,
    sink: Sink<'_>,
) -> Result<Ended, InputError> {
    let fail = |message: String| InputError {
        source_name: source.to_string(),
        message,
    };
    let expected = match format {
        Format::Array => EXPECTED_ARRAY,
        Format::Lines => EXPECTED_LINES,
    };
    let mut reader = Utf8Reader::new(reader);
    let first = first_non_space(&mut reader).map_err(|e| fail(format!("{e}; {expected}")))?;
    match first {
        None => return Err(fail(format!("is empty; {expected}"))),
        Some(b'<') => {
            return Err(fail(format!(
                "looks like HTML or XML, not JSON; {expected}"
            )));
        }
        _ => {}
    }
    match format {
        Format::Array => parse_array(reader, first, sink).map_err(fail),
        Format::Lines => parse_lines(reader, sink).map_err(fail),
    }
}

fn first_non_space(reader: &mut impl BufRead) -> io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// A serde_json error as the operator should read it: I/O errors (bad UTF-8) as they are,
/// parse errors with their line and column.
fn json_message(e: &serde_json::Error) -> String {
    if e.is_io() {
        return e.to_string();
    }
    format!("not valid JSON: {e}")
}

/// Largest element (or JSON Lines line) accepted: a Kinesis record holds 1 MiB, and a bigger
/// element is refused by name when it is sent, but it must first be read whole. Past this the
/// input is refused before more of it is held in memory.
pub const MAX_ELEMENT_BYTES: usize = 64 * 1024 * 1024;

fn parse_array(
    mut reader: impl BufRead,
    first: Option<u8>,
    sink: Sink<'_>,
) -> Result<Ended, String> {
    if first != Some(b'[') {
        // Say what it is instead, once it is known to be JSON at all.
        let mut de = serde_json::Deserializer::from_reader(reader);
        <de::IgnoredAny as de::Deserialize>::deserialize(&mut de).map_err(|e| json_message(&e))?;
        return Err(format!("{EXPECTED_ARRAY}, got a JSON {}", kind_of(first)));
    }
    reader.consume(1);
    // Each element's bytes are found by a scan (depth, strings, escapes) and decoded alone with
    // `from_slice`, which is many times faster than a deserializer pulling bytes from a reader.
    let mut scan = Scanner { line: 1 };
    let mut element = Vec::new();
    let mut count = 0u64;
    let mut expect_element = true;
    loop {
        let next = scan.skip_space(&mut reader).map_err(|e| e.to_string())?;
        match next {
            None => {
                return Err(format!(
                    "not valid JSON: the input ends inside the array, after element {} (line {})",
                    count.saturating_sub(1),
                    scan.line
                ));
            }
            Some(b']') if count == 0 || !expect_element => {
                reader.consume(1);
                break;
            }
            Some(b',') if !expect_element => {
                reader.consume(1);
                expect_element = true;
            }
            Some(b']') => {
                return Err(format!(
                    "not valid JSON: a `,` with no element after it before `]` (line {})",
                    scan.line
                ));
            }
            Some(b) if expect_element => {
                if b != b'{' {
                    return Err(format!(
                        "element {count} is a JSON {}, not an object (line {})",
                        kind_of(Some(b)),
                        scan.line
                    ));
                }
                let line = scan.line;
                element.clear();
                scan.object(&mut reader, &mut element)
                    .map_err(|e| format!("not valid JSON in element {count} (line {line}): {e}"))?;
                match sink(count, &element) {
                    Ok(Step::More) => {}
                    Ok(Step::Stop) => return Ok(Ended::Stopped(count)),
                    Err(e) => {
                        return Err(format!(
                            "not valid JSON in element {count} (from line {line}): {e}"
                        ));
                    }
                }
                count += 1;
                expect_element = false;
            }
            Some(b) => {
                return Err(format!(
                    "not valid JSON: expected `,` or `]` after element {}, found `{}` (line {})",
                    count.saturating_sub(1),
                    char::from(b),
                    scan.line
                ));
            }
        }
    }
    match scan.skip_space(&mut reader).map_err(|e| e.to_string())? {
        None => Ok(Ended::Eof(count)),
        Some(b) => Err(format!(
            "not valid JSON: trailing characters after the array (`{}`, line {})",
            char::from(b),
            scan.line
        )),
    }
}

/// What a value starting with `first` is.
fn kind_of(first: Option<u8>) -> &'static str {
    match first {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// Finds where values end without decoding them; counts lines for the messages.
struct Scanner {
    line: u64,
}

impl Scanner {
    /// The next byte that is not JSON whitespace, not consumed.
    fn skip_space(&mut self, reader: &mut impl BufRead) -> io::Result<Option<u8>> {
        loop {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut i = 0;
            while i < buf.len() && matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
                if buf[i] == b'\n' {
                    self.line += 1;
                }
                i += 1;
            }
            if i < buf.len() {
                let b = buf[i];
                reader.consume(i);
                return Ok(Some(b));
            }
            reader.consume(i);
        }
    }

    /// Appends to `out` the object that starts at the reader's next byte (`{`), through its
    /// closing `}`.
    fn object(&mut self, reader: &mut impl BufRead, out: &mut Vec<u8>) -> Result<(), String> {
        let mut depth = 0u32;
        let mut strings = Strings::default();
        loop {
            let buf = reader.fill_buf().map_err(|e| e.to_string())?;
            if buf.is_empty() {
                return Err("the input ends inside it".into());
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if strings.inside(b) {
                    continue;
                }
                match b {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    b'\n' => self.line += 1,
                    _ => {}
                }
            }
            let take = end.unwrap_or(buf.len());
            if out.len() + take > MAX_ELEMENT_BYTES {
                return Err(format!("larger than {MAX_ELEMENT_BYTES} bytes"));
            }
            out.extend_from_slice(&buf[..take]);
            reader.consume(take);
            if end.is_some() {
                return Ok(());
            }
        }
    }
}

fn parse_lines(mut reader: impl BufRead, sink: Sink<'_>) -> Result<Ended, String> {
    let mut line = Vec::new();
    let mut count = 0u64;
    let mut number = 0u64;
    // Byte offset of the line being read.
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = read_line(&mut reader, &mut line).map_err(|e| match e {
            LineError::Io(e) => e.to_string(),
            LineError::TooLong => format!(
                "line {} (from byte offset {offset}) is longer than {MAX_ELEMENT_BYTES} bytes, \
                 the most one record may take; refused before reading more of it; {EXPECTED_LINES}",
                number + 1
            ),
        })?;
        if n == 0 {
            return Ok(Ended::Eof(count));
        }
        number += 1;
        offset += n as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let first = line.iter().find(|b| !b.is_ascii_whitespace()).copied();
        if first != Some(b'{') {
            return Err(format!(
                "line {number} is a JSON {}, not an object; {EXPECTED_LINES}",
                kind_of(first)
            ));
        }
        match sink(count, &line) {
            Ok(Step::More) => {}
            Ok(Step::Stop) => return Ok(Ended::Stopped(count)),
            Err(e) => return Err(format!("line {number}: not valid JSON: {e}")),
        }
        count += 1;
    }
}

enum LineError {
    Io(io::Error),
    /// Over [`MAX_ELEMENT_BYTES`] without a newline.
    TooLong,
}

/// `read_until(b'\n')`, but refusing a line longer than [`MAX_ELEMENT_BYTES`] (plus its
/// newline) as soon as that is known: never more than that is held. Returns the bytes taken.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> Result<usize, LineError> {
    loop {
        let buf = reader.fill_buf().map_err(LineError::Io)?;
        if buf.is_empty() {
            return Ok(line.len());
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let content = line.len() + take - usize::from(done);
        if content > MAX_ELEMENT_BYTES {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if done {
            return Ok(line.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn read_all(bytes: &[u8], format: Format) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let reader: Box<dyn Read> = Box::new(io::Cursor::new(bytes.to_vec()));
        parse(reader, format, &Source::Stdin, &mut |_, bytes| {
            out.push(serde_json::from_slice(bytes).map_err(|e| e.to_string())?);
            Ok(Step::More)
        })
        .map_err(|e| e.message)?;
        Ok(out)
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

    #[test]
    fn each_bad_input_says_what_it_is_and_what_was_expected() {
        let cases: [(&[u8], Format, &str); 13] = [
            (
                br#"[{"a": 1} {"b": 2}]"#,
                Format::Array,
                "expected `,` or `]` after element 0, found `{`",
            ),
            (
                br#"[{"a": 1},]"#,
                Format::Array,
                "a `,` with no element after it",
            ),
            (
                b"[\n{\"a\": 1},\n{\"a\": }]",
                Format::Array,
                "not valid JSON in element 1 (from line 3)",
            ),
            (
                br#"[{"a": "}"#,
                Format::Array,
                "not valid JSON in element 0",
            ),
            (
                br#"{"a": 1}"#,
                Format::Array,
                "expected a JSON array of objects, got a JSON object",
            ),
            (
                br#"[{"a": 1}, 2]"#,
                Format::Array,
                "element 1 is a JSON number, not an object",
            ),
            (b"  \n", Format::Array, "is empty"),
            (b"<html>", Format::Array, "looks like HTML"),
            (
                b"[{\"t\": \"caf\xe9\"}]",
                Format::Array,
                "not UTF-8 text (invalid byte at offset 11)",
            ),
            (br#"[{"a": 1},"#, Format::Array, "not valid JSON"),
            (br#"[{"a": 1}] x"#, Format::Array, "trailing characters"),
            (
                b"{\"a\": 1}\n[1]\n",
                Format::Lines,
                "line 2 is a JSON array, not an object",
            ),
            (
                b"{\"a\": 1}\n{\"a\": \n",
                Format::Lines,
                "line 2: not valid JSON",
            ),
        ];
        for (bytes, format, expect) in cases {
            let err = read_all(bytes, format).unwrap_err();
            assert!(
                err.contains(expect),
                "{:?}: {err}",
                String::from_utf8_lossy(bytes)
            );
        }
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
            err.contains("line 3 (from byte offset 9) is longer than 67108864 bytes"),
            "{err}"
        );
        // A line of exactly the cap (plus its newline) is taken.
        let mut ok = b"{}".to_vec();
        ok.resize(MAX_ELEMENT_BYTES, b' ');
        ok.push(b'\n');
        assert_eq!(read_all(&ok, Format::Lines).unwrap().len(), 1);
    }
}
