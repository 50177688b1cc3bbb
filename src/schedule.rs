//! The cron schedule, parsed the way tokio-cron-scheduler parses it (6 fields, seconds first,
//! UTC), so that the daemon can compute each cycle's slot end as a pure function; and the
//! tokio-cron-scheduler job that turns it into ticks.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use uuid::Uuid;

/// Capacity of each of the scheduler's ten internal broadcast channels. Its default (200) sizes
/// them for many jobs and costs about 180 KiB resident; one job ticking at most once a second
/// has a message or two in flight.
const SCHEDULER_CHANNEL_SIZE: usize = 16;

/// A parsed 6-field cron expression.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: Cron,
}

/// A cron expression that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "expected a 6-field cron expression (sec min hour day month weekday), e.g. \"0 * * * * *\"; got \"{expr}\": {reason}"
)]
pub struct ScheduleError {
    expr: String,
    reason: String,
}

impl Schedule {
    pub fn parse(expr: &str) -> Result<Self, ScheduleError> {
        let err = |reason: String| ScheduleError {
            expr: expr.to_owned(),
            reason,
        };
        if expr.split_whitespace().count() != 6 {
            return Err(err(format!("{} fields", expr.split_whitespace().count())));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expr)
            .map_err(|e| err(e.to_string()))?;
        Ok(Self {
            expr: expr.to_owned(),
            cron,
        })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    /// The next tick as `HH:MM:SS` (UTC), or "never".
    pub fn next_tick_text(&self) -> String {
        self.next_after(Utc::now())
            .map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_else(|| "never".to_owned())
    }

    /// Half a slot (1 to 30 s) after the next tick, on the monotonic clock: late enough for the
    /// scheduler's own jitter, early enough that a stepped wall clock never delays a cycle by
    /// much more than a slot (the daemon runs the cycle itself then).
    pub fn missed_tick_deadline(&self) -> Option<tokio::time::Instant> {
        let now = Utc::now();
        let next = self.next_after(now)?;
        let after = self.next_after(next)?;
        let slot = (after - next).to_std().unwrap_or_default();
        let grace = (slot / 2).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(30),
        );
        Some(tokio::time::Instant::now() + (next - now).to_std().unwrap_or_default() + grace)
    }
}

/// The cron scheduler failed.
#[derive(Debug, thiserror::Error)]
#[error("scheduler: {0}")]
pub struct TicksError(String);

/// The cron job: forwards each tick to the worker, dropping it when one is already queued.
pub struct Ticks {
    scheduler: JobScheduler,
    job: Uuid,
    tx: mpsc::Sender<()>,
}

impl Ticks {
    pub async fn start(schedule: &Schedule) -> Result<(mpsc::Receiver<()>, Self), TicksError> {
        let err = |e: JobSchedulerError| TicksError(e.to_string());
        let (tx, rx) = mpsc::channel(1);
        let scheduler = JobScheduler::new_with_channel_size(SCHEDULER_CHANNEL_SIZE)
            .await
            .map_err(err)?;
        let job = scheduler
            .add(tick_job(schedule, tx.clone())?)
            .await
            .map_err(err)?;
        scheduler.start().await.map_err(err)?;
        Ok((rx, Self { scheduler, job, tx }))
    }

    pub async fn replace(&mut self, schedule: &Schedule) -> Result<(), TicksError> {
        let err = |e: JobSchedulerError| TicksError(e.to_string());
        self.scheduler.remove(&self.job).await.map_err(err)?;
        self.job = self
            .scheduler
            .add(tick_job(schedule, self.tx.clone())?)
            .await
            .map_err(err)?;
        Ok(())
    }

    pub async fn stop(mut self) {
        let _ = self.scheduler.shutdown().await;
    }
}

fn tick_job(schedule: &Schedule, tx: mpsc::Sender<()>) -> Result<Job, TicksError> {
    Job::new_async(schedule.expr(), move |_, _| {
        let tx = tx.clone();
        Box::pin(async move {
            if tx.try_send(()).is_err() {
                tracing::warn!("tick skipped: the previous cycle is still running");
            }
        })
    })
    .map_err(|e| TicksError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_minute_ticks_at_second_zero() {
        let s = Schedule::parse("0 * * * * *").unwrap();
        let t = DateTime::parse_from_rfc3339("2026-01-01T12:04:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = s.next_after(t).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-01-01T12:05:00+00:00");
        assert_eq!(
            s.next_after(next).unwrap().to_rfc3339(),
            "2026-01-01T12:06:00+00:00"
        );
    }

    #[test]
    fn five_field_and_garbage_expressions_are_rejected() {
        assert!(Schedule::parse("* * * * *").is_err());
        assert!(Schedule::parse("0 * * * * * *").is_err());
        assert!(Schedule::parse("0 99 * * * *").is_err());
    }
}
