//! The long-running service: cron ticks from tokio-cron-scheduler, one cycle at a time (a tick
//! that arrives while a cycle runs waits, it never overlaps), signals (TERM/INT stop, HUP
//! reloads), and the systemd protocol. The watchdog is pinged from the task that runs the
//! cycles, so a wedged worker stops the pings and systemd restarts the daemon.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use crate::config::Config;
use crate::cycle::{CycleReport, Engine, EngineError};
use crate::schedule::Schedule;
use crate::shutdown::{Shutdown, Trigger};
use crate::systemd::Notifier;

/// How long a stop may wait for the in-flight put before abandoning it.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// How long past its slot a cycle may run (a put retrying through an outage) before it counts
/// as stuck.
const HANG_GRACE: Duration = Duration::from_secs(120);

/// The daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("scheduler: {0}")]
    Scheduler(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("cycle {cycle} failed: {message}")]
    Cycle { cycle: u64, message: String },
}

/// `bookstream once`: one cycle with no slot limit, then exit.
pub async fn once(cfg: Config, shutdown: Shutdown) -> Result<CycleReport, DaemonError> {
    let mut engine = Engine::new(&cfg).await?;
    let report = engine.run_cycle(&cfg, None, &shutdown).await;
    engine.checkpoint();
    log_report(&report, None);
    match &report.error {
        Some(message) => Err(DaemonError::Cycle {
            cycle: report.cycle,
            message: message.clone(),
        }),
        None => Ok(report),
    }
}

/// The cron job: forwards each tick to the worker, dropping it when one is already queued.
struct Ticks {
    scheduler: JobScheduler,
    job: Uuid,
    tx: mpsc::Sender<()>,
}

impl Ticks {
    async fn start(schedule: &Schedule) -> Result<(mpsc::Receiver<()>, Self), DaemonError> {
        let err =
            |e: tokio_cron_scheduler::JobSchedulerError| DaemonError::Scheduler(e.to_string());
        let (tx, rx) = mpsc::channel(1);
        let scheduler = JobScheduler::new().await.map_err(err)?;
        let job = scheduler
            .add(tick_job(schedule, tx.clone())?)
            .await
            .map_err(err)?;
        scheduler.start().await.map_err(err)?;
        Ok((rx, Self { scheduler, job, tx }))
    }

    async fn replace(&mut self, schedule: &Schedule) -> Result<(), DaemonError> {
        let err =
            |e: tokio_cron_scheduler::JobSchedulerError| DaemonError::Scheduler(e.to_string());
        self.scheduler.remove(&self.job).await.map_err(err)?;
        self.job = self
            .scheduler
            .add(tick_job(schedule, self.tx.clone())?)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn stop(mut self) {
        let _ = self.scheduler.shutdown().await;
    }
}

fn tick_job(schedule: &Schedule, tx: mpsc::Sender<()>) -> Result<Job, DaemonError> {
    Job::new_async(schedule.expr(), move |_, _| {
        let tx = tx.clone();
        Box::pin(async move {
            if tx.try_send(()).is_err() {
                tracing::warn!("tick skipped: the previous cycle is still running");
            }
        })
    })
    .map_err(|e| DaemonError::Scheduler(e.to_string()))
}

/// What the main loop owns between events.
struct Daemon {
    path: PathBuf,
    cfg: Config,
    /// A valid config read on SIGHUP, applied when the next cycle starts.
    pending: Option<Config>,
    schedule: Schedule,
    job: Ticks,
    engine: Engine,
    notifier: Notifier,
    /// Half of WATCHDOG_USEC, when systemd set it.
    watchdog: Option<Duration>,
}

/// The daemon's main loop. Returns after a clean stop (SIGTERM/SIGINT).
pub async fn run(
    path: PathBuf,
    cfg: Config,
    trigger: Trigger,
    mut shutdown: Shutdown,
) -> Result<(), DaemonError> {
    let notifier = Notifier::new();
    let mut engine = Engine::new(&cfg).await?;
    let schedule =
        Schedule::parse(&cfg.schedule.cron).map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    let (mut ticks, job) = Ticks::start(&schedule).await?;
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "stopping on SIGTERM"),
            _ = int.recv() => tracing::info!(signal = "SIGINT", "stopping on SIGINT"),
        }
        trigger.trigger();
    });

    notifier.ready();
    engine.start_refresh_if_due(&cfg);
    notifier.status(&format!(
        "ready: {} sent since the state was created, first cycle {}",
        engine.cursor().sent_total,
        next_tick_text(&schedule)
    ));
    tracing::info!(
        cron = schedule.expr(), stream = %cfg.kinesis.stream_name, site = %cfg.site.base_url,
        "daemon ready: cron \"{}\", stream {}, site {}",
        schedule.expr(), cfg.kinesis.stream_name, cfg.site.base_url
    );
    let watchdog = notifier.watchdog_period();
    let mut d = Daemon {
        path,
        cfg,
        pending: None,
        schedule,
        job,
        engine,
        notifier,
        watchdog,
    };
    let mut pings = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = hup.recv() => {
                if let Some(new) = reload(&d.path, &d.notifier) {
                    d.adopt(new).await?;
                }
            }
            _ = pings.tick(), if watchdog.is_some() => d.notifier.watchdog(),
            Some(()) = ticks.recv() => d.tick(&shutdown, &mut pings, &mut hup).await?,
        }
    }
    d.notifier.stopping();
    d.notifier.status("stopping: saving the cursor");
    d.engine.checkpoint();
    d.job.stop().await;
    tracing::info!(
        sent_total = d.engine.cursor().sent_total,
        "stopped; cursor saved ({} records sent so far)",
        d.engine.cursor().sent_total
    );
    Ok(())
}

impl Daemon {
    /// Takes a reloaded config: a new cron schedule at once, the rest from the next cycle.
    async fn adopt(&mut self, new: Config) -> Result<(), DaemonError> {
        if new.schedule.cron != self.schedule.expr() {
            self.schedule = Schedule::parse(&new.schedule.cron)
                .map_err(|e| DaemonError::Scheduler(e.to_string()))?;
            self.job.replace(&self.schedule).await?;
        }
        self.pending = Some(new);
        Ok(())
    }

    /// One cron tick: apply a pending config, run the cycle until the next tick, keep
    /// answering the watchdog and SIGHUP meanwhile. A cycle still running `HANG_GRACE` after
    /// its slot is stuck: the pings stop so that systemd restarts the daemon (without a
    /// watchdog, the cycle is abandoned; the cursor is already saved).
    async fn tick(
        &mut self,
        shutdown: &Shutdown,
        pings: &mut tokio::time::Interval,
        hup: &mut tokio::signal::unix::Signal,
    ) -> Result<(), DaemonError> {
        if let Some(new) = self.pending.take() {
            match self.engine.reconfigure(&new).await {
                Ok(()) => {
                    self.cfg = new;
                    tracing::info!("new configuration applied");
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot apply the new configuration; keeping the old one: {e}")
                }
            }
        }
        let stop_by = self
            .schedule
            .next_after(Utc::now())
            .map(|t| Instant::now() + (t - Utc::now()).to_std().unwrap_or_default());
        let stuck_at = stop_by.map(|t| t + HANG_GRACE);
        self.notifier.status(&format!(
            "cycle {}: streaming, {} sent since the state was created",
            self.engine.cycles_run() + 1,
            self.engine.cursor().sent_total
        ));
        let mut reloaded = None;
        let mut stop_watch = shutdown.clone();
        let mut stop_deadline: Option<Instant> = None;
        let mut stuck = false;
        let report = {
            let cycle = self.engine.run_cycle(&self.cfg, stop_by, shutdown);
            tokio::pin!(cycle);
            loop {
                tokio::select! {
                    r = &mut cycle => break Some(r),
                    _ = pings.tick(), if self.watchdog.is_some() && !stuck => self.notifier.watchdog(),
                    _ = hup.recv() => {
                        if let Some(new) = reload(&self.path, &self.notifier) {
                            reloaded = Some(new);
                        }
                    }
                    _ = stop_watch.wait(), if stop_deadline.is_none() => {
                        self.notifier.stopping();
                        stop_deadline = Some(Instant::now() + STOP_GRACE);
                    }
                    _ = sleep_until_opt(stop_deadline) => {
                        tracing::warn!("in-flight put did not finish within the stop grace; abandoning it");
                        break None;
                    }
                    _ = sleep_until_opt(stuck_at), if !stuck => {
                        stuck = true;
                        tracing::error!("cycle stuck {}s past its slot; no more watchdog pings", HANG_GRACE.as_secs());
                        self.notifier.status("cycle stuck past its slot");
                        if self.watchdog.is_none() {
                            break None;
                        }
                    }
                }
            }
        };
        if let Some(report) = report {
            log_report(&report, Some(&self.schedule));
            self.notifier.status(&format!(
                "{}, next {}",
                report.status_line(),
                next_tick_text(&self.schedule)
            ));
        }
        if let Some(new) = reloaded {
            self.adopt(new).await?;
        }
        Ok(())
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// SIGHUP: RELOADING, re-read and validate, READY. An invalid file is logged and the running
/// config kept.
fn reload(path: &std::path::Path, notifier: &Notifier) -> Option<Config> {
    notifier.reloading();
    let result = match Config::load(path) {
        Ok(cfg) => {
            tracing::info!(
                config = %path.display(),
                "configuration reloaded from {}; applies from the next cycle",
                path.display()
            );
            Some(cfg)
        }
        Err(e) => {
            tracing::error!(error = %e, "reload rejected; keeping the running configuration: {e}");
            notifier.status(&format!("reload rejected: {e}"));
            None
        }
    };
    notifier.ready();
    result
}

fn next_tick_text(schedule: &Schedule) -> String {
    schedule
        .next_after(Utc::now())
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "never".to_owned())
}

fn next_text(next: &str) -> String {
    if next.is_empty() {
        String::new()
    } else {
        format!(", next {next}")
    }
}

/// The one summary line per cycle.
fn log_report(report: &CycleReport, schedule: Option<&Schedule>) {
    let next = schedule.map(next_tick_text).unwrap_or_default();
    match &report.error {
        None => tracing::info!(
            cycle = report.cycle, sent = report.sent, planned = report.planned,
            position = report.position, catalogue = report.catalogue_len,
            sent_total = report.sent_total, next = %next,
            stale = report.stale.as_deref().unwrap_or(""),
            "cycle finished: {}{}", report.status_line(), next_text(&next)
        ),
        Some(e) => tracing::warn!(
            cycle = report.cycle, sent = report.sent, planned = report.planned,
            position = report.position, catalogue = report.catalogue_len,
            sent_total = report.sent_total, next = %next, error = %e,
            "cycle finished with an error: {}{}", report.status_line(), next_text(&next)
        ),
    }
}
