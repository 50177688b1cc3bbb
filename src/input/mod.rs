//! The input of `bookstream stream`, read as a stream: a JSON array of objects (parsed element
//! by element) or JSON Lines, from a file, a FIFO or pipe, a URL or stdin. Never held whole in
//! memory: the parser runs on a thread of its own and hands the elements over a bounded channel,
//! so a slow consumer holds the reader back instead of the input piling up.
//!
//! Elements go over in chunks (one wake-up of the consumer per chunk), but an input that stalls
//! (a pipe whose writer is quiet) never keeps a partial chunk back: whenever the next read would
//! have to wait, what was parsed so far is handed over first.
//!
//! The reading threads are plain threads, not the runtime's blocking pool: a read blocked on an
//! open pipe never holds up the end of the process, so stopping never waits for the writer.
//!
//! Every refusal names the input and says what was expected instead.

mod error;
mod parse;

pub use error::{InputError, Problem};

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use url::Url;

use crate::events::Event;
use crate::events::input::InputReaderFailed;
use parse::{ConsumerGone, Ended, Step};

/// Where the records come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A path: a regular file, or a FIFO, `/dev/fd/N`, a character device.
    File(PathBuf),
    Url(Url),
    Stdin,
}

impl Source {
    /// A regular file: it can be read twice (checked whole first, then sent) and read again
    /// after a stop. A FIFO, `/dev/fd/N` (`<(...)`), stdin or a URL can be read only once.
    pub fn is_regular_file(&self) -> bool {
        match self {
            Source::File(path) => std::fs::metadata(path).is_ok_and(|m| m.is_file()),
            _ => false,
        }
    }
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

/// Parses the whole input and counts its records, sending nothing: `stream` checks a regular
/// file this way before the first put, so that a bad element anywhere means nothing was sent.
pub fn check(source: &Source, format: Format) -> Result<u64, InputError> {
    let reader = open_blocking(source)?;
    let ended = parse::parse(reader, format, source, &mut |_, bytes| {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map(|_| Step::More)
            .map_err(|e| e.to_string())
    })?;
    Ok(ended.count())
}

/// Elements handed over at once when the input keeps up: one wake-up of the consumer per
/// chunk, not per record.
pub const CHUNK: usize = 256;

/// The reader's side of [`spawn`]: its verdict once it ends.
pub struct Reader {
    result: oneshot::Receiver<Result<u64, InputError>>,
    source: Source,
}

impl Reader {
    /// Waits for the reader to end: the number of elements it handed over (exactly), or why it
    /// stopped. Call it only once the channel is closed (or the reader cannot be blocked).
    pub async fn finish(self) -> Result<u64, InputError> {
        let source = self.source;
        self.result
            .await
            .unwrap_or_else(|_| Err(InputError::new(&source, Problem::ReaderLost)))
    }
}

/// Starts reading `source` on threads of their own. Each element's bytes (one JSON object) go
/// through `map` there (the caller's decoding and encoding, off the async runtime; an `Err` is
/// a decode error of that element) and then, in chunks of up to [`CHUNK`], into the returned
/// channel, in order; at most `max` elements are read. Dropping the receiver stops the reader
/// (at its next element, or within a quarter of a second while it waits for input).
pub fn spawn<T, F>(
    source: Source,
    format: Format,
    max: Option<u64>,
    capacity: usize,
    map: F,
) -> (mpsc::Receiver<Vec<T>>, Reader)
where
    T: Send + 'static,
    F: FnMut(u64, &[u8]) -> Result<T, String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (done, result) = oneshot::channel();
    let handle = tokio::runtime::Handle::current();
    let name = source.clone();
    let spawned = std::thread::Builder::new()
        .name("input-parse".into())
        .spawn(move || {
            let _ = done.send(read(&source, format, max, &tx, map, &handle));
        });
    let reader = Reader {
        result,
        source: name.clone(),
    };
    if let Err(e) = spawned {
        // `done` went down with the closure: `finish` reports it.
        InputReaderFailed {
            source: &name.to_string(),
            error: &e,
        }
        .emit();
    }
    (rx, reader)
}

/// The reader thread's body: opens `source`, parses it, hands the elements over.
fn read<T, F>(
    source: &Source,
    format: Format,
    max: Option<u64>,
    tx: &mpsc::Sender<Vec<T>>,
    mut map: F,
    handle: &tokio::runtime::Handle,
) -> Result<u64, InputError>
where
    F: FnMut(u64, &[u8]) -> Result<T, String>,
{
    let raw = match source {
        Source::Url(url) => handle.block_on(open_url(url, format))?,
        _ => open_blocking(source)?,
    };
    let feed = Feed::start(raw, source)?;
    let chunk: RefCell<Vec<T>> = RefCell::new(Vec::with_capacity(CHUNK));
    // Hands over what is parsed; `false` when the consumer is gone.
    let flush = || {
        let full = std::mem::replace(&mut *chunk.borrow_mut(), Vec::with_capacity(CHUNK));
        full.is_empty() || tx.blocking_send(full).is_ok()
    };
    let stopped = || tx.is_closed();
    let feed = feed.on_stall(&flush, &stopped);
    let mut sink = |i: u64, bytes: &[u8]| -> Result<Step, String> {
        if max.is_some_and(|m| i >= m) {
            return Ok(Step::Stop);
        }
        let item = map(i, bytes)?;
        let full = {
            let mut chunk = chunk.borrow_mut();
            chunk.push(item);
            chunk.len() == CHUNK
        };
        Ok(if full && !flush() {
            Step::Stop
        } else {
            Step::More
        })
    };
    let result = parse::parse(Box::new(feed), format, source, &mut sink);
    // What was read before the end (or before a bad element) still goes out.
    flush();
    result.map(|ended: Ended| ended.count())
}

fn open_blocking(source: &Source) -> Result<Box<dyn Read + Send>, InputError> {
    match source {
        Source::File(path) => std::fs::File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read + Send>)
            .map_err(|e| InputError::new(source, Problem::Open(e))),
        Source::Stdin => Ok(Box::new(io::stdin())),
        // A URL is read once, as it streams (`open_url`, on the runtime).
        Source::Url(_) => Err(InputError::new(source, Problem::ReadOnce)),
    }
}

/// Blocks of input read ahead by a thread of their own.
const READ_BLOCK: usize = 64 * 1024;
const BLOCKS_AHEAD: usize = 4;
/// How often a reader waiting for input checks whether its consumer is still there.
const STOP_POLL: Duration = Duration::from_millis(250);

/// The raw input, read on a thread of its own, so that the parser can tell "the next bytes
/// are here" from "the next read would wait" (and hand over its partial chunk first).
struct Feed<'a> {
    blocks: std_mpsc::Receiver<io::Result<Vec<u8>>>,
    /// Blocks read out go back to the reading thread to be filled again: no 64 KiB allocation
    /// (and free, which makes glibc consolidate its free lists) per read.
    spare: std_mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    /// Called before waiting for input; `false` stops the read (the consumer is gone).
    on_stall: Option<&'a dyn Fn() -> bool>,
    /// `true` once the consumer is gone: a wait for input gives up.
    stopped: Option<&'a dyn Fn() -> bool>,
}

impl<'a> Feed<'a> {
    fn start(mut raw: Box<dyn Read + Send>, source: &Source) -> Result<Feed<'a>, InputError> {
        let (tx, blocks) = std_mpsc::sync_channel(BLOCKS_AHEAD);
        let (spare, spares) = std_mpsc::channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("input-read".into())
            .spawn(move || {
                loop {
                    let mut block = spares.try_recv().unwrap_or_default();
                    block.resize(READ_BLOCK, 0);
                    let read = match raw.read(&mut block) {
                        Ok(n) => {
                            block.truncate(n);
                            Ok(block)
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => Err(e),
                    };
                    let last = !matches!(&read, Ok(b) if !b.is_empty());
                    if tx.send(read).is_err() || last {
                        return;
                    }
                }
            })
            .map_err(|e| InputError::new(source, Problem::Thread(e)))?;
        Ok(Feed {
            blocks,
            spare,
            current: Vec::new(),
            at: 0,
            on_stall: None,
            stopped: None,
        })
    }

    fn on_stall(self, flush: &'a dyn Fn() -> bool, stopped: &'a dyn Fn() -> bool) -> Feed<'a> {
        Feed {
            on_stall: Some(flush),
            stopped: Some(stopped),
            ..self
        }
    }

    /// The next block, `None` at the end of the input; a [`ConsumerGone`] error once the
    /// consumer is gone (the parse ends as stopped, not as bad input).
    fn next_block(&mut self) -> io::Result<Option<Vec<u8>>> {
        let gone = || io::Error::other(ConsumerGone);
        match self.blocks.try_recv() {
            Ok(block) => return block.map(Some),
            Err(std_mpsc::TryRecvError::Disconnected) => return Ok(None),
            Err(std_mpsc::TryRecvError::Empty) => {}
        }
        if self.on_stall.is_some_and(|flush| !flush()) {
            return Err(gone());
        }
        loop {
            match self.blocks.recv_timeout(STOP_POLL) {
                Ok(block) => return block.map(Some),
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return Ok(None),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    if self.stopped.is_some_and(|stopped| stopped()) {
                        return Err(gone());
                    }
                }
            }
        }
    }
}

impl Read for Feed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.next_block()? {
                Some(block) if !block.is_empty() => {
                    let used = std::mem::replace(&mut self.current, block);
                    // The reading thread may be gone (the input ended): the block is dropped.
                    let _ = self.spare.send(used);
                    self.at = 0;
                }
                _ => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// GETs `url` and returns its body as a reader that pulls chunks from the network as the parser
/// needs them (at most a few chunks buffered).
async fn open_url(url: &Url, format: Format) -> Result<Box<dyn Read + Send>, InputError> {
    let source = Source::Url(url.clone());
    let fail = |problem: Problem| InputError::new(&source, problem);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(crate::config::default_user_agent())
        .build()
        .map_err(|e| fail(Problem::Client(e.to_string())))?;
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| fail(Problem::Get(crate::error_chain(&e))))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(Problem::Status { status, format }));
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
