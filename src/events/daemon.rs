//! The daemon's events: signals, cycles, reloads.

use super::Event;
use crate::engine::CycleReport;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[StopRequested::NAME, CycleFinished::NAME];

/// SIGTERM or SIGINT arrived: the daemon finishes or abandons the put in flight and stops.
pub(crate) struct StopRequested {
    pub signal: &'static str,
}

impl Event for StopRequested {
    const NAME: &'static str = "stop_requested";

    fn emit(self) {
        tracing::info!(
            event = Self::NAME,
            signal = self.signal,
            "stopping on {}",
            self.signal
        );
    }
}

/// The one summary line per cycle: what was sent, where the cursor stands, when the next is.
pub(crate) struct CycleFinished<'a> {
    pub report: &'a CycleReport,
    /// The next tick as text ("" when there is no schedule, as in `once`).
    pub next: String,
}

impl Event for CycleFinished<'_> {
    const NAME: &'static str = "cycle_finished";

    fn emit(self) {
        let r = self.report;
        let next = self.next;
        let then = if next.is_empty() {
            String::new()
        } else {
            format!(", next {next}")
        };
        match &r.error {
            None => tracing::info!(
                event = Self::NAME, cycle = r.cycle, sent = r.sent, planned = r.planned,
                position = r.position, catalogue = r.catalogue_len,
                sent_total = r.sent_total, next = %next,
                stale = r.stale.as_deref().unwrap_or(""),
                "cycle finished: {}{then}", r.status_line()
            ),
            Some(e) => tracing::warn!(
                event = Self::NAME, cycle = r.cycle, sent = r.sent, planned = r.planned,
                position = r.position, catalogue = r.catalogue_len,
                sent_total = r.sent_total, next = %next, error = %e,
                "cycle finished with an error: {}{then}", r.status_line()
            ),
        }
    }
}
