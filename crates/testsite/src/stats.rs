//! The server's counters, kept apart from the socket code: tests hold an `Arc<Stats>` to see
//! how often, and how, a client asked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Most requests kept in the request log (a full walk is 1,051); older ones are dropped.
pub const MAX_LOGGED: usize = 100_000;

/// One request as it arrived: when, and for which path (without query string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub at: Instant,
    pub path: String,
}

/// What the server has answered, for tests that check how often (and how) a client asked.
#[derive(Debug, Default)]
pub struct Stats {
    pub(super) connections: AtomicU64,
    requests: AtomicU64,
    ok: AtomicU64,
    not_modified: AtomicU64,
    errors: AtomicU64,
    pub(super) throttled: AtomicU64,
    pub(super) injected_failures: AtomicU64,
    pub(super) redirected: AtomicU64,
    pub(super) trickled: AtomicU64,
    bytes: AtomicU64,
    hits: Mutex<HashMap<String, u64>>,
    log: Mutex<Vec<Logged>>,
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
    /// 302s given for `ServeOptions::redirects`.
    pub fn redirected(&self) -> u64 {
        self.redirected.load(Ordering::Relaxed)
    }
    /// Responses whose body was sent byte by byte for `ServeOptions::trickle` (counted when
    /// the trickle starts, so a client that gives up is counted too).
    pub fn trickled(&self) -> u64 {
        self.trickled.load(Ordering::Relaxed)
    }
    /// Bytes of the responses written (head and body, before any trickle), so a test can
    /// tell what a walk cost the site's link, not only how many requests.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// Requests received for `path` (without query string).
    pub fn hits(&self, path: &str) -> u64 {
        let hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        hits.get(path).copied().unwrap_or(0)
    }

    /// Every request received, in arrival order, with its time of arrival (the last
    /// [`MAX_LOGGED`]).
    pub fn log(&self) -> Vec<Logged> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The most requests that arrived within any `window` (a half-open interval starting at
    /// a request), and the paths of the first such run.
    pub fn busiest(&self, window: std::time::Duration) -> (usize, Vec<String>) {
        let log = self.log();
        let mut best = (0, Vec::new());
        let mut end = 0;
        for (start, first) in log.iter().enumerate() {
            end = end.max(start);
            while end < log.len() && log[end].at.duration_since(first.at) < window {
                end += 1;
            }
            if end - start > best.0 {
                let paths = log[start..end].iter().map(|l| l.path.clone()).collect();
                best = (end - start, paths);
            }
        }
        best
    }

    pub(super) fn received(&self, path: &str) {
        let at = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        *hits.entry(path.to_string()).or_default() += 1;
        drop(hits);
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() >= MAX_LOGGED {
            log.remove(0);
        }
        log.push(Logged {
            at,
            path: path.to_string(),
        });
    }

    /// A request that could not be parsed: counted, but under no path.
    pub(super) fn received_unreadable(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn sent(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts the response by status; redirects are counted where they are decided.
    pub(super) fn answered(&self, status: u16) {
        let counter = match status {
            200 => &self.ok,
            304 => &self.not_modified,
            400.. => &self.errors,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
