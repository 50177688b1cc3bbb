//! The sd_notify protocol: READY, STATUS, WATCHDOG, RELOADING (+MONOTONIC_USEC), STOPPING.
//! A no-op outside systemd (no NOTIFY_SOCKET); a send failure is logged once per kind of message
//! and never stops the daemon.

use std::time::Duration;

use sd_notify::NotifyState;

/// Talks to the service manager.
#[derive(Debug, Clone, Default)]
pub struct Notifier;

impl Notifier {
    pub fn new() -> Self {
        Notifier
    }

    fn send(&self, what: &str, states: &[NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(states) {
            tracing::warn!(message_kind = what, error = %e, "cannot notify systemd ({what}): {e}");
        }
    }

    /// Config valid, state loaded, client built: the unit is started.
    pub fn ready(&self) {
        self.send("READY", &[NotifyState::Ready]);
    }

    /// The one-line status shown by `systemctl status`.
    pub fn status(&self, text: &str) {
        self.send("STATUS", &[NotifyState::Status(text)]);
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG", &[NotifyState::Watchdog]);
    }

    /// Reload started; systemd needs MONOTONIC_USEC with it (systemd >= 253 checks it).
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send("RELOADING", &[NotifyState::Reloading, now]),
            Err(_) => self.send("RELOADING", &[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self) {
        self.send("STOPPING", &[NotifyState::Stopping]);
    }

    /// Half the watchdog timeout, when systemd set one for this process.
    pub fn watchdog_period(&self) -> Option<Duration> {
        sd_notify::watchdog_enabled().map(|d| d / 2)
    }
}
