//! Typed configuration: a TOML file layered under `BOOKSTREAM__SECTION__KEY` environment
//! overrides ([`Config`], what the file says), then validated once (`validate.rs`) into
//! [`Settings`] (`settings.rs`), which is all the rest of the program sees.

mod settings;
mod validate;

pub use settings::{KinesisSettings, PartitionKey, Settings, SiteSettings};

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Everything the daemon and its subcommands are configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub site: SiteConfig,
    pub kinesis: KinesisConfig,
    #[serde(default)]
    pub stream: StreamConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `[metrics]`: CloudWatch metrics from the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Publish with PutMetricData (the shipped config turns it on; off when unset, so that a
    /// config without this section never reaches for AWS).
    pub cloudwatch: bool,
    pub namespace: String,
    /// A local CloudWatch-compatible endpoint; `None`: the SDK's (or
    /// AWS_ENDPOINT_URL_CLOUDWATCH).
    pub endpoint_url: Option<Url>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            cloudwatch: false,
            namespace: "bookstream".to_owned(),
            endpoint_url: None,
        }
    }
}

/// `[site]`: where and how politely to scrape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteConfig {
    pub base_url: Url,
    /// Listing pages to walk; 0 = all (follow "next" to the end).
    pub pages: u32,
    pub concurrency: usize,
    #[serde(with = "duration_str")]
    pub request_timeout: Duration,
    pub user_agent: String,
    /// Walk the listing pages again once the last walk started this long ago (at most once a
    /// cycle; the default 1m with the default 1-minute cron walks every cycle; 0s also does).
    #[serde(with = "duration_str")]
    pub refresh: Duration,
    /// Attempts per page, including the first.
    pub attempts: u32,
    pub max_page_bytes: usize,
    /// Refuse a scrape that finds more than this fraction fewer books than the last good
    /// catalogue (0.2 = 20%); 1.0 accepts any size.
    pub max_shrink: f64,
    /// Requests started per second at most, evenly spaced (the `concurrency` cap stays on
    /// top; a `Crawl-delay` or a struggling site slows it further).
    pub max_requests_per_sec: f64,
    /// Complete walks in a row that must not list a book before it is `removed` (a product
    /// page answering 404 or 410 removes it at once).
    pub removed_after: u32,
    /// Every product page is read again at least this often; between, a book whose listing
    /// entry is unchanged keeps the product fields last read (its page is not asked for).
    #[serde(with = "duration_str")]
    pub verify_every: Duration,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            base_url: Url::parse("https://books.toscrape.com/").expect("literal URL"),
            pages: 0,
            concurrency: 8,
            request_timeout: Duration::from_secs(10),
            user_agent: default_user_agent(),
            refresh: MINUTE,
            attempts: 4,
            max_page_bytes: 2 * 1024 * 1024,
            max_shrink: 0.2,
            max_requests_per_sec: 2.0,
            removed_after: 2,
            verify_every: HOUR,
        }
    }
}

/// The User-Agent sent to the site: names the project so the site owner can tell who we are.
pub fn default_user_agent() -> String {
    format!(
        "bookstream/{} (+https://github.com/bookstream/bookstream)",
        env!("CARGO_PKG_VERSION")
    )
}

/// `[kinesis]`: the target stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisConfig {
    pub stream_name: String,
    /// `None`: the standard AWS chain (AWS_REGION, profile, IMDS).
    #[serde(default)]
    pub region: Option<String>,
    /// A local Kinesis-compatible server; `None` = the real AWS endpoint (or AWS_ENDPOINT_URL).
    #[serde(default)]
    pub endpoint_url: Option<Url>,
    /// A fixed key, or `{field}` to use that field of each record (default `{upc}`).
    #[serde(default = "default_partition_key")]
    pub partition_key: String,
}

fn default_partition_key() -> String {
    "{upc}".to_owned()
}

/// `[stream]`: pacing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    #[serde(with = "duration_str")]
    pub interval: Duration,
    pub max_records: u32,
    pub record_delimiter: Delimiter,
    /// What the records are: the catalogue, walked over and over, or its changes.
    pub mode: Mode,
    /// In changes mode, the very first catalogue is sent once, every book as `snapshot`.
    pub initial_snapshot: bool,
}

/// `[stream] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Walk the catalogue, `max_records` books per cycle, wrapping around at the end.
    Catalogue,
    /// Send what changed between refreshes (added, changed, removed), each change once.
    Changes,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            max_records: 60,
            record_delimiter: Delimiter::None,
            mode: Mode::Catalogue,
            initial_snapshot: true,
        }
    }
}

/// What follows each record's JSON in the Kinesis payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delimiter {
    /// Nothing: the old Firehose->Lambda step splits concatenated objects on `}{`.
    None,
    /// `\n`: newline-delimited JSON, readable by Athena/Glue directly.
    Newline,
}

impl Delimiter {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Delimiter::None => b"",
            Delimiter::Newline => b"\n",
        }
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(
            d,
            &[("catalogue", Mode::Catalogue), ("changes", Mode::Changes)],
        )
    }
}

impl<'de> Deserialize<'de> for Delimiter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(
            d,
            &[("none", Delimiter::None), ("newline", Delimiter::Newline)],
        )
    }
}

/// One of a few words; anything else is refused naming them all (serde's own message names
/// the Rust enum, not the words the file may use).
fn one_of<'de, D: Deserializer<'de>, T: Copy>(d: D, words: &[(&str, T)]) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    match words.iter().find(|(word, _)| *word == text) {
        Some((_, value)) => Ok(*value),
        None => {
            let names: Vec<String> = words
                .iter()
                .map(|(word, _)| format!("\"{word}\""))
                .collect();
            Err(serde::de::Error::custom(format!(
                "expected {}, got \"{text}\"",
                names.join(" or ")
            )))
        }
    }
}

/// `[schedule]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// 6-field cron (seconds first), UTC.
    pub cron: String,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            cron: "0 * * * * *".to_owned(),
        }
    }
}

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub dir: PathBuf,
    /// `dead-letter.jsonl` is rotated before a record would take it past this size (a record
    /// larger than this gets a file of its own).
    pub dead_letter_max_bytes: u64,
    /// Rotated dead-letter files kept (`dead-letter.jsonl.1` newest, up to `.N`); the oldest
    /// is removed when one more would exceed it.
    pub dead_letter_files: u32,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/bookstream"),
            dead_letter_max_bytes: 16 * 1024 * 1024,
            dead_letter_files: 4,
        }
    }
}

/// A configuration that cannot be used. Always names the source and, where known, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: PathBuf,
        key: &'static str,
        message: String,
    },
}

impl Config {
    /// Loads `file` and applies `BOOKSTREAM__SECTION__KEY` overrides from the environment;
    /// [`Config::validate`] (or [`Settings::load`] for both) makes settings of it.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::from_toml(&text, file)
    }

    /// As [`Config::load`], from TOML text; `file` is only used in messages.
    pub fn from_toml(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let parse = |e: config::ConfigError| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        };
        let cfg: Config = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("BOOKSTREAM")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .map_err(parse)?
            .try_deserialize()
            .map_err(parse)?;
        Ok(cfg)
    }

    /// The effective settings as TOML, for `check-config`; keys left unset (the AWS chain
    /// decides) are listed as comments, so the output still loads back.
    pub fn to_toml(&self) -> String {
        let mut out = toml::to_string(self)
            .unwrap_or_else(|e| format!("# cannot print the settings as TOML: {e}\n"));
        let unset = [
            ("kinesis.region", self.kinesis.region.is_none()),
            ("kinesis.endpoint_url", self.kinesis.endpoint_url.is_none()),
            ("metrics.endpoint_url", self.metrics.endpoint_url.is_none()),
        ];
        for (key, _) in unset.iter().filter(|(_, is_unset)| *is_unset) {
            out.push_str(&format!("# {key} is unset: the AWS SDK's defaults apply\n"));
        }
        out
    }
}

/// Durations as humane strings ("1s", "500ms", "10m") in TOML.
mod duration_str {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "expected a duration such as \"1s\", \"500ms\" or \"10m\", got \"{text}\" ({e})"
            ))
        })
    }
}

#[cfg(test)]
mod tests;
