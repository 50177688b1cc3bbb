//! The validated settings: what [`Config::validate`](super::Config::validate) makes of a
//! [`Config`](super::Config), once (ripgrep's low args -> high args). The engine and the daemon
//! take only these: the cron already parsed, the partition key already split into a fixed key
//! or a field name, "all pages" as `None` rather than `0`, and the fetch and retry policies as
//! the values the scraper and the producer take. Nothing downstream re-checks or re-parses raw
//! input.

use std::path::Path;
use std::time::Duration;

use url::Url;

use super::{ConfigError, MetricsConfig, StateConfig, StreamConfig};
use crate::kinesis::producer::RetryPolicy;
use crate::schedule::Schedule;
use crate::scrape::fetch::FetchPolicy;

/// Everything the daemon, `once` and the demo run with, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub site: SiteSettings,
    pub kinesis: KinesisSettings,
    pub stream: StreamConfig,
    /// `[schedule] cron`, parsed.
    pub schedule: Schedule,
    pub state: StateConfig,
    pub metrics: MetricsConfig,
}

impl Settings {
    /// Loads `file` (with `BOOKSTREAM__*` overrides) and validates it: the one way from a file
    /// to settings.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        super::Config::load(file)?.validate(file)
    }
}

/// `[site]`, validated.
#[derive(Debug, Clone)]
pub struct SiteSettings {
    pub base_url: Url,
    /// Listing pages to walk; `None`: all (follow "next" to the end).
    pub pages: Option<u32>,
    pub concurrency: usize,
    /// Reuse the last catalogue for this long before scraping again.
    pub refresh: Duration,
    /// Refuse a scrape that finds more than this fraction fewer books than the last good one.
    pub max_shrink: f64,
    pub max_requests_per_sec: f64,
    /// Complete walks in a row that must not list a book before it is `removed`.
    pub removed_after: u32,
    /// Every product page is read again at least this often.
    pub verify_every: Duration,
    /// Per request: timeout, User-Agent, attempts and backoff, size cap.
    pub fetch: FetchPolicy,
}

/// `[kinesis]`, validated.
#[derive(Debug, Clone)]
pub struct KinesisSettings {
    pub stream_name: String,
    /// `None`: the standard AWS chain (AWS_REGION, profile, IMDS).
    pub region: Option<String>,
    /// A local Kinesis-compatible server; `None`: the real endpoint (or AWS_ENDPOINT_URL).
    pub endpoint_url: Option<Url>,
    pub partition_key: PartitionKey,
    /// How hard the producer tries one record.
    pub retry: RetryPolicy,
}

/// How each record's partition key is chosen: `[kinesis] partition_key` (and `stream
/// --partition-key`), read once instead of re-stripping the `{...}` template for every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionKey {
    /// The same key for every record (one shard takes them all).
    Fixed(String),
    /// `{name}`: that field of each record (a string or a number); a record without it takes
    /// the caller's fallback.
    Field(String),
}

impl PartitionKey {
    /// `{name}` is a field; text without braces a fixed key (1-256 characters, as Kinesis
    /// takes). Anything else with a brace (`{upc`, `upc}`, `{}`, `{a}b`) is refused: it is a
    /// `{field}` template gone wrong, and taken as a fixed key it would send every record to
    /// one shard without a word.
    pub fn parse(template: &str) -> Result<Self, String> {
        let name = template.strip_prefix('{').and_then(|k| k.strip_suffix('}'));
        let key = match name {
            Some(name) if !name.is_empty() && !name.contains(['{', '}']) => {
                return Ok(PartitionKey::Field(name.to_owned()));
            }
            Some(_) => None,
            None if template.contains(['{', '}']) => None,
            None => Some(template),
        };
        match key {
            // Kinesis counts a partition key's Unicode characters, not its bytes.
            Some(key) if !key.is_empty() && key.chars().count() <= 256 => {
                Ok(PartitionKey::Fixed(key.to_owned()))
            }
            Some(_) => Err(format!(
                "expected a fixed key of 1-256 characters, or `{{field}}`, got {} characters",
                template.chars().count()
            )),
            None => Err(format!(
                "expected `{{field}}` (one record field in braces, e.g. `{{upc}}`) or a fixed \
                 key without braces, got `{template}`"
            )),
        }
    }

    /// The field this key is read from, if it is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            PartitionKey::Field(name) => Some(name),
            PartitionKey::Fixed(_) => None,
        }
    }
}

impl std::str::FromStr for PartitionKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartitionKey::Fixed(key) => f.write_str(key),
            PartitionKey::Field(name) => write!(f, "{{{name}}}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_braced_name_is_a_field_text_without_braces_a_fixed_key() {
        assert_eq!(
            PartitionKey::parse("{upc}"),
            Ok(PartitionKey::Field("upc".into()))
        );
        assert_eq!(
            PartitionKey::parse("No"),
            Ok(PartitionKey::Fixed("No".into()))
        );
        for text in ["{upc}", "No"] {
            assert_eq!(PartitionKey::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_broken_template_is_refused_not_taken_as_a_fixed_key() {
        for text in ["{upc", "upc}", "{}", "{a}b", "a{b}", "{{upc}}"] {
            let e = PartitionKey::parse(text).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "expected `{{field}}` (one record field in braces, e.g. `{{upc}}`) or a \
                     fixed key without braces, got `{text}`"
                ),
                "{text}"
            );
        }
        let long = "k".repeat(257);
        assert_eq!(
            PartitionKey::parse(&long).unwrap_err(),
            "expected a fixed key of 1-256 characters, or `{field}`, got 257 characters"
        );
        assert!(PartitionKey::parse("").is_err());
        assert!(PartitionKey::parse(&"k".repeat(256)).is_ok());
        // Characters, not bytes: 256 two-byte characters are a key, 257 are not.
        assert!(PartitionKey::parse(&"é".repeat(256)).is_ok());
        assert_eq!(
            PartitionKey::parse(&"é".repeat(257)).unwrap_err(),
            "expected a fixed key of 1-256 characters, or `{field}`, got 257 characters"
        );
    }
}
