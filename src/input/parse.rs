//! The input's grammar: a JSON array of objects split by a byte scan (depth, strings, escapes),
//! each element decoded alone; or JSON Lines, each line capped like an element. Pure over a
//! `Read`: the threads and channels are in the parent module.
//!
//! A parse ends in one of three ways: the input ended ([`Ended::Eof`]), the sink or the feed
//! said stop ([`Ended::Stopped`]: `max` reached, or the consumer is gone, which is not an error
//! of the input), or the input is bad ([`Problem`], naming where).

use std::io::{self, BufRead, Read};

use serde::de;

use super::error::{At, InputError, Problem};
use super::{Format, Source};

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
    /// The sink (or the feed) said stop after this many elements.
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

/// The feed's way of saying, through `io::Read` (which can only say so with an error), that
/// the consumer is gone: the parse then ends as [`Ended::Stopped`], not as a problem.
#[derive(Debug, thiserror::Error)]
#[error("the consumer stopped reading")]
pub(super) struct ConsumerGone;

/// [`Utf8Reader`]'s error for a byte that is not UTF-8, carried inside an `io::Error`.
#[derive(Debug, thiserror::Error)]
#[error("not UTF-8 text (invalid byte at offset {offset})")]
struct BadUtf8 {
    offset: u64,
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

    /// The input offset of the next byte `fill_buf` returns.
    fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The next bytes (empty at the end of the input), a failed read as the parse's verdict.
    /// (Borrowing the reader alone, so the parser's counters stay free while it is read.)
    fn fill(&mut self, format: Format) -> Result<&[u8], Halt> {
        let offset = self.offset();
        self.fill_buf().map_err(|e| halt(format, offset, e))
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
                    let offset = self.base + e.valid_up_to() as u64;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        BadUtf8 { offset },
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

/// Why a parse ended before the end of its input.
enum Halt {
    /// The sink or the feed said stop.
    Stop,
    Bad(Problem),
}

impl From<Problem> for Halt {
    fn from(p: Problem) -> Halt {
        Halt::Bad(p)
    }
}

/// Parses `reader` and hands each element to `sink`; says how it ended and after how many.
pub(super) fn parse(
    reader: Box<dyn Read + '_>,
    format: Format,
    source: &Source,
    sink: Sink<'_>,
) -> Result<Ended, InputError> {
    let mut parser = Parser {
        reader: Utf8Reader::new(reader),
        format,
        line: 1,
        count: 0,
    };
    let result = parser.start().and_then(|first| match format {
        Format::Array => parser.array(first, sink),
        Format::Lines => parser.lines(sink),
    });
    match result {
        Ok(()) => Ok(Ended::Eof(parser.count)),
        Err(Halt::Stop) => Ok(Ended::Stopped(parser.count)),
        Err(Halt::Bad(problem)) => Err(InputError::new(source, problem)),
    }
}

/// Largest element (or JSON Lines line) accepted: a Kinesis record holds 1 MiB, and a bigger
/// element is refused by name when it is sent, but it must first be read whole. Past this the
/// input is refused before more of it is held in memory.
pub const MAX_ELEMENT_BYTES: usize = 64 * 1024 * 1024;

/// One parse: the reader, and where it stands (for the messages).
struct Parser<R> {
    reader: Utf8Reader<R>,
    format: Format,
    /// The line of the next unconsumed byte (from 1); counted outside strings only (a raw
    /// newline inside a string is invalid JSON anyway).
    line: u64,
    /// Elements handed to the sink so far.
    count: u64,
}

/// An I/O error of the reader as the parse's verdict: a stop when the consumer is gone,
/// bad UTF-8 with its offset, or a failed read at `offset`.
fn halt(format: Format, offset: u64, e: io::Error) -> Halt {
    let inner = e.get_ref();
    if inner.is_some_and(|i| i.is::<ConsumerGone>()) {
        return Halt::Stop;
    }
    if let Some(bad) = inner.and_then(|i| i.downcast_ref::<BadUtf8>()) {
        return Halt::Bad(Problem::NotUtf8 {
            format,
            offset: bad.offset,
        });
    }
    Halt::Bad(Problem::Read { offset, error: e })
}

impl<R: Read> Parser<R> {
    /// An I/O error of the reader as the parse's verdict: a stop when the consumer is gone,
    /// bad UTF-8 with its offset, or a failed read.
    fn io(&self, e: io::Error) -> Halt {
        halt(self.format, self.reader.offset(), e)
    }

    fn at(&self, offset: u64, line: u64) -> At {
        At {
            format: self.format,
            element: self.count,
            line,
            offset,
        }
    }

    /// The first byte that is not whitespace, refusing an empty input and markup.
    fn start(&mut self) -> Result<Option<u8>, Halt> {
        let first = self.skip_space()?;
        match first {
            None => Err(Problem::Empty {
                format: self.format,
            }
            .into()),
            Some(b'<') => Err(Problem::Markup {
                format: self.format,
                offset: self.reader.offset(),
            }
            .into()),
            _ => Ok(first),
        }
    }

    /// The next byte that is not JSON whitespace, not consumed.
    fn skip_space(&mut self) -> Result<Option<u8>, Halt> {
        loop {
            let buf = self.reader.fill(self.format)?;
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
                self.reader.consume(i);
                return Ok(Some(b));
            }
            self.reader.consume(i);
        }
    }

    /// Hands one element to the sink.
    fn hand(&mut self, sink: Sink<'_>, bytes: &[u8], at: At) -> Result<(), Halt> {
        match sink(self.count, bytes) {
            Ok(Step::More) => {
                self.count += 1;
                Ok(())
            }
            Ok(Step::Stop) => Err(Halt::Stop),
            Err(error) => Err(Problem::InvalidElement { at, error }.into()),
        }
    }

    fn array(&mut self, first: Option<u8>, sink: Sink<'_>) -> Result<(), Halt> {
        if first != Some(b'[') {
            return Err(self.not_an_array(first));
        }
        self.reader.consume(1);
        // Each element's bytes are found by a scan (depth, strings, escapes) and decoded alone
        // with `from_slice`, which is many times faster than a deserializer pulling bytes from
        // a reader.
        let mut element = Vec::new();
        let mut expect_element = true;
        loop {
            let next = self.skip_space()?;
            let (line, offset) = (self.line, self.reader.offset());
            match next {
                None => {
                    return Err(Problem::EndsInArray {
                        elements: self.count,
                        line,
                        offset,
                    }
                    .into());
                }
                Some(b']') if self.count == 0 || !expect_element => {
                    self.reader.consume(1);
                    break;
                }
                Some(b',') if !expect_element => {
                    self.reader.consume(1);
                    expect_element = true;
                }
                Some(b']') => return Err(Problem::TrailingComma { line, offset }.into()),
                Some(b'{') if expect_element => {
                    let at = self.at(offset, line);
                    element.clear();
                    self.object(&mut element, at)?;
                    self.hand(sink, &element, at)?;
                    expect_element = false;
                }
                Some(b) if expect_element => {
                    let got = kind_of(Some(b));
                    let at = self.at(offset, line);
                    return Err(Problem::NotAnObject { at, got }.into());
                }
                Some(b) => {
                    return Err(Problem::MissingComma {
                        after: self.count.saturating_sub(1),
                        found: char::from(b),
                        line,
                        offset,
                    }
                    .into());
                }
            }
        }
        match self.skip_space()? {
            None => Ok(()),
            Some(b) => Err(Problem::Trailing {
                found: char::from(b),
                line: self.line,
                offset: self.reader.offset(),
            }
            .into()),
        }
    }

    /// Says what a top-level value other than an array is, once it is known to be JSON at all.
    fn not_an_array(&mut self, first: Option<u8>) -> Halt {
        let mut de = serde_json::Deserializer::from_reader(&mut self.reader);
        match <de::IgnoredAny as de::Deserialize>::deserialize(&mut de) {
            Ok(_) => Problem::NotAnArray {
                got: kind_of(first),
            }
            .into(),
            Err(e) if e.is_io() => {
                let e = io::Error::from(e);
                self.io(e)
            }
            Err(e) => Problem::NotJson {
                line: e.line() + usize::try_from(self.line - 1).unwrap_or(0),
                column: e.column(),
                error: e.to_string(),
            }
            .into(),
        }
    }

    /// Appends to `out` the object that starts at the reader's next byte (`{`), through its
    /// closing `}`.
    fn object(&mut self, out: &mut Vec<u8>, at: At) -> Result<(), Halt> {
        let mut scan = ObjectScan::default();
        let done = self.take_bounded(out, at, 0, |buf| scan.feed(buf))?;
        self.line += scan.take_lines();
        if done {
            Ok(())
        } else {
            Err(Problem::EndsInElement { at }.into())
        }
    }

    /// Moves the reader's bytes into `out`, a buffer at a time, as far as `split` takes them
    /// (`(taken, done)`), until it is done (`true`) or the input ends (`false`). Refuses the
    /// piece as soon as it holds more than [`MAX_ELEMENT_BYTES`], not counting its last
    /// `terminator` bytes (a line's newline): never more than that is held.
    fn take_bounded(
        &mut self,
        out: &mut Vec<u8>,
        at: At,
        terminator: usize,
        mut split: impl FnMut(&[u8]) -> (usize, bool),
    ) -> Result<bool, Halt> {
        loop {
            let buf = self.reader.fill(self.format)?;
            if buf.is_empty() {
                return Ok(false);
            }
            let (take, done) = split(buf);
            let content = out.len() + take - if done { terminator } else { 0 };
            if content > MAX_ELEMENT_BYTES {
                return Err(Problem::TooLarge {
                    at,
                    max: MAX_ELEMENT_BYTES,
                }
                .into());
            }
            out.extend_from_slice(&buf[..take]);
            self.reader.consume(take);
            if done {
                return Ok(true);
            }
        }
    }

    fn lines(&mut self, sink: Sink<'_>) -> Result<(), Halt> {
        let mut text = Vec::new();
        // `self.line` is the line being read (blank lines before the first already counted).
        loop {
            text.clear();
            let offset = self.reader.offset();
            let at = self.at(offset, self.line);
            let n = self.read_line(&mut text, at)?;
            if n == 0 {
                return Ok(());
            }
            let first = text.iter().find(|b| !b.is_ascii_whitespace()).copied();
            match first {
                None => {}
                Some(b'{') => self.hand(sink, &text, at)?,
                Some(_) => {
                    let got = kind_of(first);
                    return Err(Problem::NotAnObject { at, got }.into());
                }
            }
            self.line += 1;
        }
    }

    /// `read_until(b'\n')`, but refusing a line longer than [`MAX_ELEMENT_BYTES`] (plus its
    /// newline) as soon as that is known: never more than that is held. Returns the bytes
    /// taken.
    fn read_line(&mut self, line: &mut Vec<u8>, at: At) -> Result<usize, Halt> {
        self.take_bounded(line, at, 1, |buf| match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        })?;
        Ok(line.len())
    }
}

/// Finds where an object ends without decoding it: depth, strings and escapes, fed a buffer at
/// a time. Inside a string it jumps to the next quote or backslash (`memchr2`, SIMD where the
/// CPU has it): strings are most of a record's bytes, and a byte-at-a-time state machine over
/// them was the input's hottest loop.
#[derive(Debug, Default)]
struct ObjectScan {
    depth: u32,
    in_string: bool,
    /// The last byte fed was a backslash inside a string.
    escaped: bool,
    /// Newlines outside strings seen since the last [`ObjectScan::take_lines`].
    lines: u64,
}

impl ObjectScan {
    /// Scans `buf`: how many of its bytes belong to the object, and whether it ended there.
    fn feed(&mut self, buf: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < buf.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    None => return (buf.len(), false),
                    Some(j) => {
                        i += j;
                        if buf[i] == b'\\' {
                            self.escaped = true;
                        } else {
                            self.in_string = false;
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let b = buf[i];
            i += 1;
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return (i, true);
                    }
                }
                b'\n' => self.lines += 1,
                _ => {}
            }
        }
        (buf.len(), false)
    }

    fn take_lines(&mut self) -> u64 {
        std::mem::take(&mut self.lines)
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

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
