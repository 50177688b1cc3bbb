//! The CloudWatch publisher's events: started, refused, failing, recovered, dropped at a stop.

use super::events;

const TARGET: &str = "bookstream::metrics";

events! {
    /// `[metrics] cloudwatch = true`: a publisher task runs.
    "metrics_publishing" => MetricsPublishing<'a> { namespace: &'a str, stream: &'a str }
    info!(target: TARGET, %namespace,
        "publishing CloudWatch metrics to namespace {namespace} (dimension StreamName={stream})");

    /// The role may not publish: said once, then retried quietly.
    "metrics_denied" => MetricsDenied<'a> { namespace: &'a str, code: &'a str }
    warn!(target: TARGET, %namespace,
        "CloudWatch refused the metrics ({code}): the instance role needs cloudwatch:PutMetricData for namespace {namespace}; retrying quietly");

    /// A publish failed (at most one warning every 10 minutes); the figures wait for the next.
    "metrics_not_published" => MetricsNotPublished<'a> {
        endpoint: &'a str,
        failures: u32,
        error: &'a str,
    }
    warn!(target: TARGET, %error, failures,
        "cannot publish CloudWatch metrics to {endpoint} ({failures} failed attempts so far; figures kept for the next request; next warning in 10 min at the earliest): {error}");

    /// A publish went through after failures.
    "metrics_published_again" => MetricsPublishedAgain { failures: u32 }
    info!(target: TARGET, failures,
        "CloudWatch metrics published again after {failures} failed attempts");

    /// The last figures could not be published before the stop's deadline.
    "metrics_dropped_at_stop" => MetricsDroppedAtStop { within_secs: u64 }
    warn!(target: TARGET,
        "CloudWatch metrics not published within {within_secs}s of the stop; dropped");
}
