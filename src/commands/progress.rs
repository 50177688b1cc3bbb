//! How a backfill shows its progress: a bar on a terminal (records, bytes, records/s,
//! throttles, ETA), a log line every few seconds otherwise, and always a summary at the end
//! (with the resume point a stopped backfill leaves).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::Event;
use crate::events::backfill::{BackfillFinished, BackfillProgress};
use crate::kinesis::backfill::{Report, Stats};

/// Without a terminal, a progress line this often.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The running display; [`Progress::finish`] stops it.
pub struct Progress {
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Progress {
    pub fn start(total: Option<u64>, mut stats: watch::Receiver<Stats>) -> Progress {
        let (stop, mut stopped) = watch::channel(false);
        let terminal = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let bar = terminal.then(|| bar(total));
            let mut tick = tokio::time::interval(if terminal {
                Duration::from_millis(200)
            } else {
                LOG_EVERY
            });
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let s = stats.borrow_and_update().clone();
                let rate = s.sent as f64 / started.elapsed().as_secs_f64().max(1e-3);
                match &bar {
                    Some(bar) => {
                        bar.set_position(s.sent);
                        bar.set_message(format!(
                            "{} · {rate:.0} rec/s · {} throttled · {} retried",
                            indicatif::HumanBytes(s.bytes),
                            s.throttled,
                            s.retried
                        ));
                    }
                    None => BackfillProgress {
                        stats: &s,
                        total,
                        records_per_sec: rate,
                    }
                    .emit(),
                }
            }
            if let Some(bar) = bar {
                bar.set_position(stats.borrow().sent);
                bar.finish_and_clear();
            }
        });
        Progress { task, stop }
    }

    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if total.is_some() {
        "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} records · {msg} · ETA {eta}"
    } else {
        "{elapsed_precise} {spinner} {human_pos} records · {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// What a stopped backfill left for a rerun.
#[derive(Debug)]
pub struct ResumePoint {
    /// The JSON Lines file of the records not acknowledged (`None` if it could not be written).
    pub path: Option<PathBuf>,
    pub records: u64,
    /// Of those, records Kinesis may hold already (a rerun may make a copy of each).
    pub possibly_written: u64,
    /// The input was not read from this record on (a pipe, stdin or URL that was still open):
    /// the rest of it is not in the file.
    pub unread_from: Option<u64>,
    pub error: Option<String>,
}

impl ResumePoint {
    fn describe(&self) -> String {
        let mut text = match (&self.path, &self.error) {
            (Some(path), _) => format!(
                "; resume: {} record(s) not acknowledged are in {} (rerun with --json-file on it)",
                self.records,
                path.display()
            ),
            (None, Some(e)) => format!("; NO resume file could be written: {e}"),
            (None, None) => String::new(),
        };
        if self.possibly_written > 0 {
            text.push_str(&format!(
                ", {} of them possibly written already",
                self.possibly_written
            ));
        }
        if let Some(n) = self.unread_from {
            text.push_str(&format!(
                "; the input was not read from its record {n} on (not in the resume file)"
            ));
        }
        text
    }
}

/// The final word on a backfill: on stdout for the operator, and in the log with fields.
pub fn summary(stream: &str, report: &Report, elapsed: Duration, resume: Option<&ResumePoint>) {
    let s = &report.stats;
    let secs = elapsed.as_secs_f64();
    let rate = s.sent as f64 / secs.max(1e-3);
    let how = if report.error.is_some() {
        "stopped"
    } else if report.interrupted {
        "interrupted"
    } else {
        "done"
    };
    let aggregated = if s.kinesis_records != s.sent {
        format!(" in {} Kinesis records (aggregated)", s.kinesis_records)
    } else {
        String::new()
    };
    let resumed = resume.map(ResumePoint::describe).unwrap_or_default();
    let resume_file = resume
        .and_then(|r| r.path.as_ref())
        .map(|p| p.display().to_string());
    let possibly_duplicated =
        s.possibly_duplicated + resume.map_or(report.unacked_maybe_written, |r| r.possibly_written);
    BackfillFinished {
        stream,
        report,
        elapsed,
        how,
        aggregated: &aggregated,
        resumed: &resumed,
        possibly_duplicated,
        resume_file,
        resume_records: resume.map(|r| r.records),
        unread_from: resume.and_then(|r| r.unread_from),
    }
    .emit();
    println!(
        "backfill {how}: sent {} of {} record(s) to {stream}{aggregated}, {} bytes, in {secs:.1} s ({rate:.0} records/s); \
         {} retried, {} throttled, {} refused (over 1 MiB), {} not sent, {} possibly duplicated, {} PutRecords requests, {} reshard(s){resumed}",
        s.sent,
        s.read,
        s.bytes,
        s.retried,
        s.throttled,
        s.refused,
        report.unsent,
        possibly_duplicated,
        s.requests,
        s.reshards
    );
}
