//! bookstream: scrape the books.toscrape.com catalogue on a schedule and stream it, record by
//! record, into an Amazon Kinesis Data Stream (and from there through Firehose into S3).
//!
//! Data flows one way: config -> scrape -> catalogue -> cursor -> kinesis. Lower modules never
//! import higher ones: `scrape` knows nothing of Kinesis, `kinesis` nothing of HTML.

pub mod catalogue;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cursor;
pub mod cycle;
pub mod daemon;
pub mod demo;
pub mod kinesis;
pub mod schedule;
pub mod scrape;
pub mod shutdown;
pub mod systemd;
pub mod telemetry;
pub mod testsite;

/// The current time as RFC 3339 UTC with seconds, e.g. "2026-11-25T12:05:00Z".
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
