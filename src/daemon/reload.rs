//! SIGHUP: the config file re-read and validated (RELOADING ... READY), a new cron at once with
//! its own missed-tick deadline, the rest (CloudWatch metrics included) from the next cycle.

use super::{Daemon, DaemonError, METRICS_FLUSH, Notifier};
use crate::config::Settings;
use crate::events::Event;
use crate::events::daemon::{ConfigReloaded, MetricsOff, ReloadRejected};
use crate::metrics::Metrics;

impl Daemon {
    /// SIGHUP: a valid new file takes effect as [`Daemon::adopt`] says; an invalid one is
    /// logged and the running config kept. True when the cron schedule changed.
    pub(super) async fn reload(&mut self) -> Result<bool, DaemonError> {
        match reload(&self.path, &self.notifier) {
            Some(new) => self.adopt(new).await,
            None => Ok(false),
        }
    }

    /// Takes a reloaded config: a new cron schedule at once (with its own missed-tick
    /// deadline: the old one would fire a cycle the new schedule never asked for), the rest
    /// from the next cycle. True when the schedule changed.
    async fn adopt(&mut self, new: Settings) -> Result<bool, DaemonError> {
        let changed = new.schedule.expr() != self.schedule.expr();
        if changed {
            self.schedule = new.schedule.clone();
            self.job.replace(&self.schedule).await?;
            self.missed_tick_at = self.schedule.missed_tick_deadline();
        }
        self.pending = Some(new);
        Ok(changed)
    }

    /// A new `[metrics]` (or stream, or region, which the metrics name and use): the old
    /// publisher publishes what it has in the background, and a new one starts (or none).
    pub(super) fn restart_metrics(&mut self, new: &Settings, aws: &crate::aws::Aws) {
        let old = &self.cfg;
        if new.metrics == old.metrics
            && new.kinesis.stream_name == old.kinesis.stream_name
            && new.kinesis.region == old.kinesis.region
        {
            return;
        }
        if let Some(retired) = self.metrics.take() {
            if let Some(earlier) = self.retired_metrics.take() {
                earlier.abort();
            }
            self.retired_metrics = Some(tokio::spawn(retired.flush(METRICS_FLUSH)));
        }
        self.metrics = Metrics::start(new, aws);
        if self.metrics.is_none() {
            MetricsOff.emit();
        }
    }
}

/// SIGHUP: RELOADING, re-read and validate, READY. An invalid file is logged and the running
/// config kept.
fn reload(path: &std::path::Path, notifier: &Notifier) -> Option<Settings> {
    notifier.reloading();
    let result = match Settings::load(path) {
        Ok(cfg) => {
            ConfigReloaded { config: path }.emit();
            Some(cfg)
        }
        Err(e) => {
            ReloadRejected { error: &e }.emit();
            notifier.status(&format!("reload rejected: {e}"));
            None
        }
    };
    notifier.ready();
    result
}
