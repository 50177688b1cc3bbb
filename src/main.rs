//! The `bookstream` binary: parse the command line, set up logging and the runtime, run the
//! subcommand, map its error to an exit status (78 = EX_CONFIG for configuration errors, 74 =
//! EX_IOERR for an unreadable state directory, 65 = EX_DATAERR for a corrupt `feed.json` in
//! changes mode, 75 = EX_TEMPFAIL when another process holds it).

use std::process::ExitCode;

use clap::Parser;

use bookstream::cli::{Cli, Command, normalise_legacy_args};
use bookstream::commands::{self, CommandError};
use bookstream::config::Settings;
use bookstream::daemon;

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalise_legacy_args(std::env::args_os()));
    #[cfg(feature = "demo")]
    if matches!(cli.command, Command::Demo(_)) {
        // SAFETY: no other thread exists yet. The demo talks only to its own local moto_server,
        // which accepts any credentials; never reach for the user's real ones or IMDS.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "demo");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "demo");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
            std::env::remove_var("AWS_PROFILE");
        }
    }
    bookstream::telemetry::init(cli.log_format);
    // The daemon (`run`, `once`) waits on the network and a timer nearly all the time, and its
    // CPU work (HTML parsing, JSON) comes in slices under a millisecond, so one thread serves
    // its scrape, sends, watchdog and signals; worker threads would each bring a glibc malloc
    // arena whose freed memory stays resident (with them: 0.6-0.9 MiB more RssAnon between
    // cycles, benches/daemon-footprint.sh).
    // The one-shot commands keep two workers: `scrape` parses 1050 pages as fast as it can.
    let mut builder = match cli.command {
        Command::Run(_) | Command::Once(_) => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bookstream: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line on stderr; under systemd the "<3>" prefix files it at priority "err".
            let prefix = if std::env::var_os("JOURNAL_STREAM").is_some() {
                "<3>"
            } else {
                ""
            };
            eprintln!("{prefix}bookstream: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn dispatch(command: Command) -> Result<(), CommandError> {
    if let Command::Run(arg) = command {
        // The daemon's own signals: TERM/INT stop, HUP reloads; and systemd's NOTIFY_SOCKET.
        let cfg = Settings::load(&arg.config)?;
        let signals = daemon::Signals::daemon().map_err(daemon::DaemonError::Signals)?;
        return Ok(daemon::run(arg.config, cfg, signals, daemon::Notifier::systemd()).await?);
    }
    // SIGINT or SIGTERM stops the command; a second one ends it at once.
    let shutdown = bookstream::signals::command_stop().map_err(daemon::DaemonError::Signals)?;
    match command {
        Command::Scrape(args) => commands::scrape(args, shutdown).await,
        Command::Stream(args) => commands::stream(*args, shutdown).await,
        Command::Tail(args) => commands::tail(args, shutdown).await,
        Command::CheckConfig(arg) => commands::check_config(&arg.config),
        Command::Diff(args) => commands::diff(&args),
        Command::Schema(args) => Ok(bookstream::schema::run(&args)?),
        Command::Once(arg) => {
            let cfg = Settings::load(&arg.config)?;
            daemon::once(&arg.config, cfg, shutdown).await?;
            Ok(())
        }
        #[cfg(feature = "demo")]
        Command::Demo(args) => Ok(bookstream::demo::run(args, shutdown).await?),
        Command::Run(_) => unreachable!("handled above"),
    }
}
