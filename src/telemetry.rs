//! Logging: the systemd journal (native protocol, structured fields) when its socket exists,
//! plain or JSON lines on stderr otherwise. One event per fact.

use std::io::IsTerminal;
use std::path::Path;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormat;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Default verbosity: our own info, and only warnings from the HTTP and AWS stacks, so that
/// `journalctl -u bookstream -f` reads like the old log file without the noise.
const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,aws_smithy_runtime_api=warn,hyper=warn,hyper_util=warn,reqwest=warn,rustls=warn,tokio_cron_scheduler=warn";

/// The filter `RUST_LOG` gives (unset or empty: [`DEFAULT_FILTER`]): comma-separated
/// directives, each a level (`debug`) or a target and a level (`bookstream::engine=debug`). One
/// that does not parse is named, with what was expected, and the default is used instead: a
/// typo must not silence the log.
fn filter(rust_log: Option<&str>) -> (Targets, Option<String>) {
    let default = || DEFAULT_FILTER.parse().expect("the default filter parses");
    match rust_log.map(str::trim) {
        None | Some("") => (default(), None),
        Some(given) => match parse(given) {
            Ok(targets) => (targets, None),
            Err(e) => (
                default(),
                Some(format!(
                    "bookstream: RUST_LOG={given:?} is not a log filter ({e}); expected comma-separated \
                     `level` or `target=level` directives (levels: error, warn, info, debug, trace, off), \
                     e.g. `info,bookstream::engine=debug`; using the default"
                )),
            ),
        },
    }
}

/// `given` as target and level directives. A span or field filter (`target[span]=debug`,
/// `target{field}=debug`) would be taken for a target name that matches nothing: refused.
fn parse(given: &str) -> Result<Targets, String> {
    if given.contains(['[', '{']) {
        return Err("span and field filters are not supported".to_owned());
    }
    given.parse().map_err(|e| format!("{e}"))
}

/// Installs the global subscriber. `RUST_LOG` overrides the filter ([`filter`]).
pub fn init(format: LogFormat) {
    let rust_log = std::env::var_os("RUST_LOG").map(|v| v.to_string_lossy().into_owned());
    let (filter, refused) = filter(rust_log.as_deref());
    if let Some(refused) = &refused {
        eprintln!("{refused}");
    }
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

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    use super::*;

    fn level(targets: &Targets, target: &str) -> LevelFilter {
        // The most verbose level the filter lets through for `target`.
        [
            Level::TRACE,
            Level::DEBUG,
            Level::INFO,
            Level::WARN,
            Level::ERROR,
        ]
        .into_iter()
        .find(|l| targets.would_enable(target, l))
        .map_or(LevelFilter::OFF, LevelFilter::from_level)
    }

    #[test]
    fn the_default_keeps_our_info_and_the_libraries_warnings() {
        let (targets, refused) = filter(None);
        assert_eq!(refused, None);
        assert_eq!(level(&targets, "bookstream::engine"), LevelFilter::INFO);
        assert_eq!(
            level(&targets, "aws_smithy_runtime::client"),
            LevelFilter::WARN
        );
        assert_eq!(level(&targets, "hyper_util::client"), LevelFilter::WARN);
        assert_eq!(filter(Some("  ")).1, None, "empty is unset");
    }

    #[test]
    fn rust_log_sets_levels_per_target_as_before() {
        let (targets, refused) = filter(Some("warn,bookstream::engine=debug"));
        assert_eq!(refused, None);
        assert_eq!(level(&targets, "bookstream::engine"), LevelFilter::DEBUG);
        assert_eq!(level(&targets, "bookstream::daemon"), LevelFilter::WARN);
        let (only_ours, _) = filter(Some("bookstream=trace"));
        assert_eq!(
            level(&only_ours, "bookstream::kinesis::producer"),
            LevelFilter::TRACE
        );
        assert_eq!(level(&only_ours, "hyper"), LevelFilter::OFF);
    }

    #[test]
    fn a_filter_that_does_not_parse_is_named_and_the_default_used() {
        let (targets, refused) = filter(Some("bookstream=dbug"));
        let refused = refused.expect("a bad level is named");
        assert!(
            refused.contains(r#"RUST_LOG="bookstream=dbug""#),
            "{refused}"
        );
        assert!(refused.contains("target=level"), "{refused}");
        assert_eq!(level(&targets, "bookstream::engine"), LevelFilter::INFO);
        assert_eq!(level(&targets, "hyper"), LevelFilter::WARN);
        let (_, refused) = filter(Some("bookstream[cycle]=debug"));
        let refused = refused.expect("a span filter is named, not taken for a target");
        assert!(refused.contains("span and field filters"), "{refused}");
    }
}
