//! The CloudWatch publisher's events: started, refused, failing, recovered, dropped at a stop.

use super::Event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    MetricsPublishing::NAME,
    MetricsDenied::NAME,
    MetricsNotPublished::NAME,
    MetricsPublishedAgain::NAME,
    MetricsDroppedAtStop::NAME,
];

const TARGET: &str = "bookstream::metrics";

/// `[metrics] cloudwatch = true`: a publisher task runs.
pub(crate) struct MetricsPublishing<'a> {
    pub namespace: &'a str,
    pub stream: &'a str,
}

impl Event for MetricsPublishing<'_> {
    const NAME: &'static str = "metrics_publishing";

    fn emit(self) {
        tracing::info!(
            target: TARGET, event = Self::NAME, namespace = %self.namespace,
            "publishing CloudWatch metrics to namespace {} (dimension StreamName={})",
            self.namespace, self.stream
        );
    }
}

/// The role may not publish: said once, then retried quietly.
pub(crate) struct MetricsDenied<'a> {
    pub namespace: &'a str,
    pub code: &'a str,
}

impl Event for MetricsDenied<'_> {
    const NAME: &'static str = "metrics_denied";

    fn emit(self) {
        let code = self.code;
        tracing::warn!(
            target: TARGET, event = Self::NAME, namespace = %self.namespace,
            "CloudWatch refused the metrics ({code}): the instance role needs cloudwatch:PutMetricData for namespace {}; retrying quietly",
            self.namespace
        );
    }
}

/// A publish failed (at most one warning every 10 minutes); the figures wait for the next.
pub(crate) struct MetricsNotPublished<'a> {
    pub endpoint: &'a str,
    pub failures: u32,
    pub error: &'a str,
}

impl Event for MetricsNotPublished<'_> {
    const NAME: &'static str = "metrics_not_published";

    fn emit(self) {
        let error = self.error;
        tracing::warn!(
            target: TARGET, event = Self::NAME, error = %error, failures = self.failures,
            "cannot publish CloudWatch metrics to {} ({} failed attempts so far; figures kept for the next request; next warning in 10 min at the earliest): {error}",
            self.endpoint, self.failures
        );
    }
}

/// A publish went through after failures.
pub(crate) struct MetricsPublishedAgain {
    pub failures: u32,
}

impl Event for MetricsPublishedAgain {
    const NAME: &'static str = "metrics_published_again";

    fn emit(self) {
        tracing::info!(
            target: TARGET, event = Self::NAME, failures = self.failures,
            "CloudWatch metrics published again after {} failed attempts",
            self.failures
        );
    }
}

/// The last figures could not be published before the stop's deadline.
pub(crate) struct MetricsDroppedAtStop {
    pub within_secs: u64,
}

impl Event for MetricsDroppedAtStop {
    const NAME: &'static str = "metrics_dropped_at_stop";

    fn emit(self) {
        tracing::warn!(
            target: TARGET, event = Self::NAME,
            "CloudWatch metrics not published within {}s of the stop; dropped",
            self.within_secs
        );
    }
}
