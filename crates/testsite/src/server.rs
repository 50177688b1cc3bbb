//! A small HTTP/1.1 server for the test site, written on tokio by hand so it needs no web
//! framework and behaves exactly as specified: keep-alive, `Content-Type: text/html` without
//! charset (like the real server), strong ETags, a fixed Last-Modified, 304s for conditional
//! requests, and injectable faults (delay, 429, 500, 503) for retry tests.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::content::Content;
use super::http::{self, Request};

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
    /// Every Nth request answers 429 with `Retry-After: 0`; 0 = never.
    pub throttle_every: u32,
    /// Counters the caller keeps a clone of to see what the server did.
    pub stats: Arc<Stats>,
}

/// What the server has answered, for tests that check how often (and how) a client asked.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
    ok: AtomicU64,
    not_modified: AtomicU64,
    errors: AtomicU64,
    throttled: AtomicU64,
    injected_failures: AtomicU64,
    hits: Mutex<HashMap<String, u64>>,
}

impl Stats {
    /// Connections accepted; fewer than requests when the client keeps connections alive.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
    /// Requests received (every parsed request, whatever the answer).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// 200 responses.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }
    /// 304 responses, i.e. conditional requests that saved a download.
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }
    /// Responses with status 400 or above, injected or not (404s included).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    /// Injected 429s.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
    /// Injected 500s and 503s.
    pub fn injected_failures(&self) -> u64 {
        self.injected_failures.load(Ordering::Relaxed)
    }
    /// Requests received for `path` (without query string).
    pub fn hits(&self, path: &str) -> u64 {
        let hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        hits.get(path).copied().unwrap_or(0)
    }

    fn received(&self, path: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        *hits.entry(path.to_string()).or_default() += 1;
    }

    fn answered(&self, status: u16) {
        let counter = match status {
            200 => &self.ok,
            304 => &self.not_modified,
            _ => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
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

struct State {
    content: Content,
    options: ServeOptions,
    /// Requests seen by the throttle, numbered from 1.
    sequence: AtomicU64,
    /// 503s already given per path, for `fail_first`.
    failures: Mutex<HashMap<String, u32>>,
}

/// A response before it is written.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn error(status: u16) -> Reply {
        let reason = http::reason(status);
        Reply {
            status,
            headers: vec![("Content-Type", "text/html".to_string())],
            body: format!("<html><body><h1>{status} {reason}</h1></body></html>\n").into_bytes(),
        }
    }

    fn with(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

async fn connection(mut stream: TcpStream, state: Arc<State>) {
    let stats = &state.options.stats;
    stats.connections.fetch_add(1, Ordering::Relaxed);
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
    state.options.stats.requests.fetch_add(1, Ordering::Relaxed);
    state.options.stats.answered(status);
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
    state.options.stats.answered(reply.status);
    let head = response_head(&reply, reply.body.len(), keep_alive, request.http11);
    let mut bytes = head.into_bytes();
    if request.method != "HEAD" && reply.status != 304 {
        bytes.extend_from_slice(&reply.body);
    }
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

impl State {
    /// Decides the response: injected faults first (in the order delay, 405, 429, 500, 503),
    /// then the page with its validators.
    async fn respond(&self, request: &Request) -> Reply {
        let options = &self.options;
        let path = request.path();
        options.stats.received(path);
        if !options.delay.is_zero() {
            tokio::time::sleep(options.delay).await;
        }
        if request.method != "GET" && request.method != "HEAD" {
            return Reply::error(405).with("Allow", "GET, HEAD");
        }
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        if options.throttle_every > 0 && sequence.is_multiple_of(u64::from(options.throttle_every))
        {
            options.stats.throttled.fetch_add(1, Ordering::Relaxed);
            return Reply::error(429).with("Retry-After", "0");
        }
        if options
            .fail_always
            .iter()
            .any(|part| path.contains(part.as_str()))
        {
            options
                .stats
                .injected_failures
                .fetch_add(1, Ordering::Relaxed);
            return Reply::error(500);
        }
        if self.fails_first(path) {
            options
                .stats
                .injected_failures
                .fetch_add(1, Ordering::Relaxed);
            return Reply::error(503);
        }
        let page = match self.content.page(path).await {
            Ok(Some(page)) => page,
            Ok(None) => return Reply::error(404),
            Err(_) => return Reply::error(500),
        };
        let etag = http::etag(&page.body);
        let fresh = match request.header("if-none-match") {
            Some(tags) => http::etag_matches(tags, &etag),
            // Exact comparison, like nginx's default: clients echo the value they were sent.
            None => request.header("if-modified-since") == Some(page.last_modified.as_str()),
        };
        let reply = Reply {
            status: if fresh { 304 } else { 200 },
            headers: Vec::new(),
            body: page.body,
        };
        let reply = if fresh {
            reply
        } else {
            reply.with("Content-Type", page.content_type)
        };
        reply
            .with("ETag", &etag)
            .with("Last-Modified", &page.last_modified)
    }

    /// Whether `path` still owes a 503 under `fail_first`; counts the one it gives.
    fn fails_first(&self, path: &str) -> bool {
        if self.options.fail_first == 0 {
            return false;
        }
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let given = failures.entry(path.to_string()).or_default();
        if *given < self.options.fail_first {
            *given += 1;
            true
        } else {
            false
        }
    }
}
