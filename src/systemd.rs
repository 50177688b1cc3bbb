//! The sd_notify protocol: READY, STATUS, WATCHDOG, RELOADING (+MONOTONIC_USEC), STOPPING.
//! A no-op outside systemd (no NOTIFY_SOCKET); a send failure is logged once per kind of message
//! until a send of that kind succeeds again (a broken socket under a watchdog would otherwise
//! warn every half period), and never stops the daemon. The daemon takes its [`Notifier`] as an argument, so a test can
//! drive it in-process with a recorder in place of the socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::mpsc;

/// One message to the service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Config valid, state loaded, client built: the unit is started (or a reload is done).
    Ready,
    /// The one-line status shown by `systemctl status`.
    Status(String),
    Watchdog,
    /// A reload started.
    Reloading,
    Stopping,
}

impl std::fmt::Display for Notice {
    /// As on the wire (`READY=1`, `STATUS=...`), without the extra fields.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Ready => f.write_str("READY=1"),
            Notice::Status(text) => write!(f, "STATUS={text}"),
            Notice::Watchdog => f.write_str("WATCHDOG=1"),
            Notice::Reloading => f.write_str("RELOADING=1"),
            Notice::Stopping => f.write_str("STOPPING=1"),
        }
    }
}

/// Where the daemon's notices go.
#[derive(Debug, Clone)]
pub enum Notifier {
    /// sd_notify over `NOTIFY_SOCKET` (nothing is sent without it); the watchdog period is
    /// systemd's.
    Systemd(Warned),
    /// Each notice onto a channel, in order, for a test that drives the daemon in-process; no
    /// watchdog.
    Recorder(mpsc::UnboundedSender<Notice>),
}

impl Notifier {
    /// The service manager's notifier (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    pub fn systemd() -> Self {
        Notifier::Systemd(Warned::default())
    }

    /// A recorder, and the channel its notices arrive on.
    pub fn recorder() -> (Self, mpsc::UnboundedReceiver<Notice>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Notifier::Recorder(tx), rx)
    }

    fn send(&self, notice: Notice) {
        let tx = match self {
            Notifier::Recorder(tx) => tx,
            Notifier::Systemd(warned) => return sd_send(&notice, warned),
        };
        // A test that stopped listening only misses what it no longer reads.
        let _ = tx.send(notice);
    }

    pub fn ready(&self) {
        self.send(Notice::Ready);
    }

    pub fn status(&self, text: &str) {
        self.send(Notice::Status(text.to_owned()));
    }

    pub fn watchdog(&self) {
        self.send(Notice::Watchdog);
    }

    /// Reload started; systemd also gets MONOTONIC_USEC with it (systemd >= 253 checks it).
    pub fn reloading(&self) {
        self.send(Notice::Reloading);
    }

    pub fn stopping(&self) {
        self.send(Notice::Stopping);
    }

    /// Half the watchdog timeout, when systemd set one for this process.
    pub fn watchdog_period(&self) -> Option<Duration> {
        match self {
            Notifier::Systemd(_) => sd_notify::watchdog_enabled().map(|d| d / 2),
            Notifier::Recorder(_) => None,
        }
    }
}

/// The kinds of notice whose last send failed and was logged (one bit per kind), shared by the
/// notifier's clones.
#[derive(Debug, Clone, Default)]
pub struct Warned(Arc<AtomicU8>);

impl Warned {
    /// A send of `kind` (0-7) failed: `true` if this is the first failure since it last worked.
    fn failed(&self, kind: u8) -> bool {
        let bit = 1 << kind;
        self.0.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// A send of `kind` worked: its next failure is logged again.
    fn worked(&self, kind: u8) {
        self.0.fetch_and(!(1 << kind), Ordering::Relaxed);
    }
}

/// One notice over `NOTIFY_SOCKET`.
fn sd_send(notice: &Notice, warned: &Warned) {
    let (what, result) = match notice {
        Notice::Ready => ("READY", sd_notify::notify(&[NotifyState::Ready])),
        Notice::Status(text) => ("STATUS", sd_notify::notify(&[NotifyState::Status(text)])),
        Notice::Watchdog => ("WATCHDOG", sd_notify::notify(&[NotifyState::Watchdog])),
        Notice::Reloading => (
            "RELOADING",
            match NotifyState::monotonic_usec_now() {
                Ok(now) => sd_notify::notify(&[NotifyState::Reloading, now]),
                Err(_) => sd_notify::notify(&[NotifyState::Reloading]),
            },
        ),
        Notice::Stopping => ("STOPPING", sd_notify::notify(&[NotifyState::Stopping])),
    };
    let kind = match notice {
        Notice::Ready => 0,
        Notice::Status(_) => 1,
        Notice::Watchdog => 2,
        Notice::Reloading => 3,
        Notice::Stopping => 4,
    };
    match result {
        Ok(()) => warned.worked(kind),
        Err(e) if warned.failed(kind) => tracing::warn!(
            message_kind = what,
            error = %e,
            "cannot notify systemd ({what}): {e}; further {what} failures are not logged until one succeeds"
        ),
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_kind_is_logged_once_until_it_works_again() {
        let warned = Warned::default();
        let clone = warned.clone();
        assert!(warned.failed(2), "the first watchdog failure is logged");
        assert!(!clone.failed(2), "not the next, from any clone");
        assert!(warned.failed(1), "another kind is its own");
        warned.worked(2);
        assert!(
            !warned.failed(1),
            "a watchdog success leaves STATUS's silence"
        );
        assert!(
            warned.failed(2),
            "a failure after a success is logged again"
        );
    }

    #[test]
    fn a_recorder_hears_each_notice_in_order_as_the_wire_spells_it() {
        let (notifier, mut rx) = Notifier::recorder();
        notifier.ready();
        notifier.status("cycle 1: 1/1 sent");
        notifier.reloading();
        notifier.stopping();
        let heard: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            heard,
            [
                "READY=1",
                "STATUS=cycle 1: 1/1 sent",
                "RELOADING=1",
                "STOPPING=1"
            ]
        );
        assert_eq!(notifier.watchdog_period(), None);
    }
}
