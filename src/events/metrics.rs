//! The CloudWatch publisher's events: started, refused, failing, recovered, dropped at a stop.

#[cfg(test)]
use super::Event;
use super::event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    MetricsPublishing::NAME,
    MetricsDenied::NAME,
    MetricsNotPublished::NAME,
    MetricsPublishedAgain::NAME,
    MetricsDroppedAtStop::NAME,
];

const TARGET: &str = "bookstream::metrics";

event! {
    /// `[metrics] cloudwatch = true`: a publisher task runs.
    pub(crate) struct MetricsPublishing<'a> { pub namespace: &'a str, pub stream: &'a str }
    const NAME = "metrics_publishing";
    info!(target: TARGET, %namespace,
        "publishing CloudWatch metrics to namespace {namespace} (dimension StreamName={stream})");
}

event! {
    /// The role may not publish: said once, then retried quietly.
    pub(crate) struct MetricsDenied<'a> { pub namespace: &'a str, pub code: &'a str }
    const NAME = "metrics_denied";
    warn!(target: TARGET, %namespace,
        "CloudWatch refused the metrics ({code}): the instance role needs cloudwatch:PutMetricData for namespace {namespace}; retrying quietly");
}

event! {
    /// A publish failed (at most one warning every 10 minutes); the figures wait for the next.
    pub(crate) struct MetricsNotPublished<'a> {
        pub endpoint: &'a str,
        pub failures: u32,
        pub error: &'a str,
    }
    const NAME = "metrics_not_published";
    warn!(target: TARGET, %error, failures,
        "cannot publish CloudWatch metrics to {endpoint} ({failures} failed attempts so far; figures kept for the next request; next warning in 10 min at the earliest): {error}");
}

event! {
    /// A publish went through after failures.
    pub(crate) struct MetricsPublishedAgain { pub failures: u32 }
    const NAME = "metrics_published_again";
    info!(target: TARGET, failures,
        "CloudWatch metrics published again after {failures} failed attempts");
}

event! {
    /// The last figures could not be published before the stop's deadline.
    pub(crate) struct MetricsDroppedAtStop { pub within_secs: u64 }
    const NAME = "metrics_dropped_at_stop";
    warn!(target: TARGET,
        "CloudWatch metrics not published within {within_secs}s of the stop; dropped");
}
