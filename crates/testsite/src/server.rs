//! A small HTTP/1.1 server for the test site, written on tokio by hand so it needs no web
//! framework and behaves exactly as specified: keep-alive, `Content-Type: text/html` without
//! charset (like the real server), strong ETags, a fixed Last-Modified, 304s for conditional
//! requests, and injectable faults (delay, 429, 500, 503, redirects, slow bodies) for retry
//! and robustness tests. Which response a request gets is decided in `faults`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::content::Content;
use super::faults::trickle;
use super::http::{self, Request};
use super::stats::Stats;

/// A keep-alive connection idle this long is closed, so abandoned clients don't pile up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request body read (and discarded); GETs have none.
const MAX_BODY: usize = 1 << 20;

/// Faults to inject; the default injects none.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Wait before each response, to make slowness and timeouts testable.
    pub delay: Duration,
    /// Each distinct path (without query) answers 503 this many times before it succeeds.
    pub fail_first: u32,
    /// Paths containing any of these substrings always answer 500.
    pub fail_always: Vec<String>,
    /// Every Nth request answers 429 with `Retry-After: {retry_after}`; 0 = never.
    pub throttle_every: u32,
    /// Seconds the 429s of `throttle_every` ask the client to wait (0 = retry at once).
    pub retry_after: u32,
    /// `(from, to)`: a request for exactly the path `from` (query ignored) answers
    /// `302 Found` with `Location: to`, sent as given (relative, or absolute to any host), so
    /// `to` must be a valid header value. The first matching pair wins.
    pub redirects: Vec<(String, String)>,
    /// Responses for paths containing any of these substrings send their head at once and
    /// then their body one byte per `trickle_interval`, to test read timeouts.
    pub trickle: Vec<String>,
    /// Wait before each trickled byte; zero still writes byte by byte, only without waiting.
    pub trickle_interval: Duration,
    /// Paths containing any of these substrings answer `410 Gone` (a product taken down
    /// while the listing still shows it).
    pub gone: Vec<String>,
    /// Paths containing any of these substrings answer 200 with a captcha page instead.
    pub captcha: Vec<String>,
    /// The body of `/robots.txt` (served as text/plain); `None`: it answers 404.
    pub robots: Option<String>,
    /// Every HTML page carries a per-request token and timestamp (`faults::volatile`): its
    /// ETag changes on every request, as a dynamic page's does.
    pub volatile: bool,
    /// Counters the caller keeps a clone of to see what the server did.
    pub stats: Arc<Stats>,
}

/// Faults that can be switched while the server runs: each request is answered under the
/// options current when it arrives.
#[derive(Debug)]
pub struct LiveOptions {
    current: RwLock<Arc<ServeOptions>>,
}

impl LiveOptions {
    pub fn new(options: ServeOptions) -> Arc<LiveOptions> {
        Arc::new(LiveOptions {
            current: RwLock::new(Arc::new(options)),
        })
    }

    /// Answers the next requests under `options`.
    pub fn replace(&self, options: ServeOptions) {
        // A poisoned lock only means a panic elsewhere; the Arc inside is still whole.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(options);
    }

    /// The options in force now.
    pub fn current(&self) -> Arc<ServeOptions> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Serves `content` on `listener` until the task running it is dropped or aborted (which also
/// ends every connection it opened). Each connection runs in its own task and one that
/// misbehaves only ends itself. Returns only if accepting fails for a reason other than a
/// single aborted connection (e.g. out of file descriptors), with that error.
pub async fn serve(
    listener: TcpListener,
    content: Content,
    options: ServeOptions,
) -> io::Result<()> {
    serve_live(listener, content, LiveOptions::new(options)).await
}

/// As [`serve`], under options the caller can switch while it serves.
pub async fn serve_live(
    listener: TcpListener,
    content: Content,
    options: Arc<LiveOptions>,
) -> io::Result<()> {
    let state = Arc::new(State {
        content,
        options,
        sequence: AtomicU64::new(0),
        failures: Mutex::new(HashMap::new()),
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, Arc::clone(&state)));
                }
                Err(e) if is_per_connection(&e) => {}
                Err(e) => return Err(e),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A served site bound to 127.0.0.1 on a free port; dropping it stops the server.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    stats: Arc<Stats>,
    task: JoinHandle<io::Result<()>>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and serves `content` in a background task.
    pub async fn start(content: Content, options: ServeOptions) -> io::Result<TestServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::clone(&options.stats);
        let task = tokio::spawn(serve(listener, content, options));
        Ok(TestServer { addr, stats, task })
    }

    /// The bound address (127.0.0.1 and the port the OS chose).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`, the start URL to give the scraper.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The server's counters (the same Arc as `ServeOptions::stats`).
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accept errors that concern only the connection being accepted.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

pub(super) struct State {
    pub content: Content,
    pub options: Arc<LiveOptions>,
    /// Requests seen by the throttle, numbered from 1.
    pub sequence: AtomicU64,
    /// 503s already given per path, for `fail_first`.
    pub failures: Mutex<HashMap<String, u32>>,
}

/// A response before it is written.
pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn error(status: u16) -> Reply {
        let reason = http::reason(status);
        Reply {
            status,
            headers: vec![("Content-Type", "text/html".to_string())],
            body: format!("<html><body><h1>{status} {reason}</h1></body></html>\n").into_bytes(),
        }
    }

    pub fn with(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

async fn connection(mut stream: TcpStream, state: Arc<State>) {
    let options = state.options.current();
    options.stats.connections.fetch_add(1, Ordering::Relaxed);
    // Responses are written whole; without this, Nagle plus delayed ACKs stall keep-alive.
    let _ = stream.set_nodelay(true);
    let _ = serve_connection(&mut stream, &state).await;
}

async fn serve_connection(stream: &mut TcpStream, state: &State) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let len = match tokio::time::timeout(IDLE_TIMEOUT, read_head(stream, &mut buf)).await {
            Ok(Ok(Some(len))) => len,
            Ok(Ok(None)) | Err(_) => return Ok(()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                return reject(stream, state, 400).await;
            }
            Ok(Err(e)) => return Err(e),
        };
        let parsed = http::parse_head(&buf[..len]);
        buf.drain(..len);
        let Ok(request) = parsed else {
            return reject(stream, state, 400).await;
        };
        let body_len = match body_length(&request) {
            Ok(len) => len,
            Err(status) => return reject(stream, state, status).await,
        };
        while buf.len() < body_len {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        buf.drain(..body_len);
        let keep_alive = request.keep_alive();
        let reply = state.respond(&request).await;
        write_reply(stream, state, &request, reply, keep_alive).await?;
        if !keep_alive {
            return stream.shutdown().await;
        }
    }
}

/// Reads until `buf` starts with a complete head; `None` on a clean close between requests.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    loop {
        if let Some(len) = http::head_len(buf) {
            return Ok(Some(len));
        }
        if buf.len() > http::MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        if stream.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
    }
}

/// Body length from `Content-Length`, or the status to refuse the request with.
fn body_length(request: &Request) -> Result<usize, u16> {
    if request.header("transfer-encoding").is_some() {
        return Err(400);
    }
    match request.header("content-length") {
        None => Ok(0),
        Some(value) => match value.parse::<usize>() {
            Ok(len) if len <= MAX_BODY => Ok(len),
            Ok(_) => Err(413),
            Err(_) => Err(400),
        },
    }
}

/// Answers a request that could not be read and closes the connection.
async fn reject(stream: &mut TcpStream, state: &State, status: u16) -> io::Result<()> {
    let options = state.options.current();
    options.stats.received_unreadable();
    options.stats.answered(status);
    let reply = Reply::error(status);
    let head = response_head(&reply, reply.body.len(), false, true);
    stream
        .write_all(&[head.into_bytes(), reply.body].concat())
        .await?;
    stream.shutdown().await
}

async fn write_reply(
    stream: &mut TcpStream,
    state: &State,
    request: &Request,
    reply: Reply,
    keep_alive: bool,
) -> io::Result<()> {
    let options = state.options.current();
    let stats = &options.stats;
    stats.answered(reply.status);
    let head = response_head(&reply, reply.body.len(), keep_alive, request.http11);
    let body: &[u8] = if request.method != "HEAD" && reply.status != 304 {
        &reply.body
    } else {
        &[]
    };
    stats.sent((head.len() + body.len()) as u64);
    if !body.is_empty() && state.trickles(&options, request.path()) {
        stats.trickled.fetch_add(1, Ordering::Relaxed);
        stream.write_all(head.as_bytes()).await?;
        return trickle(stream, body, options.trickle_interval).await;
    }
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await
}

fn response_head(reply: &Reply, body_len: usize, keep_alive: bool, http11: bool) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |age| age.as_secs());
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nServer: bookstream-testsite\r\nDate: {}\r\n",
        reply.status,
        http::reason(reply.status),
        http::http_date(now)
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.status != 304 {
        head.push_str(&format!("Content-Length: {body_len}\r\n"));
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    } else if !http11 {
        head.push_str("Connection: keep-alive\r\n");
    }
    head.push_str("\r\n");
    head
}
