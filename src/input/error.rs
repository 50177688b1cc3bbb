//! Why an input is refused: one value per kind of problem, each naming where it is (the
//! element, its line and byte offset) and what was expected instead.

use std::fmt;
use std::io;

use super::{Format, Source};

/// The input could not be read, or is not what `stream` takes: the input's name and the problem.
#[derive(Debug, thiserror::Error)]
#[error("{input}: {problem}")]
pub struct InputError {
    /// The file, URL or `<stdin>`, as the operator named it.
    pub input: String,
    pub problem: Problem,
}

impl InputError {
    pub fn new(input: &Source, problem: Problem) -> InputError {
        InputError {
            input: input.to_string(),
            problem,
        }
    }
}

/// Where an element is: its index (from 0, as the records are numbered everywhere else), the
/// line it starts on (from 1) and the byte offset of its first byte (from 0). For JSON Lines
/// the line names it; for an array the element does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub format: Format,
    pub element: u64,
    pub line: u64,
    pub offset: u64,
}

impl At {
    /// What the operator looks for: `element 7` in an array, `line 9` in JSON Lines.
    fn name(&self) -> String {
        match self.format {
            Format::Array => format!("element {}", self.element),
            Format::Lines => format!("line {}", self.line),
        }
    }

    /// The other of element and line: the line of an element, the element of a line.
    fn other(&self) -> String {
        match self.format {
            Format::Array => format!("line {}", self.line),
            Format::Lines => format!("element {}", self.element),
        }
    }

    /// The rest of the position, in brackets after the name.
    fn place(&self) -> String {
        format!("{}, byte offset {}", self.other(), self.offset)
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.place())
    }
}

impl Format {
    /// What an input of this format must be, in every message.
    pub fn expected(self) -> &'static str {
        match self {
            Format::Array => "expected a JSON array of objects",
            Format::Lines => "expected JSON Lines (one JSON object per line)",
        }
    }
}

/// What is wrong with the input (or with reading it).
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot open it: {0}")]
    Open(#[source] io::Error),
    #[error("reading it failed at byte offset {offset}: {error}")]
    Read {
        offset: u64,
        #[source]
        error: io::Error,
    },
    #[error("not UTF-8 text (invalid byte at offset {offset}); {}", .format.expected())]
    NotUtf8 { format: Format, offset: u64 },
    #[error("is empty; {}", .format.expected())]
    Empty { format: Format },
    #[error("looks like HTML or XML, not JSON (byte offset {offset}); {}", .format.expected())]
    Markup { format: Format, offset: u64 },
    /// Not JSON at all (found while telling what a non-array is).
    #[error("not valid JSON (line {line}, column {column}): {error}; {}", Format::Array.expected())]
    NotJson {
        line: usize,
        column: usize,
        error: String,
    },
    #[error("{}, got a JSON {got}", Format::Array.expected())]
    NotAnArray { got: &'static str },
    #[error("{} is a JSON {got}, not an object ({}); {}", .at.name(), .at.place(), .at.format.expected())]
    NotAnObject { at: At, got: &'static str },
    /// The element's text is not valid JSON (the decoder's own message, with its position
    /// inside the element).
    #[error("not valid JSON in {at}: {error}")]
    InvalidElement { at: At, error: String },
    #[error("not valid JSON in {at}: the input ends inside it; expected its closing `}}`")]
    EndsInElement { at: At },
    #[error(
        "{} (from byte offset {}) is longer than {max} bytes, the most one record may take; refused before reading more of it ({}); {}",
        .at.name(), .at.offset, .at.other(), .at.format.expected()
    )]
    TooLarge { at: At, max: usize },
    #[error(
        "not valid JSON: the input ends inside the array, after {elements} element(s) (line {line}, byte offset {offset}); expected `,` or `]`"
    )]
    EndsInArray {
        elements: u64,
        line: u64,
        offset: u64,
    },
    #[error(
        "not valid JSON: a `,` with no element after it before `]` (line {line}, byte offset {offset}); expected an object after each `,`"
    )]
    TrailingComma { line: u64, offset: u64 },
    #[error(
        "not valid JSON: expected `,` or `]` after element {after}, found `{found}` (line {line}, byte offset {offset})"
    )]
    MissingComma {
        after: u64,
        found: char,
        line: u64,
        offset: u64,
    },
    #[error(
        "not valid JSON: trailing characters after the array (`{found}`, line {line}, byte offset {offset}); expected nothing after its closing `]`"
    )]
    Trailing { found: char, line: u64, offset: u64 },
    #[error("GET answered HTTP {status}; {}", .format.expected())]
    Status {
        status: reqwest::StatusCode,
        format: Format,
    },
    #[error("GET failed: {0}")]
    Get(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot start the input reader: {0}")]
    Thread(#[source] io::Error),
    /// Only a file or stdin is read here; a URL is read once, as it streams.
    #[error("a URL is read once, as it streams, not checked ahead")]
    ReadOnce,
    #[error("the input reader stopped unexpectedly")]
    ReaderLost,
    /// A saved catalogue (`bookstream diff`) that is not one.
    #[error(
        "expected a saved catalogue (the JSON array `bookstream scrape` writes, or the daemon's catalogue.json): {0}"
    )]
    NotACatalogue(String),
}
