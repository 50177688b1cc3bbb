//! The daemon's events: cycles, reloads. Their target is `bookstream::daemon`, so
//! that `RUST_LOG=bookstream::daemon=debug` still selects them.

use super::events;
use crate::engine::CycleReport;

const TARGET: &str = "bookstream::daemon";

events! {
    /// The daemon is up (READY sent): what it runs on.
    "daemon_ready" => DaemonReady<'a> { cron: &'a str, stream: &'a str, site: &'a str }
    info!(target: TARGET, cron, stream, site,
        "daemon ready: cron \"{cron}\", stream {stream}, site {site}");

    /// The scheduler (which follows the wall clock) did not tick half a slot after a tick was
    /// due: the clock stepped, and the daemon runs the cycle itself on the monotonic clock.
    "tick_missed" => TickMissed;
    warn!(target: TARGET,
        "no tick from the scheduler half a slot after one was due (did the wall clock step?); running the cycle on the monotonic clock");

    /// A reloaded configuration took effect at the start of a cycle.
    "config_applied" => ConfigApplied;
    info!(target: TARGET, "new configuration applied");

    /// A reloaded configuration could not be applied (its clients could not be built); the old
    /// one stays.
    "config_not_applied" => ConfigNotApplied<'a> { error: &'a dyn std::error::Error }
    error!(target: TARGET, %error,
        "cannot apply the new configuration; keeping the old one: {error}");

    /// A cycle still runs `grace_secs` past its slot: no more watchdog pings.
    "cycle_stuck" => CycleStuck { grace_secs: u64 }
    error!(target: TARGET, grace_secs,
        "cycle stuck {grace_secs}s past its slot; no more watchdog pings");

    /// On a stop, the put in flight did not finish within the stop grace and was abandoned.
    "in_flight_put_abandoned" => PutAbandoned;
    warn!(target: TARGET, "in-flight put did not finish within the stop grace; abandoning it");

    /// SIGHUP: the file was re-read and is valid; it applies from the next cycle.
    "config_reloaded" => ConfigReloaded<'a> { config: &'a std::path::Path }
    let config = config.display();
    info!(target: TARGET, %config,
        "configuration reloaded from {config}; applies from the next cycle");

    /// SIGHUP: the file is not valid; the running configuration stays.
    "reload_rejected" => ReloadRejected<'a> { error: &'a dyn std::error::Error }
    error!(target: TARGET, %error,
        "reload rejected; keeping the running configuration: {error}");

    /// A reload turned the CloudWatch metrics off.
    "metrics_off" => MetricsOff;
    info!(target: TARGET, "CloudWatch metrics off ([metrics] cloudwatch = false)");

    /// The one summary line per cycle: what was sent, where the cursor stands, when the next is.
    "cycle_finished" => CycleFinished<'a> {
        report: &'a CycleReport,
        /// The next tick as text ("" when there is no schedule, as in `once`).
        next: String,
    }
    {
        let r = report;
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

    /// The daemon stopped: with the cursor saved now (`Some(sent_total)`), or as last saved after
    /// the last acknowledged record (the engine went with an abandoned cycle).
    "daemon_stopped" => DaemonStopped { sent_total: Option<u64> }
    {
        match sent_total {
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
