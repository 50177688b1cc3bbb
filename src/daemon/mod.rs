//! The long-running service: cron ticks from tokio-cron-scheduler, one cycle at a time (a tick
//! that arrives while a cycle runs waits, it never overlaps), signals (TERM/INT stop, HUP
//! reloads), and the systemd protocol. Each cycle runs as a task; the main loop answers
//! signals and the watchdog meanwhile, and stops the pings when a cycle is stuck past its slot,
//! so that systemd restarts the daemon.

mod reload;

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::deadline::Deadline;
use crate::engine::{CycleReport, Engine, EngineError};
use crate::events::Event;
use crate::events::daemon::{CycleFinished, StopRequested};
use crate::metrics::{CycleMetrics, Metrics};
use crate::schedule::{Schedule, Ticks};
use crate::systemd::Notifier;

/// How long a stop may wait for the in-flight put before abandoning it.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// How long a stop may spend publishing the last metrics (within systemd's TimeoutStopSec=30s,
/// after the stop grace).
const METRICS_FLUSH: Duration = Duration::from_secs(5);

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
    #[error(transparent)]
    Ticks(#[from] crate::schedule::TicksError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error(
        "a cycle stuck past its slot could not be abandoned; exiting so that systemd starts the daemon afresh"
    )]
    Stuck,
    #[error("cycle {cycle} failed: {message}")]
    Cycle { cycle: u64, message: String },
    /// No region or no credentials: nothing could ever be sent (exit 78).
    #[error(transparent)]
    Setup(#[from] crate::aws::setup::SetupError),
}

/// The AWS set-up (region, credentials) found, or the error naming what is missing. Called
/// once the engine holds the state directory, so that a second process on it is told it is
/// in use (75), and a corrupt `feed.json` is named (65), before anything that needs the
/// network or the instance metadata.
async fn check_aws(cfg: &Config, path: &std::path::Path) -> Result<(), DaemonError> {
    let option = format!(
        "`[kinesis] region` in {} (or BOOKSTREAM__KINESIS__REGION)",
        path.display()
    );
    Ok(crate::aws::setup::check(cfg.kinesis.region.as_deref(), &option).await?)
}

/// `bookstream once`: one cycle with no slot limit, then exit.
pub async fn once(
    path: &std::path::Path,
    cfg: Config,
    shutdown: CancellationToken,
) -> Result<CycleReport, DaemonError> {
    let mut engine = Engine::new(&cfg).await?;
    check_aws(&cfg, path).await?;
    let metrics = Metrics::start(&cfg).await;
    let report = engine.run_cycle(&cfg, None, &shutdown).await;
    engine.checkpoint();
    log_report(&report, None);
    if let Some(metrics) = metrics {
        metrics.record(&CycleMetrics::from_report(&report));
        metrics.flush(METRICS_FLUSH).await;
    }
    match &report.error {
        Some(message) => Err(DaemonError::Cycle {
            cycle: report.cycle,
            message: message.clone(),
        }),
        None => Ok(report),
    }
}

/// A cycle running as a task of its own; it hands the engine back when it ends.
struct Running {
    task: JoinHandle<(Engine, CycleReport)>,
    /// `HANG_GRACE` past the slot's end: from then on the cycle counts as stuck.
    stuck_at: Option<Instant>,
    stuck: bool,
}

/// What the main loop owns between events.
struct Daemon {
    path: PathBuf,
    cfg: Config,
    /// A valid config read on SIGHUP, applied when the next cycle starts.
    pending: Option<Config>,
    schedule: Schedule,
    job: Ticks,
    /// `None` while a cycle task holds it.
    engine: Option<Engine>,
    running: Option<Running>,
    /// CloudWatch metrics, when `[metrics] cloudwatch` is on (a reload restarts them).
    metrics: Option<Metrics>,
    /// The publisher a reload replaced, publishing what it still had (bounded in time).
    retired_metrics: Option<JoinHandle<()>>,
    notifier: Notifier,
    /// Half of WATCHDOG_USEC, when systemd set it.
    watchdog: Option<Duration>,
    shutdown: CancellationToken,
    /// Half a slot after the next tick was due, on the monotonic clock: if the scheduler (which
    /// follows the wall clock) has not ticked by then, the clock stepped back, and the daemon
    /// runs the cycle itself rather than stall until the wall clock catches up.
    missed_tick_at: Option<Instant>,
}

/// The daemon's main loop: one event at a time, while at most one cycle runs as a task. A tick
/// that comes while a cycle runs waits in the one-slot queue; later ones are dropped. Returns
/// after a clean stop (SIGTERM/SIGINT).
pub async fn run(
    path: PathBuf,
    cfg: Config,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let notifier = Notifier::new();
    let mut engine = Engine::new(&cfg).await?;
    check_aws(&cfg, &path).await?;
    let schedule =
        Schedule::parse(&cfg.schedule.cron).map_err(|e| DaemonError::Scheduler(e.to_string()))?;
    let (mut ticks, job) = Ticks::start(&schedule).await?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    stop_on_term_or_int(shutdown.clone())?;

    notifier.ready();
    engine.start_refresh_if_due(&cfg);
    notifier.status(&format!(
        "ready: {} sent since the state was created, first cycle {}",
        engine.cursor().sent_total,
        schedule.next_tick_text()
    ));
    tracing::info!(
        cron = schedule.expr(), stream = %cfg.kinesis.stream_name, site = %cfg.site.base_url,
        "daemon ready: cron \"{}\", stream {}, site {}",
        schedule.expr(), cfg.kinesis.stream_name, cfg.site.base_url
    );
    let watchdog = notifier.watchdog_period();
    let metrics = Metrics::start(&cfg).await;
    let mut d = Daemon {
        path,
        cfg,
        pending: None,
        schedule,
        job,
        engine: Some(engine),
        running: None,
        metrics,
        retired_metrics: None,
        notifier,
        watchdog,
        shutdown: shutdown.clone(),
        missed_tick_at: None,
    };
    d.missed_tick_at = d.schedule.missed_tick_deadline();
    let mut pings = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    loop {
        let stuck_at = d
            .running
            .as_ref()
            .filter(|r| !r.stuck)
            .and_then(|r| r.stuck_at);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = hup.recv() => {
                if d.reload().await? {
                    // A tick of the old schedule still queued must not start a cycle.
                    while ticks.try_recv().is_ok() {}
                }
            }
            _ = pings.tick(), if watchdog.is_some() => d.ping(),
            done = cycle_end(&mut d.running) => d.finish_cycle(done),
            _ = Deadline::from(stuck_at).sleep() => d.mark_stuck().await?,
            Some(()) = ticks.recv(), if d.running.is_none() => d.start_cycle().await,
            _ = Deadline::from(d.missed_tick_at).sleep(), if d.running.is_none() => {
                tracing::warn!("no tick from the scheduler half a slot after one was due (did the wall clock step?); running the cycle on the monotonic clock");
                d.start_cycle().await;
            }
        }
    }
    d.stop().await;
    Ok(())
}

/// SIGTERM and SIGINT cancel `shutdown`.
fn stop_on_term_or_int(shutdown: CancellationToken) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => StopRequested { signal: "SIGTERM" }.emit(),
            _ = int.recv() => StopRequested { signal: "SIGINT" }.emit(),
        }
        shutdown.cancel();
    });
    Ok(())
}

/// Resolves when the running cycle's task ends; never while none runs.
async fn cycle_end(
    running: &mut Option<Running>,
) -> Result<(Engine, CycleReport), tokio::task::JoinError> {
    match running {
        Some(r) => (&mut r.task).await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    /// A watchdog ping, unless the running cycle is stuck (then systemd restarts the daemon).
    fn ping(&self) {
        if !self.running.as_ref().is_some_and(|r| r.stuck) {
            self.notifier.watchdog();
        }
    }

    /// One cron tick: apply a pending config, then run the cycle as a task until the next tick.
    async fn start_cycle(&mut self) {
        let Some(mut engine) = self.engine.take() else {
            return;
        };
        if let Some(new) = self.pending.take() {
            match engine.reconfigure(&new).await {
                Ok(()) => {
                    self.restart_metrics(&new).await;
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
        self.missed_tick_at = self.schedule.missed_tick_deadline();
        self.notifier.status(&format!(
            "cycle {}: streaming, {} sent since the state was created",
            engine.cycles_run() + 1,
            engine.cursor().sent_total
        ));
        let (cfg, shutdown) = (self.cfg.clone(), self.shutdown.clone());
        let task = tokio::spawn(async move {
            let report = engine.run_cycle(&cfg, stop_by, &shutdown).await;
            (engine, report)
        });
        self.running = Some(Running {
            task,
            stuck_at: stop_by.map(|t| t + HANG_GRACE),
            stuck: false,
        });
    }

    /// The cycle task ended: take the engine back, log the report, update STATUS.
    fn finish_cycle(&mut self, done: Result<(Engine, CycleReport), tokio::task::JoinError>) {
        self.running = None;
        // A panicking cycle is a bug; surface it rather than streaming on silently.
        let (engine, report) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        self.engine = Some(engine);
        log_report(&report, Some(&self.schedule));
        if let Some(metrics) = &self.metrics {
            metrics.record(&CycleMetrics::from_report(&report));
        }
        self.notifier
            .status(&report.status(&self.schedule.next_tick_text()));
    }

    /// The cycle is still running `HANG_GRACE` past its slot. With a watchdog the pings stop
    /// and systemd restarts the daemon; without one the cycle is abandoned and the engine
    /// rebuilt from the state directory (the cursor was saved after every record).
    async fn mark_stuck(&mut self) -> Result<(), DaemonError> {
        tracing::error!(
            "cycle stuck {}s past its slot; no more watchdog pings",
            HANG_GRACE.as_secs()
        );
        self.notifier.status("cycle stuck past its slot");
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        running.stuck = true;
        if self.watchdog.is_none() {
            running.task.abort();
            // The abandoned engine holds the state directory's lock until its task is
            // dropped; wait for that (an aborted task ends at its next poll) before the new
            // engine takes the lock. A task that does not end is wedged: give up, and let
            // systemd (Restart=on-failure) start afresh.
            let task = &mut running.task;
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                return Err(DaemonError::Stuck);
            }
            self.running = None;
            let mut engine = Engine::new(&self.cfg).await?;
            engine.start_refresh_if_due(&self.cfg);
            self.engine = Some(engine);
        }
        Ok(())
    }

    /// A clean stop: STOPPING, let the running cycle finish its in-flight put (at most
    /// `STOP_GRACE`), save the cursor.
    async fn stop(mut self) {
        self.notifier.stopping();
        self.notifier.status("stopping: saving the cursor");
        if let Some(running) = self.running.take() {
            let mut task = running.task;
            match tokio::time::timeout(STOP_GRACE, &mut task).await {
                Ok(done) => self.finish_cycle(done),
                Err(_) => {
                    tracing::warn!(
                        "in-flight put did not finish within the stop grace; abandoning it"
                    );
                    task.abort();
                }
            }
        }
        if let Some(metrics) = self.metrics.take() {
            metrics.flush(METRICS_FLUSH).await;
        }
        if let Some(retired) = self.retired_metrics.take() {
            // It flushes within METRICS_FLUSH of the reload on its own.
            let _ = tokio::time::timeout(METRICS_FLUSH, retired).await;
        }
        self.job.stop().await;
        match &self.engine {
            Some(engine) => {
                engine.checkpoint();
                let sent_total = engine.cursor().sent_total;
                tracing::info!(
                    sent_total,
                    "stopped; cursor saved ({sent_total} records sent so far)"
                );
            }
            None => tracing::info!(
                "stopped; the cursor on disk is the one saved after the last acknowledged record"
            ),
        }
    }
}

/// The one summary line per cycle.
fn log_report(report: &CycleReport, schedule: Option<&Schedule>) {
    let next = schedule.map(Schedule::next_tick_text).unwrap_or_default();
    CycleFinished { report, next }.emit();
}
