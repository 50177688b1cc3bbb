//! HTTP for the scraper: a whole-request deadline (connect to last body byte, so a server that
//! trickles a byte a second is cut off), retries with backoff (and the server's `Retry-After`),
//! same-origin redirects only, a response size cap and conditional requests. Knows nothing of
//! HTML.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{StatusCode, header};
use tokio::time::Instant;
use url::Url;

use super::budget::{Answer, Pace};

/// How the fetcher behaves; derived from `[site]`.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub request_timeout: Duration,
    pub user_agent: String,
    /// Attempts per URL, including the first.
    pub attempts: u32,
    /// First backoff; doubles each retry, with jitter.
    pub backoff: Duration,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            user_agent: crate::config::default_user_agent(),
            attempts: 4,
            backoff: Duration::from_millis(200),
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Cache validators from an earlier response (kept for each of the site's 1,050 pages: boxed
/// strings, no spare capacity).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validators {
    pub etag: Option<Box<str>>,
    pub last_modified: Option<Box<str>>,
}

impl Validators {
    /// Whether there is nothing to ask a conditional request with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// What a GET returned.
#[derive(Debug)]
pub enum Fetched {
    /// 200 with its body, as bytes: the caller decides how to read them.
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
    /// 304: the caller's cached copy is current.
    NotModified,
}

/// A fetch that failed after all its attempts.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: HTTP {status} after {attempts} attempt(s)")]
    Status {
        url: Url,
        status: StatusCode,
        attempts: u32,
    },
    #[error("GET {url}: {} (after {attempts} attempt(s))", crate::error_chain(.source))]
    Transport {
        url: Url,
        attempts: u32,
        source: reqwest::Error,
    },
    #[error("GET {url}: body larger than the {limit}-byte cap")]
    TooLarge { url: Url, limit: usize },
    #[error(
        "cannot build the HTTP client ({0}); TLS needs the system CA certificates (package ca-certificates)"
    )]
    Client(String),
}

/// The scraper's HTTP client. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: FetchPolicy,
    /// Pages answered (a body or a 304) since the client was made, by every clone.
    answered: Arc<AtomicU64>,
}

enum Attempt {
    Done(Fetched),
    /// Retry after the backoff, or after the server's `Retry-After` when it is longer.
    Retry(FetchError, Option<Duration>),
    Fail(FetchError),
}

/// Longest `Retry-After` honoured; a server asking for more is retried after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Redirects followed per request, each on the site's own origin.
const MAX_REDIRECTS: usize = 5;

/// Follows a redirect only to the origin (scheme, host, port) of the request it came from, so a
/// hostile page cannot send the scraper to another host (the EC2 metadata address, say) or from
/// https down to http; and at most [`MAX_REDIRECTS`] of them.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        if attempt.url().origin() != first.origin() {
            let message = format!(
                "redirect from {first} to {}, another origin: not followed",
                attempt.url()
            );
            attempt.error(message)
        } else if attempt.previous().len() > MAX_REDIRECTS {
            let message = format!("more than {MAX_REDIRECTS} redirects from {first}");
            attempt.error(message)
        } else {
            attempt.follow()
        }
    })
}

/// `Retry-After` in seconds (the HTTP-date form is rare and is treated as absent).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(policy.user_agent.clone())
            .timeout(policy.request_timeout)
            .connect_timeout(policy.request_timeout)
            .pool_max_idle_per_host(16)
            .redirect(same_origin_redirects())
            .build()
            .map_err(|e| FetchError::Client(crate::error_chain(&e)))?;
        Ok(Self {
            client,
            policy,
            answered: Arc::default(),
        })
    }

    /// Pages answered so far (a body or a 304, not an error), by this client and its clones:
    /// how a walk shows it is getting on.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// This client counting its answers with `earlier`'s.
    pub(super) fn counting_with(self, earlier: &Fetcher) -> Fetcher {
        Fetcher {
            answered: Arc::clone(&earlier.answered),
            ..self
        }
    }

    /// The User-Agent sent, which `robots.txt` is read for.
    pub fn user_agent(&self) -> &str {
        &self.policy.user_agent
    }

    /// GET `url`, retrying connect errors, timeouts, 5xx and 429 with exponential backoff.
    /// Every attempt waits for its turn at `pace` (the request budget) and tells it how the
    /// answer went.
    pub async fn get(
        &self,
        url: &Url,
        cached: Option<&Validators>,
        pace: &Pace,
    ) -> Result<Fetched, FetchError> {
        let mut attempt = 1;
        loop {
            pace.turn().await;
            let started = Instant::now();
            let tried = self.try_once(url, cached, attempt).await;
            pace.answered(match &tried {
                Attempt::Done(_) => Answer::Healthy(started.elapsed()),
                Attempt::Retry(_, asked) => Answer::Struggling(*asked),
                Attempt::Fail(_) => Answer::Neutral,
            });
            match tried {
                Attempt::Done(f) => {
                    self.answered.fetch_add(1, Ordering::Relaxed);
                    return Ok(f);
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e, _) if attempt >= self.policy.attempts => return Err(e),
                Attempt::Retry(e, asked) => {
                    let delay = crate::backoff::delay(self.policy.backoff, attempt)
                        .max(asked.unwrap_or_default());
                    tracing::debug!(url = %url, attempt, error = %e, delay_ms = delay.as_millis() as u64, "retrying GET");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn try_once(&self, url: &Url, cached: Option<&Validators>, attempts: u32) -> Attempt {
        let mut req = self.client.get(url.clone());
        if let Some(v) = cached {
            if let Some(etag) = &v.etag {
                req = req.header(header::IF_NONE_MATCH, &**etag);
            }
            if let Some(lm) = &v.last_modified {
                req = req.header(header::IF_MODIFIED_SINCE, &**lm);
            }
        }
        let transport = |source| FetchError::Transport {
            url: url.clone(),
            attempts,
            source,
        };
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return Attempt::Fail(transport(e)),
            // A refused redirect is the site's answer, not a network hiccup.
            Err(e) if e.is_redirect() => return Attempt::Fail(transport(e)),
            Err(e) => return Attempt::Retry(transport(e), None),
        };
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED && cached.is_some() {
            return Attempt::Done(Fetched::NotModified);
        }
        if !status.is_success() {
            let err = FetchError::Status {
                url: url.clone(),
                status,
                attempts,
            };
            // A 429 or a 5xx: the site is struggling; retried after its Retry-After, if any.
            return if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                Attempt::Retry(err, retry_after(resp.headers()))
            } else {
                Attempt::Fail(err)
            };
        }
        let header_str = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(Box::from)
        };
        let validators = Validators {
            etag: header_str(header::ETAG),
            last_modified: header_str(header::LAST_MODIFIED),
        };
        let limit = self.policy.max_body_bytes;
        let too_large = || FetchError::TooLarge {
            url: url.clone(),
            limit,
        };
        if resp.content_length().is_some_and(|n| n as usize > limit) {
            return Attempt::Fail(too_large());
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Attempt::Fail(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Attempt::Retry(transport(e), None),
            }
        }
        Attempt::Done(Fetched::Body {
            bytes: body,
            validators,
        })
    }
}
