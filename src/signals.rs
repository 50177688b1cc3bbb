//! Signals as the process receives them, in one place: the daemon's ([`Signals::daemon`]:
//! SIGTERM and SIGINT stop, SIGHUP reloads) and a one-shot command's ([`command_stop`]: the
//! first SIGINT or SIGTERM stops it, a second ends the process at once). Both are installed at
//! once, so a signal right after start is never the default action (which ends the process
//! without a word, the cursor not saved, nothing flushed). The daemon's are arguments of
//! [`crate::daemon::run`] (as mini-redis passes `shutdown` into `server::run`), so that a test
//! drives the daemon in-process with its own.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::Event;
use crate::events::signals::{SignalledAgain, StopRequested};

/// What tells the daemon to stop or to reload.
#[derive(Debug)]
pub struct Signals {
    /// Cancelled: stop (the put in flight finishes or is abandoned, the cursor is saved).
    pub stop: CancellationToken,
    /// Each message: re-read the config file. Requests that arrive while one waits are one.
    pub reload: mpsc::Receiver<()>,
}

impl Signals {
    /// The daemon's own: SIGTERM and SIGINT stop, SIGHUP reloads.
    pub fn daemon() -> std::io::Result<Self> {
        let mut stopping = Stopping::install()?;
        let mut hup = signal(SignalKind::hangup())?;
        let stop = CancellationToken::new();
        let (reload_tx, reload) = mpsc::channel(1);
        let trigger = stop.clone();
        tokio::spawn(async move {
            let signal = loop {
                tokio::select! {
                    signal = stopping.next() => break signal,
                    _ = hup.recv() => {
                        // Full: a reload is already waiting, and it reads the newest file.
                        let _ = reload_tx.try_send(());
                    }
                }
            };
            StopRequested { signal }.emit();
            trigger.cancel();
        });
        Ok(Signals { stop, reload })
    }
}

/// A one-shot command's stop (`once`, `scrape`, `stream`, `tail`, ...): the first SIGINT or
/// SIGTERM cancels the token (the command finishes its request in flight, saves what it saves,
/// and returns); a second ends the process at once with status 130, whatever it waits for.
pub fn command_stop() -> std::io::Result<CancellationToken> {
    let mut stopping = Stopping::install()?;
    let stop = CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        let signal = stopping.next().await;
        StopRequested { signal }.emit();
        trigger.cancel();
        let signal = stopping.next().await;
        SignalledAgain { signal }.emit();
        std::process::exit(130);
    });
    Ok(stop)
}

/// SIGTERM and SIGINT, installed.
struct Stopping {
    term: Signal,
    int: Signal,
}

impl Stopping {
    fn install() -> std::io::Result<Stopping> {
        Ok(Stopping {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next of them to arrive, by name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
