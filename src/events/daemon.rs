//! The daemon's events: cycles, reloads. Their target is `bookstream::daemon`, so
//! that `RUST_LOG=bookstream::daemon=debug` still selects them.

use super::{Event, event};
use crate::engine::CycleReport;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    CycleFinished::NAME,
    DaemonReady::NAME,
    TickMissed::NAME,
    ConfigApplied::NAME,
    ConfigNotApplied::NAME,
    CycleStuck::NAME,
    PutAbandoned::NAME,
    DaemonStopped::NAME,
    ConfigReloaded::NAME,
    ReloadRejected::NAME,
    MetricsOff::NAME,
];

const TARGET: &str = "bookstream::daemon";

/// The one summary line per cycle: what was sent, where the cursor stands, when the next is.
pub(crate) struct CycleFinished<'a> {
    pub report: &'a CycleReport,
    /// The next tick as text ("" when there is no schedule, as in `once`).
    pub next: String,
}

impl Event for CycleFinished<'_> {
    const NAME: &'static str = "cycle_finished";

    fn emit(self) {
        let r = self.report;
        let next = self.next;
        let then = if next.is_empty() {
            String::new()
        } else {
            format!(", next {next}")
        };
        match &r.error {
            None => tracing::info!(
                target: TARGET,
                event = Self::NAME, cycle = r.cycle, sent = r.sent, planned = r.planned,
                position = r.position, catalogue = r.catalogue_len,
                sent_total = r.sent_total, next = %next,
                stale = r.stale.as_deref().unwrap_or(""), first_walk = r.first_walk,
                "cycle finished: {}{then}", r.status_line()
            ),
            Some(e) => tracing::warn!(
                target: TARGET,
                event = Self::NAME, cycle = r.cycle, sent = r.sent, planned = r.planned,
                position = r.position, catalogue = r.catalogue_len,
                sent_total = r.sent_total, next = %next, error = %e,
                "cycle finished with an error: {}{then}", r.status_line()
            ),
        }
    }
}

event! {
    /// The daemon is up (READY sent): what it runs on.
    pub(crate) struct DaemonReady<'a> { pub cron: &'a str, pub stream: &'a str, pub site: &'a str }
    const NAME = "daemon_ready";
    info!(target: TARGET, cron, stream, site,
        "daemon ready: cron \"{cron}\", stream {stream}, site {site}");
}

event! {
    /// The scheduler (which follows the wall clock) did not tick half a slot after a tick was
    /// due: the clock stepped, and the daemon runs the cycle itself on the monotonic clock.
    pub(crate) struct TickMissed;
    const NAME = "tick_missed";
    warn!(target: TARGET,
        "no tick from the scheduler half a slot after one was due (did the wall clock step?); running the cycle on the monotonic clock");
}

event! {
    /// A reloaded configuration took effect at the start of a cycle.
    pub(crate) struct ConfigApplied;
    const NAME = "config_applied";
    info!(target: TARGET, "new configuration applied");
}

event! {
    /// A reloaded configuration could not be applied (its clients could not be built); the old
    /// one stays.
    pub(crate) struct ConfigNotApplied<'a> { pub error: &'a dyn std::error::Error }
    const NAME = "config_not_applied";
    error!(target: TARGET, %error,
        "cannot apply the new configuration; keeping the old one: {error}");
}

event! {
    /// A cycle still runs `grace_secs` past its slot: no more watchdog pings.
    pub(crate) struct CycleStuck { pub grace_secs: u64 }
    const NAME = "cycle_stuck";
    error!(target: TARGET, grace_secs,
        "cycle stuck {grace_secs}s past its slot; no more watchdog pings");
}

event! {
    /// On a stop, the put in flight did not finish within the stop grace and was abandoned.
    pub(crate) struct PutAbandoned;
    const NAME = "in_flight_put_abandoned";
    warn!(target: TARGET, "in-flight put did not finish within the stop grace; abandoning it");
}

/// The daemon stopped: with the cursor saved now (`Some(sent_total)`), or as last saved after
/// the last acknowledged record (the engine went with an abandoned cycle).
pub(crate) struct DaemonStopped {
    pub sent_total: Option<u64>,
}

impl Event for DaemonStopped {
    const NAME: &'static str = "daemon_stopped";

    fn emit(self) {
        match self.sent_total {
            Some(sent_total) => tracing::info!(
                target: TARGET,
                event = Self::NAME, sent_total,
                "stopped; cursor saved ({sent_total} records sent so far)"
            ),
            None => tracing::info!(
                target: TARGET,
                event = Self::NAME,
                "stopped; the cursor on disk is the one saved after the last acknowledged record"
            ),
        }
    }
}

event! {
    /// SIGHUP: the file was re-read and is valid; it applies from the next cycle.
    pub(crate) struct ConfigReloaded<'a> { pub config: &'a std::path::Path }
    const NAME = "config_reloaded";
    let config = config.display();
    info!(target: TARGET, %config,
        "configuration reloaded from {config}; applies from the next cycle");
}

event! {
    /// SIGHUP: the file is not valid; the running configuration stays.
    pub(crate) struct ReloadRejected<'a> { pub error: &'a dyn std::error::Error }
    const NAME = "reload_rejected";
    error!(target: TARGET, %error,
        "reload rejected; keeping the running configuration: {error}");
}

event! {
    /// A reload turned the CloudWatch metrics off.
    pub(crate) struct MetricsOff;
    const NAME = "metrics_off";
    info!(target: TARGET, "CloudWatch metrics off ([metrics] cloudwatch = false)");
}
