//! What types alone cannot check: non-empty names, sane numbers within bounds (anything larger
//! is a typo, and added to a clock would overflow), a cron that parses. Each error names the
//! file and the key. What passes becomes [`Settings`], with what was parsed kept parsed.

use std::path::Path;
use std::time::Duration;

use super::{
    Config, ConfigError, DAY, HOUR, KinesisSettings, MINUTE, PartitionKey, Settings, SiteSettings,
};
use crate::kinesis::producer::RetryPolicy;
use crate::schedule::Schedule;
use crate::scrape::fetch::FetchPolicy;

impl Config {
    /// Checks what types alone cannot (non-empty names, sane numbers, a cron that parses) and
    /// returns the settings the program runs with; the first error names `file` and the key.
    pub fn validate(&self, file: &Path) -> Result<Settings, ConfigError> {
        let bad = |key, message: String| ConfigError::Invalid {
            file: file.to_owned(),
            key,
            message,
        };
        let http = |key, url: &url::Url| match url.scheme() {
            "http" | "https" => Ok(()),
            _ => Err(bad(key, format!("expected an http(s) URL, got `{url}`"))),
        };
        http("site.base_url", &self.site.base_url)?;
        if self.site.concurrency == 0 || self.site.concurrency > 64 {
            return Err(bad(
                "site.concurrency",
                format!("expected 1..=64, got {}", self.site.concurrency),
            ));
        }
        if self.site.attempts == 0 {
            return Err(bad("site.attempts", "expected at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.site.max_shrink) {
            return Err(bad(
                "site.max_shrink",
                format!(
                    "expected a fraction from 0.0 to 1.0, got {}",
                    self.site.max_shrink
                ),
            ));
        }
        let rate = self.site.max_requests_per_sec;
        if !(0.001..=1000.0).contains(&rate) {
            return Err(bad(
                "site.max_requests_per_sec",
                format!("expected a rate from 0.001 to 1000 requests a second, got {rate}"),
            ));
        }
        if !(1..=100).contains(&self.site.removed_after) {
            return Err(bad(
                "site.removed_after",
                format!(
                    "expected 1 to 100 complete walks, got {}",
                    self.site.removed_after
                ),
            ));
        }
        if self.site.user_agent.trim().is_empty() {
            return Err(bad("site.user_agent", "expected a non-empty string".into()));
        }
        let name = &self.kinesis.stream_name;
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(bad(
                "kinesis.stream_name",
                format!("expected 1-128 characters of [a-zA-Z0-9_.-], got `{name}`"),
            ));
        }
        if let Some(url) = &self.kinesis.endpoint_url {
            http("kinesis.endpoint_url", url)?;
        }
        let partition_key = PartitionKey::parse(&self.kinesis.partition_key)
            .map_err(|e| bad("kinesis.partition_key", e))?;
        let within = |key, d: Duration, max: Duration, max_text: &str| {
            if d.is_zero() || d > max {
                Err(bad(
                    key,
                    format!(
                        "expected more than 0s and at most {max_text}, got {}",
                        humantime::format_duration(d)
                    ),
                ))
            } else {
                Ok(())
            }
        };
        within("stream.interval", self.stream.interval, HOUR, "1h")?;
        within(
            "site.request_timeout",
            self.site.request_timeout,
            10 * MINUTE,
            "10m",
        )?;
        within(
            "site.verify_every",
            self.site.verify_every,
            30 * DAY,
            "30days",
        )?;
        if self.site.refresh > 30 * DAY {
            return Err(bad(
                "site.refresh",
                "expected at most 30days (0s scrapes every cycle)".into(),
            ));
        }
        if self.stream.max_records == 0 || self.stream.max_records > 1_000_000 {
            return Err(bad(
                "stream.max_records",
                format!("expected 1..=1000000, got {}", self.stream.max_records),
            ));
        }
        if self.site.attempts > 100 {
            return Err(bad(
                "site.attempts",
                format!("expected 1..=100, got {}", self.site.attempts),
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.site.max_page_bytes) {
            return Err(bad(
                "site.max_page_bytes",
                format!(
                    "expected 1024..=67108864 (1 KiB to 64 MiB), got {}",
                    self.site.max_page_bytes
                ),
            ));
        }
        let ns = &self.metrics.namespace;
        if ns.is_empty() || ns.len() > 255 || ns.starts_with(':') || ns.starts_with("AWS/") {
            return Err(bad(
                "metrics.namespace",
                format!(
                    "expected 1-255 characters, not starting with \"AWS/\" or \":\", got `{ns}`"
                ),
            ));
        }
        if let Some(url) = &self.metrics.endpoint_url {
            http("metrics.endpoint_url", url)?;
        }
        let schedule = Schedule::parse(&self.schedule.cron)
            .map_err(|e| bad("schedule.cron", e.to_string()))?;
        if self.state.dir.as_os_str().is_empty() {
            return Err(bad("state.dir", "expected a directory path".into()));
        }
        if self.state.dead_letter_max_bytes == 0 {
            return Err(bad(
                "state.dead_letter_max_bytes",
                "expected a size in bytes of at least 1".into(),
            ));
        }
        if self.state.dead_letter_files == 0 || self.state.dead_letter_files > 1000 {
            return Err(bad(
                "state.dead_letter_files",
                format!(
                    "expected 1..=1000 rotated files to keep, got {}",
                    self.state.dead_letter_files
                ),
            ));
        }
        Ok(self.settings(schedule, partition_key))
    }

    /// The settings of a validated config.
    fn settings(&self, schedule: Schedule, partition_key: PartitionKey) -> Settings {
        let (site, kinesis) = (&self.site, &self.kinesis);
        Settings {
            site: SiteSettings {
                base_url: site.base_url.clone(),
                pages: (site.pages > 0).then_some(site.pages),
                concurrency: site.concurrency,
                refresh: site.refresh,
                max_shrink: site.max_shrink,
                max_requests_per_sec: site.max_requests_per_sec,
                removed_after: site.removed_after,
                verify_every: site.verify_every,
                fetch: FetchPolicy {
                    request_timeout: site.request_timeout,
                    user_agent: site.user_agent.clone(),
                    attempts: site.attempts,
                    max_body_bytes: site.max_page_bytes,
                    ..FetchPolicy::default()
                },
            },
            kinesis: KinesisSettings {
                stream_name: kinesis.stream_name.clone(),
                region: kinesis.region.clone(),
                endpoint_url: kinesis.endpoint_url.clone(),
                partition_key,
                retry: RetryPolicy::default(),
            },
            stream: self.stream.clone(),
            schedule,
            state: self.state.clone(),
            metrics: self.metrics.clone(),
        }
    }
}
