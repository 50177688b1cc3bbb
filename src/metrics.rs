//! CloudWatch metrics: what each cycle did, published with `PutMetricData` once per cycle in
//! one request, by a task of its own, so that publishing never delays a send.
//!
//! A cycle's figures are merged into what is pending and the task is woken; it publishes the
//! merge and clears it. A publish that fails (a slow or dead endpoint, a missing permission)
//! leaves the figures pending, merged into the next request, and costs a warning at most every
//! ten minutes (one naming the permission for AccessDenied). A clean stop publishes what is
//! pending, bounded in time. The daemon opens no port of its own: metrics only go out.

use crate::events::Event;
use crate::events::metrics::{
    MetricsDenied, MetricsDroppedAtStop, MetricsNotPublished, MetricsPublishedAgain,
    MetricsPublishing,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aws::ErrorKind;
use crate::config::Settings;
use crate::engine::CycleReport;

/// Longest a publish may take; a hanging endpoint is given up on, the figures kept.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// At most one warning per this long about failing publishes.
const WARN_EVERY: Duration = Duration::from_secs(600);
/// Cycles merged while publishing fails before the oldest figures are dropped (a day of
/// per-minute cycles): the merge has a fixed size, this bounds how stale it gets.
const MAX_MERGED_CYCLES: u32 = 1440;

/// Count, sum, minimum and maximum of a series (a CloudWatch statistic set).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stat {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    #[cfg(test)]
    pub fn add(&mut self, v: f64) {
        self.merge(&Stat {
            count: 1.0,
            sum: v,
            min: v,
            max: v,
        });
    }

    pub fn merge(&mut self, other: &Stat) {
        if other.count == 0.0 {
            return;
        }
        if self.count == 0.0 {
            *self = *other;
            return;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// What one or more cycles did, as CloudWatch will see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleMetrics {
    pub cycles: u32,
    pub records_sent: u32,
    pub put_retries: u32,
    /// Puts whose outcome stayed unknown (each may have left one more copy in the stream).
    pub possible_duplicates: u32,
    /// Records that ended a cycle unsent after a failed put.
    pub put_failures: u32,
    pub dead_lettered: u32,
    /// Largest lateness of a send against its due time, in milliseconds.
    pub send_lateness_ms: f64,
    pub put_latency_ms: Stat,
    pub scrape_failures: u32,
    pub product_pages_failed: u32,
    /// Records due in a cycle's slot but not sent (see [`CycleReport::records_not_sent`]).
    pub records_not_sent: u32,
    /// Cycles that ended with an error stopping or degrading sending.
    pub cycle_errors: u32,
    /// Latest values (gauges).
    pub catalogue_age_s: Option<f64>,
    pub listing_age_s: Option<f64>,
    pub verification_age_s: Option<f64>,
    pub backlog: Option<f64>,
    pub changes_detected: Option<u32>,
}

impl CycleMetrics {
    /// One cycle's figures.
    pub fn from_report(r: &CycleReport) -> CycleMetrics {
        let (n, sum, min, max) = r.send.latency_ms;
        CycleMetrics {
            cycles: 1,
            records_sent: r.sent,
            put_retries: r.send.retries,
            possible_duplicates: r.send.possible_duplicates,
            put_failures: r.unsent_after_failure,
            dead_lettered: r.dead_lettered,
            send_lateness_ms: r.send.max_lateness.as_secs_f64() * 1000.0,
            put_latency_ms: Stat {
                count: f64::from(n),
                sum,
                min,
                max,
            },
            scrape_failures: r.scrape_failures,
            product_pages_failed: r.product_pages_failed,
            records_not_sent: r.records_not_sent,
            cycle_errors: u32::from(r.cycle_error),
            catalogue_age_s: r.freshness.catalogue_age.map(|a| a.as_secs_f64().min(1e9)),
            listing_age_s: r.freshness.listing_age.map(|a| a.as_secs_f64().min(1e9)),
            verification_age_s: r
                .freshness
                .verification_age
                .map(|a| a.as_secs_f64().min(1e9)),
            backlog: r.changes.as_ref().map(|c| c.backlog as f64),
            changes_detected: r.changes.as_ref().map(|_| r.changes_detected),
        }
    }

    /// Adds `later` to these: counts add up, maxima stay maxima, gauges take the later value.
    pub fn merge(&mut self, later: &CycleMetrics) {
        self.cycles += later.cycles;
        self.records_sent += later.records_sent;
        self.put_retries += later.put_retries;
        self.possible_duplicates += later.possible_duplicates;
        self.put_failures += later.put_failures;
        self.dead_lettered += later.dead_lettered;
        self.send_lateness_ms = self.send_lateness_ms.max(later.send_lateness_ms);
        self.put_latency_ms.merge(&later.put_latency_ms);
        self.scrape_failures += later.scrape_failures;
        self.product_pages_failed += later.product_pages_failed;
        self.records_not_sent += later.records_not_sent;
        self.cycle_errors += later.cycle_errors;
        self.catalogue_age_s = later.catalogue_age_s.or(self.catalogue_age_s);
        self.listing_age_s = later.listing_age_s.or(self.listing_age_s);
        self.verification_age_s = later.verification_age_s.or(self.verification_age_s);
        self.backlog = later.backlog.or(self.backlog);
        self.changes_detected = match (self.changes_detected, later.changes_detected) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    /// The request's datums, all with the dimension `StreamName`.
    fn datums(&self, stream: &str) -> Vec<MetricDatum> {
        let dim = Dimension::builder()
            .name("StreamName")
            .value(stream)
            .build();
        let now = DateTime::from(std::time::SystemTime::now());
        let datum = |name: &str, unit: StandardUnit, value: f64| {
            MetricDatum::builder()
                .metric_name(name)
                .dimensions(dim.clone())
                .timestamp(now)
                .unit(unit)
                .value(value)
                .build()
        };
        let count = |name: &str, v: u32| datum(name, StandardUnit::Count, f64::from(v));
        let mut out = vec![
            count("Cycles", self.cycles),
            count("RecordsSent", self.records_sent),
            count("PutRetries", self.put_retries),
            count("PossibleDuplicates", self.possible_duplicates),
            count("PutFailures", self.put_failures),
            count("DeadLettered", self.dead_lettered),
            count("ScrapeFailures", self.scrape_failures),
            count("ProductPagesFailed", self.product_pages_failed),
            count("RecordsNotSent", self.records_not_sent),
            count("CycleErrors", self.cycle_errors),
            datum(
                "SendLateness",
                StandardUnit::Milliseconds,
                self.send_lateness_ms,
            ),
        ];
        let l = &self.put_latency_ms;
        if l.count > 0.0 {
            out.push(
                MetricDatum::builder()
                    .metric_name("PutLatency")
                    .dimensions(dim.clone())
                    .timestamp(now)
                    .unit(StandardUnit::Milliseconds)
                    .statistic_values(
                        StatisticSet::builder()
                            .sample_count(l.count)
                            .sum(l.sum)
                            .minimum(l.min)
                            .maximum(l.max)
                            .build(),
                    )
                    .build(),
            );
        }
        if let Some(age) = self.catalogue_age_s {
            out.push(datum("CatalogueAge", StandardUnit::Seconds, age));
        }
        if let Some(age) = self.listing_age_s {
            out.push(datum("ListingAge", StandardUnit::Seconds, age));
        }
        if let Some(age) = self.verification_age_s {
            out.push(datum("VerificationAge", StandardUnit::Seconds, age));
        }
        if let Some(backlog) = self.backlog {
            out.push(datum("Backlog", StandardUnit::Count, backlog));
        }
        if let Some(n) = self.changes_detected {
            out.push(count("ChangesDetected", n));
        }
        out
    }
}

/// The publisher: a handle on the background task.
pub struct Metrics {
    pending: Arc<Mutex<Option<CycleMetrics>>>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Metrics {
    /// Starts publishing to `[metrics]` on `aws`, the chain Kinesis's client was built from
    /// (the same credentials and region); `None` when `[metrics] cloudwatch = false`.
    pub fn start(cfg: &Settings, aws: &crate::aws::Aws) -> Option<Metrics> {
        if !cfg.metrics.cloudwatch {
            return None;
        }
        let client = aws.cloudwatch(cfg.metrics.endpoint_url.as_ref());
        let publisher = Publisher {
            client,
            namespace: cfg.metrics.namespace.clone(),
            stream: cfg.kinesis.stream_name.clone(),
            endpoint: crate::aws::describe_endpoint(
                cfg.metrics.endpoint_url.as_ref(),
                "the CloudWatch endpoint",
            ),
            last_warning: None,
            failures: 0,
            denied_warned: false,
        };
        let pending = Arc::new(Mutex::new(None));
        let wake = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let task =
            tokio::spawn(publisher.run(Arc::clone(&pending), Arc::clone(&wake), stop.clone()));
        MetricsPublishing {
            namespace: &cfg.metrics.namespace,
            stream: &cfg.kinesis.stream_name,
        }
        .emit();
        Some(Metrics {
            pending,
            wake,
            stop,
            task,
        })
    }

    /// Adds a cycle's figures and wakes the publisher; never waits for the network.
    pub fn record(&self, cycle: &CycleMetrics) {
        merge_pending(&self.pending, cycle);
        self.wake.notify_one();
    }

    /// Publishes what is pending and stops, within `within` (part of the stop timeout).
    pub async fn flush(self, within: Duration) {
        self.stop.cancel();
        self.wake.notify_one();
        let mut task = self.task;
        if tokio::time::timeout(within, &mut task).await.is_err() {
            MetricsDroppedAtStop {
                within_secs: within.as_secs(),
            }
            .emit();
            task.abort();
        }
    }
}

fn merge_pending(pending: &Mutex<Option<CycleMetrics>>, cycle: &CycleMetrics) {
    let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
    match pending.as_mut() {
        Some(p) if p.cycles >= MAX_MERGED_CYCLES => *p = cycle.clone(),
        Some(p) => p.merge(cycle),
        None => *pending = Some(cycle.clone()),
    }
}

struct Publisher {
    client: aws_sdk_cloudwatch::Client,
    namespace: String,
    stream: String,
    endpoint: String,
    last_warning: Option<Instant>,
    /// Publishes failed since the last success.
    failures: u32,
    denied_warned: bool,
}

impl Publisher {
    async fn run(
        mut self,
        pending: Arc<Mutex<Option<CycleMetrics>>>,
        wake: Arc<Notify>,
        stop: CancellationToken,
    ) {
        loop {
            let stopping = tokio::select! {
                _ = wake.notified() => stop.is_cancelled(),
                _ = stop.cancelled() => true,
            };
            let batch = pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(batch) = batch
                && !self.publish(&batch).await
            {
                // Kept for the next request, merged with what came meanwhile.
                let mut slot = pending.lock().unwrap_or_else(PoisonError::into_inner);
                let mut kept = batch;
                if let Some(newer) = slot.take() {
                    kept.merge(&newer);
                }
                *slot = Some(kept);
            }
            if stopping {
                return;
            }
        }
    }

    /// One PutMetricData request; false when it failed.
    async fn publish(&mut self, batch: &CycleMetrics) -> bool {
        let request = self
            .client
            .put_metric_data()
            .namespace(&self.namespace)
            .set_metric_data(Some(batch.datums(&self.stream)))
            .send();
        let error = match tokio::time::timeout(PUBLISH_TIMEOUT, request).await {
            Ok(Ok(_)) => {
                if self.failures > 0 {
                    MetricsPublishedAgain {
                        failures: self.failures,
                    }
                    .emit();
                }
                self.failures = 0;
                return true;
            }
            Ok(Err(e)) => {
                let classified = crate::aws::classify(&e);
                if classified.kind == ErrorKind::Denied {
                    let code = classified.code.unwrap_or_default();
                    if !self.denied_warned {
                        self.denied_warned = true;
                        MetricsDenied {
                            namespace: &self.namespace,
                            code: &code,
                        }
                        .emit();
                    }
                    self.failures += 1;
                    return false;
                }
                classified.message
            }
            Err(_) => format!("no answer within {}s", PUBLISH_TIMEOUT.as_secs()),
        };
        self.failures += 1;
        if self.last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            self.last_warning = Some(Instant::now());
            MetricsNotPublished {
                endpoint: &self.endpoint,
                failures: self.failures,
                error: &error,
            }
            .emit();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_keeps_maxima_and_takes_the_latest_gauges() {
        let mut a = CycleMetrics {
            cycles: 1,
            records_sent: 60,
            send_lateness_ms: 3.0,
            catalogue_age_s: Some(10.0),
            ..CycleMetrics::default()
        };
        a.put_latency_ms.add(5.0);
        let mut b = CycleMetrics {
            cycles: 1,
            records_sent: 58,
            put_failures: 2,
            records_not_sent: 3,
            cycle_errors: 1,
            send_lateness_ms: 1.0,
            catalogue_age_s: Some(70.0),
            ..CycleMetrics::default()
        };
        b.put_latency_ms.add(9.0);
        b.put_latency_ms.add(2.0);
        a.merge(&b);
        assert_eq!((a.cycles, a.records_sent, a.put_failures), (2, 118, 2));
        assert_eq!((a.records_not_sent, a.cycle_errors), (3, 1));
        assert_eq!(a.send_lateness_ms, 3.0);
        assert_eq!(a.catalogue_age_s, Some(70.0));
        assert_eq!(
            a.put_latency_ms,
            Stat {
                count: 3.0,
                sum: 16.0,
                min: 2.0,
                max: 9.0
            }
        );
    }

    #[test]
    fn pending_figures_stay_bounded_while_publishing_fails() {
        let pending = Mutex::new(None);
        let cycle = CycleMetrics {
            cycles: 1,
            records_sent: 1,
            ..CycleMetrics::default()
        };
        for _ in 0..MAX_MERGED_CYCLES + 5 {
            merge_pending(&pending, &cycle);
        }
        let p = pending.lock().unwrap().clone().unwrap();
        assert!(p.cycles <= MAX_MERGED_CYCLES, "{}", p.cycles);
    }
}
