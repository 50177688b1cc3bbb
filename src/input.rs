//! The input of `bookstream stream`, read as a stream: a JSON array of objects (parsed element
//! by element) or JSON Lines, from a file, a URL or stdin. Never held whole in memory: the
//! parser runs on a thread of its own and hands each element over a bounded channel, so a slow
//! consumer holds the reader back instead of the input piling up.
//!
//! Every refusal names the input and says what was expected instead.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::time::Duration;

use serde::de;

use crate::json_text::Strings;
use tokio::sync::mpsc;
use url::Url;

/// Where the records come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    File(PathBuf),
    Url(Url),
    Stdin,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Url(u) => write!(f, "{u}"),
            Source::Stdin => f.write_str("<stdin>"),
        }
    }
}

/// How the records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON array of objects.
    Array,
    /// One JSON object per line; blank lines are skipped.
    Lines,
}

/// The input could not be read, or is not what `stream` takes.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct InputError {
    pub source_name: String,
    pub message: String,
}

/// What to expect, in every message.
const EXPECTED_ARRAY: &str = "expected a JSON array of objects";
const EXPECTED_LINES: &str = "expected JSON Lines (one JSON object per line)";

/// Parses the whole input and counts its records, sending nothing: `stream` checks a file this
/// way before the first put, so that a bad element anywhere means nothing was sent.
pub fn check(source: &Source, format: Format) -> Result<u64, InputError> {
    let reader = open_blocking(source)?;
    parse(reader, format, source, &mut |_, bytes| {
        serde_json::from_slice::<de::IgnoredAny>(bytes)
            .map(|_| true)
            .map_err(|e| e.to_string())
    })
}

/// What [`parse`] hands each element: its index and its bytes (one JSON object, found but not
/// yet decoded). The sink decodes them: `Ok(false)` stops the parse, `Err` is a decode error.
type Sink<'a> = &'a mut dyn FnMut(u64, &[u8]) -> Result<bool, String>;

/// Elements handed over at once: one wake-up of the consumer per chunk, not per record.
pub const CHUNK: usize = 256;

/// Starts reading `source` on a thread of its own. Each element's bytes (one JSON object) go
/// through `map` there (the caller's decoding and encoding, off the async runtime; an `Err` is
/// a decode error of that element) and then, in chunks of up to [`CHUNK`], into the returned
/// channel, in order; at most `max` elements are read. The handle's result is the number of
/// elements read or the reason reading stopped. Dropping the receiver stops the reader.
pub fn spawn<T, F>(
    source: Source,
    format: Format,
    max: Option<u64>,
    capacity: usize,
    mut map: F,
) -> (
    mpsc::Receiver<Vec<T>>,
    tokio::task::JoinHandle<Result<u64, InputError>>,
)
where
    T: Send + 'static,
    F: FnMut(u64, &[u8]) -> Result<T, String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let handle = tokio::runtime::Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        let reader = match &source {
            Source::Url(url) => handle.block_on(open_url(url))?,
            _ => open_blocking(&source)?,
        };
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut sink = |i: u64, bytes: &[u8]| -> Result<bool, String> {
            if max.is_some_and(|m| i >= m) {
                return Ok(false);
            }
            chunk.push(map(i, bytes)?);
            if chunk.len() == CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                return Ok(tx.blocking_send(full).is_ok());
            }
            Ok(true)
        };
        let result = match parse(reader, format, &source, &mut sink) {
            // The sink said stop: `max` reached, or the consumer is gone.
            Err(e) if e.message == STOPPED => Ok(max.unwrap_or(0)),
            other => other,
        };
        // What was read before the end (or before a bad element) still goes out.
        if !chunk.is_empty() {
            let _ = tx.blocking_send(chunk);
        }
        result
    });
    (rx, task)
}

/// The sink refused an element; not an error of the input.
const STOPPED: &str = "\u{0}stopped";

fn open_blocking(source: &Source) -> Result<Box<dyn Read + Send>, InputError> {
    match source {
        Source::File(path) => std::fs::File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read + Send>)
            .map_err(|e| InputError {
                source_name: source.to_string(),
                message: e.to_string(),
            }),
        Source::Stdin => Ok(Box::new(io::stdin())),
        Source::Url(_) => unreachable!("URLs are opened on the runtime"),
    }
}

/// GETs `url` and returns its body as a reader that pulls chunks from the network as the parser
/// needs them (at most a few chunks buffered).
async fn open_url(url: &Url) -> Result<Box<dyn Read + Send>, InputError> {
    let fail = |message: String| InputError {
        source_name: url.to_string(),
        message,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(crate::config::default_user_agent())
        .build()
        .map_err(|e| fail(format!("cannot build the HTTP client: {e}")))?;
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| fail(format!("GET failed: {}", crate::error_chain(&e))))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!(
            "GET answered HTTP {status}; {EXPECTED_ARRAY}"
        )));
    }
    let (tx, rx) = mpsc::channel::<io::Result<bytes::Bytes>>(4);
    tokio::spawn(async move {
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => Ok(chunk),
                Ok(None) => break,
                Err(e) => Err(io::Error::other(format!(
                    "reading the body failed: {}",
                    crate::error_chain(&e)
                ))),
            };
            let failed = chunk.is_err();
            // The channel is bounded: waiting here is the back-pressure on the download.
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    Ok(Box::new(ChunkReader {
        rx,
        current: bytes::Bytes::new(),
    }))
}

/// A blocking `Read` over body chunks arriving on a channel.
struct ChunkReader {
    rx: mpsc::Receiver<io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

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

/// Parses `reader` and hands each element to `sink`; returns how many elements there were.
fn parse(
    reader: Box<dyn Read + Send>,
    format: Format,
    source: &Source,
    sink: Sink<'_>,
) -> Result<u64, InputError> {
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

/// Largest element accepted (a Kinesis record holds 1 MiB; a bigger element is refused by name
/// when it is sent, but it must first be read whole).
const MAX_ELEMENT_BYTES: usize = 64 * 1024 * 1024;

fn parse_array(mut reader: impl BufRead, first: Option<u8>, sink: Sink<'_>) -> Result<u64, String> {
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
                    Ok(true) => {}
                    Ok(false) => return Err(STOPPED.to_owned()),
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
        None => Ok(count),
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

fn parse_lines(mut reader: impl BufRead, sink: Sink<'_>) -> Result<u64, String> {
    let mut line = Vec::new();
    let mut count = 0u64;
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(count);
        }
        number += 1;
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
            Ok(true) => {}
            Ok(false) => return Err(STOPPED.to_owned()),
            Err(e) => return Err(format!("line {number}: not valid JSON: {e}")),
        }
        count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn read_all(bytes: &[u8], format: Format) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let reader: Box<dyn Read + Send> = Box::new(io::Cursor::new(bytes.to_vec()));
        parse(reader, format, &Source::Stdin, &mut |_, bytes| {
            out.push(serde_json::from_slice(bytes).map_err(|e| e.to_string())?);
            Ok(true)
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
        let reader: Box<dyn Read + Send> = Box::new(Dribble(io::Cursor::new(text)));
        let mut got = Vec::new();
        parse(reader, Format::Array, &Source::Stdin, &mut |_, bytes| {
            got.push(serde_json::from_slice::<Value>(bytes).unwrap());
            Ok(true)
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
    fn a_sink_that_says_stop_stops_the_parse() {
        let mut seen = 0;
        let reader: Box<dyn Read + Send> =
            Box::new(io::Cursor::new(br#"[{"a":1},{"a":2},{"a":3}]"#.to_vec()));
        let err = parse(reader, Format::Array, &Source::Stdin, &mut |_, _| {
            seen += 1;
            Ok(seen < 2)
        })
        .unwrap_err();
        assert_eq!(err.message, STOPPED);
        assert_eq!(seen, 2);
    }
}
