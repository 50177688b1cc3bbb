//! HTTP for the scraper: timeouts, retries with backoff, a response size cap and conditional
//! requests. Knows nothing of HTML.

use std::time::Duration;

use reqwest::{StatusCode, header};
use url::Url;

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

/// Cache validators from an earlier response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a GET returned.
#[derive(Debug)]
pub enum Fetched {
    /// 200 with its body (decoded as UTF-8: the site sends no charset, and the pages are UTF-8).
    Body {
        text: String,
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
    #[error("GET {url}: {source} (after {attempts} attempt(s))")]
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
}

enum Attempt {
    Done(Fetched),
    Retry(FetchError),
    Fail(FetchError),
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(policy.user_agent.clone())
            .timeout(policy.request_timeout)
            .connect_timeout(policy.request_timeout)
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| FetchError::Client(crate::error_chain(&e)))?;
        Ok(Self { client, policy })
    }

    /// GET `url`, retrying connect errors, timeouts, 5xx and 429 with exponential backoff.
    pub async fn get(&self, url: &Url, cached: Option<&Validators>) -> Result<Fetched, FetchError> {
        let mut attempt = 1;
        loop {
            match self.try_once(url, cached, attempt).await {
                Attempt::Done(f) => return Ok(f),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e) if attempt >= self.policy.attempts => return Err(e),
                Attempt::Retry(e) => {
                    let delay = crate::backoff::delay(self.policy.backoff, attempt);
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
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
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
            Err(e) => return Attempt::Retry(transport(e)),
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
            return if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                Attempt::Retry(err)
            } else {
                Attempt::Fail(err)
            };
        }
        let header_str = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
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
                Err(e) => return Attempt::Retry(transport(e)),
            }
        }
        let text = String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Attempt::Done(Fetched::Body { text, validators })
    }
}
