//! Stop and reload as the daemon receives them: arguments of [`super::run`] (as mini-redis
//! passes `shutdown` into `server::run`), so that `main` wires the real signals and a test
//! drives the daemon in-process with its own.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::DaemonError;
use crate::events::Event;
use crate::events::daemon::StopRequested;

/// What tells the daemon to stop or to reload.
#[derive(Debug)]
pub struct Signals {
    /// Cancelled: stop (the put in flight finishes or is abandoned, the cursor is saved).
    pub stop: CancellationToken,
    /// Each message: re-read the config file. Requests that arrive while one waits are one.
    pub reload: mpsc::Receiver<()>,
}

impl Signals {
    /// The process's own: SIGTERM and SIGINT stop, SIGHUP reloads. Installed at once, so that
    /// a SIGHUP right after READY is never the default action (which ends the process).
    pub fn unix() -> Result<Self, DaemonError> {
        let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
        let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
        let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
        let stop = CancellationToken::new();
        let (reload_tx, reload) = mpsc::channel(1);
        let trigger = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => break StopRequested { signal: "SIGTERM" }.emit(),
                    _ = int.recv() => break StopRequested { signal: "SIGINT" }.emit(),
                    _ = hup.recv() => {
                        // Full: a reload is already waiting, and it reads the newest file.
                        let _ = reload_tx.try_send(());
                    }
                }
            }
            trigger.cancel();
        });
        Ok(Signals { stop, reload })
    }
}
