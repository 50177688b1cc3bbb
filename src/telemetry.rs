//! Logging: the systemd journal (native protocol, structured fields) when its socket exists,
//! plain or JSON lines on stderr otherwise. One event per fact.

use std::io::IsTerminal;
use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormat;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Default verbosity: our own info, and only warnings from the HTTP and AWS stacks, so that
/// `journalctl -u bookstream -f` reads like the old log file without the noise.
const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,aws_smithy_runtime_api=warn,hyper=warn,hyper_util=warn,reqwest=warn,rustls=warn,tokio_cron_scheduler=warn";

/// Installs the global subscriber. `RUST_LOG` overrides the filter.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let use_journal = match format {
        LogFormat::Journald => true,
        LogFormat::Auto => {
            std::env::var_os("JOURNAL_STREAM").is_some() && Path::new(JOURNAL_SOCKET).exists()
        }
        LogFormat::Text | LogFormat::Json => false,
    };
    if use_journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_syslog_identifier("bookstream".to_owned())
                    .with_field_prefix(None);
                tracing_subscriber::registry()
                    .with(filter)
                    .with(layer)
                    .init();
                return;
            }
            Err(e) => eprintln!("bookstream: journald unavailable ({e}); logging to stderr"),
        }
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == LogFormat::Json {
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt.json().flatten_event(true))
            .init();
    } else {
        // Messages carry the values an operator reads; the structured copies of them are for
        // the journal and JSON, so plain text prints the message alone.
        let message_only = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
            if field.name() == "message" {
                write!(w, "{value:?}")
            } else {
                Ok(())
            }
        });
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt.fmt_fields(message_only))
            .init();
    }
}
