//! `bookstream-testsite`: the generated test catalogue on 127.0.0.1 for the benchmarks, the
//! CI's systemd test and anyone trying bookstream by hand. Prints `listening on URL` on stdout,
//! then serves until SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

use bookstream_testsite::SiteArgs;

fn main() -> ExitCode {
    let args = SiteArgs::parse();
    let site = match args.start() {
        Ok(site) => site,
        Err(e) => {
            eprintln!(
                "bookstream-testsite: cannot serve on 127.0.0.1:{}: {e}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", site.url());
    let _ = std::io::stdout().flush();
    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| {
            rt.block_on(async {
                let mut term = signal(SignalKind::terminate())?;
                tokio::select! {
                    r = tokio::signal::ctrl_c() => r,
                    _ = term.recv() => Ok(()),
                }
            })
        });
    drop(site);
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bookstream-testsite: cannot wait for signals: {e}");
            ExitCode::FAILURE
        }
    }
}
