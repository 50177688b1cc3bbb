//! The long-running service: cron ticks from tokio-cron-scheduler, one cycle at a time (a tick
//! that arrives while a cycle runs waits, it never overlaps), stop and reload (given to
//! [`run`] as [`Signals`]: TERM/INT and HUP in `main`, a test's own in-process), and the systemd
//! protocol (through the [`Notifier`] it is given). Each cycle runs as a task; the main loop
//! answers signals and the watchdog meanwhile, and stops the pings when a cycle is stuck past
//! its slot, so that systemd restarts the daemon.

mod reload;

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::deadline::Deadline;
use crate::engine::{CycleReport, Engine, EngineError};
use crate::events::Event;
use crate::events::daemon::{
    ConfigApplied, ConfigNotApplied, CycleFinished, CycleStuck, DaemonReady, DaemonStopped,
    PutAbandoned, TickMissed,
};
use crate::metrics::{CycleMetrics, Metrics};
use crate::schedule::{Schedule, Ticks};

pub use crate::signals::Signals;
pub use crate::systemd::{Notice, Notifier};

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
async fn check_aws(engine: &Engine, path: &std::path::Path) -> Result<(), DaemonError> {
    let option = format!(
        "`[kinesis] region` in {} (or BOOKSTREAM__KINESIS__REGION)",
        path.display()
    );
    Ok(crate::aws::setup::check(engine.aws(), &option).await?)
}

/// `bookstream once`: one cycle with no slot limit, then exit.
pub async fn once(
    path: &std::path::Path,
    cfg: Settings,
    shutdown: CancellationToken,
) -> Result<CycleReport, DaemonError> {
    let mut engine = Engine::new(&cfg).await?;
    check_aws(&engine, path).await?;
    let metrics = Metrics::start(&cfg, engine.aws());
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

/// Where the daemon's one cycle stands: the engine waits between ticks, or a task holds it
/// while the cycle runs and hands it back when it ends.
// One value for the life of the process, moved once a cycle: not worth a box.
#[allow(clippy::large_enum_variant)]
enum Cycle {
    /// Between cycles: the engine, ready for the next tick.
    Idle(Engine),
    /// A cycle running as a task of its own, which holds the engine.
    Running {
        task: JoinHandle<(Engine, CycleReport)>,
        stuck: Stuck,
    },
    /// The engine went with a task that was abandoned (a stop past its grace, or a stuck
    /// cycle whose replacement engine could not be built): only on the way out.
    Abandoned,
}

/// Whether a running cycle counts as stuck.
#[derive(Debug, Clone, Copy)]
enum Stuck {
    /// Not yet; from this deadline (`HANG_GRACE` past the slot's end) on, it does.
    NotYet(Deadline),
    /// Stuck: no more watchdog pings (systemd restarts the daemon).
    Yes,
}

impl Cycle {
    fn is_idle(&self) -> bool {
        matches!(self, Cycle::Idle(_))
    }

    fn is_stuck(&self) -> bool {
        matches!(
            self,
            Cycle::Running {
                stuck: Stuck::Yes,
                ..
            }
        )
    }

    /// When the running cycle will count as stuck; `Never` if none runs or it already does.
    fn stuck_deadline(&self) -> Deadline {
        match self {
            Cycle::Running {
                stuck: Stuck::NotYet(at),
                ..
            } => *at,
            _ => Deadline::Never,
        }
    }
}

/// What the main loop owns between events.
struct Daemon {
    path: PathBuf,
    cfg: Settings,
    /// Valid settings read on SIGHUP, applied when the next cycle starts.
    pending: Option<Settings>,
    schedule: Schedule,
    job: Ticks,
    cycle: Cycle,
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
/// that comes while a cycle runs waits in the one-slot queue; later ones are dropped. `path` is
/// the file a reload re-reads; `signals` say when to stop and to reload (`main` passes
/// [`Signals::daemon`]); `notifier` hears READY, STATUS, WATCHDOG, RELOADING and STOPPING
/// ([`Notifier::systemd`] under systemd). Returns after a clean stop.
pub async fn run(
    path: PathBuf,
    cfg: Settings,
    signals: Signals,
    notifier: Notifier,
) -> Result<(), DaemonError> {
    let Signals {
        stop: shutdown,
        reload: mut reloads,
    } = signals;
    let mut engine = Engine::new(&cfg).await?;
    check_aws(&engine, &path).await?;
    let schedule = cfg.schedule.clone();
    let (mut ticks, job) = Ticks::start(&schedule).await?;

    notifier.ready();
    engine.start_refresh_if_due(&cfg);
    notifier.status(&format!(
        "ready: {} sent since the state was created, first cycle {}",
        engine.cursor().sent_total,
        schedule.next_tick_text()
    ));
    DaemonReady {
        cron: schedule.expr(),
        stream: &cfg.kinesis.stream_name,
        site: cfg.site.base_url.as_str(),
    }
    .emit();
    let watchdog = notifier.watchdog_period();
    let metrics = Metrics::start(&cfg, engine.aws());
    let mut d = Daemon {
        path,
        cfg,
        pending: None,
        schedule,
        job,
        cycle: Cycle::Idle(engine),
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
        let stuck_at = d.cycle.stuck_deadline();
        let idle = d.cycle.is_idle();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(()) = reloads.recv() => {
                if d.reload().await? {
                    // A tick of the old schedule still queued must not start a cycle.
                    while ticks.try_recv().is_ok() {}
                }
            }
            _ = pings.tick(), if watchdog.is_some() => d.ping(),
            done = cycle_end(&mut d.cycle) => d.finish_cycle(done),
            _ = stuck_at.sleep() => d.mark_stuck().await?,
            Some(()) = ticks.recv(), if idle => d.start_cycle().await,
            _ = Deadline::from(d.missed_tick_at).sleep(), if idle => {
                TickMissed.emit();
                d.start_cycle().await;
            }
        }
    }
    d.stop().await;
    Ok(())
}

/// Resolves when the running cycle's task ends; never while none runs.
async fn cycle_end(cycle: &mut Cycle) -> Result<(Engine, CycleReport), tokio::task::JoinError> {
    match cycle {
        Cycle::Running { task, .. } => task.await,
        _ => std::future::pending().await,
    }
}

impl Daemon {
    /// A watchdog ping, unless the running cycle is stuck (then systemd restarts the daemon).
    fn ping(&self) {
        if !self.cycle.is_stuck() {
            self.notifier.watchdog();
        }
    }

    /// One cron tick: apply a pending config, then run the cycle as a task until the next tick.
    async fn start_cycle(&mut self) {
        let mut engine = match std::mem::replace(&mut self.cycle, Cycle::Abandoned) {
            Cycle::Idle(engine) => engine,
            other => {
                self.cycle = other;
                return;
            }
        };
        if let Some(new) = self.pending.take() {
            match engine.reconfigure(&new).await {
                Ok(()) => {
                    self.restart_metrics(&new, engine.aws());
                    self.cfg = new;
                    ConfigApplied.emit();
                }
                Err(e) => {
                    ConfigNotApplied { error: &e }.emit();
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
        self.cycle = Cycle::Running {
            task,
            stuck: Stuck::NotYet(Deadline::from(stop_by.map(|t| t + HANG_GRACE))),
        };
    }

    /// The cycle task ended: take the engine back, log the report, update STATUS.
    fn finish_cycle(&mut self, done: Result<(Engine, CycleReport), tokio::task::JoinError>) {
        // A panicking cycle is a bug; surface it rather than streaming on silently.
        let (engine, report) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        self.cycle = Cycle::Idle(engine);
        log_report(&report, Some(&self.schedule));
        if let Some(metrics) = &self.metrics {
            metrics.record(&CycleMetrics::from_report(&report));
        }
        self.notifier
            .status(&report.status(&self.schedule.next_tick_text()));
        // The cycle took the last walk's pages and dropped them: give their memory back
        // before the daemon idles until the next tick.
        crate::memory::release_free_heap();
    }

    /// The cycle is still running `HANG_GRACE` past its slot. With a watchdog the pings stop
    /// and systemd restarts the daemon; without one the cycle is abandoned and the engine
    /// rebuilt from the state directory (the cursor was saved after every record).
    async fn mark_stuck(&mut self) -> Result<(), DaemonError> {
        CycleStuck {
            grace_secs: HANG_GRACE.as_secs(),
        }
        .emit();
        self.notifier.status("cycle stuck past its slot");
        let Cycle::Running { task, stuck } = &mut self.cycle else {
            return Ok(());
        };
        *stuck = Stuck::Yes;
        if self.watchdog.is_none() {
            task.abort();
            // The abandoned engine holds the state directory's lock until its task is
            // dropped; wait for that (an aborted task ends at its next poll) before the new
            // engine takes the lock. A task that does not end is wedged: give up, and let
            // systemd (Restart=on-failure) start afresh.
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                return Err(DaemonError::Stuck);
            }
            self.cycle = Cycle::Abandoned;
            let mut engine = Engine::new(&self.cfg).await?;
            engine.start_refresh_if_due(&self.cfg);
            self.cycle = Cycle::Idle(engine);
        }
        Ok(())
    }

    /// A clean stop: STOPPING, let the running cycle finish its in-flight put (at most
    /// `STOP_GRACE`), save the cursor.
    async fn stop(mut self) {
        self.notifier.stopping();
        self.notifier.status("stopping: saving the cursor");
        if let Cycle::Running { task, .. } = &mut self.cycle {
            match tokio::time::timeout(STOP_GRACE, &mut *task).await {
                Ok(done) => self.finish_cycle(done),
                Err(_) => {
                    PutAbandoned.emit();
                    task.abort();
                    self.cycle = Cycle::Abandoned;
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
        let sent_total = match &self.cycle {
            Cycle::Idle(engine) => {
                engine.checkpoint();
                Some(engine.cursor().sent_total)
            }
            Cycle::Running { .. } | Cycle::Abandoned => None,
        };
        DaemonStopped { sent_total }.emit();
    }
}

/// The one summary line per cycle.
fn log_report(report: &CycleReport, schedule: Option<&Schedule>) {
    let next = schedule.map(Schedule::next_tick_text).unwrap_or_default();
    CycleFinished { report, next }.emit();
}
