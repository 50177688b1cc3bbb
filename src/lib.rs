//! bookstream: scrape the books.toscrape.com catalogue on a schedule and stream it, record by
//! record, into an Amazon Kinesis Data Stream (and from there through Firehose into S3).
//!
//! Data flows one way: config -> scrape -> catalogue -> cursor -> kinesis. Lower modules never
//! import higher ones: `scrape` knows nothing of Kinesis, `kinesis` nothing of HTML.

// What the binary and the tests use.
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod schema;
pub mod scrape;
pub mod signals;
pub mod systemd;
pub mod telemetry;

// The rooms behind them.
mod aws;
mod backoff;
mod catalogue;
mod changes;
mod cursor;
mod dead_letter;
mod deadline;
mod engine;
mod events;
mod input;
mod json_text;
mod kinesis;
mod memory;
mod metrics;
mod refresh;
mod schedule;
mod state;

/// An error and all its sources on one line (the AWS SDK's and reqwest's own Display say little).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut src = err.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
