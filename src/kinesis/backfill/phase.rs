//! Where a backfill stands: reading its input, draining what waits after the input ended, or
//! stopping (on an error or an interrupt). One value instead of an "input open" flag, an
//! optional error, an "interrupted" flag and an optional abandon time that had to agree.

use tokio::time::Instant;

use super::BackfillError;

/// The phase of one run.
#[derive(Debug)]
pub(super) enum Phase {
    /// Taking records from the input (while the queues have room) and sending them.
    Reading,
    /// The input has ended: sending what waits, then done.
    Draining,
    /// Nothing more is taken in or sent; requests in flight may still answer until
    /// `abandon_at`, then they give up their batches (not sent, possibly written).
    Stopping { cause: Stop, abandon_at: Instant },
}

/// Why a run stops before its input is sent.
#[derive(Debug)]
pub(super) enum Stop {
    /// SIGINT/SIGTERM (the shutdown token).
    Interrupted,
    /// What can never succeed, or no progress for `give_up_after`.
    Failed(BackfillError),
}

impl Phase {
    /// Stops now (the first cause is kept, except that an error found while stopping on an
    /// interrupt is reported: it says more than the interrupt).
    pub(super) fn stop(&mut self, cause: Stop, abandon_at: Instant) {
        match (&mut *self, cause) {
            (Phase::Reading | Phase::Draining, cause) => {
                *self = Phase::Stopping { cause, abandon_at };
            }
            (
                Phase::Stopping {
                    cause: cause @ Stop::Interrupted,
                    ..
                },
                Stop::Failed(e),
            ) => *cause = Stop::Failed(e),
            (Phase::Stopping { .. }, _) => {}
        }
    }

    pub(super) fn is_stopping(&self) -> bool {
        matches!(self, Phase::Stopping { .. })
    }

    /// When requests still in flight are abandoned, once stopping.
    pub(super) fn abandon_at(&self) -> Option<Instant> {
        match self {
            Phase::Stopping { abandon_at, .. } => Some(*abandon_at),
            _ => None,
        }
    }

    /// How the run ended, for its report: interrupted, and the error that stopped it.
    pub(super) fn outcome(self) -> (bool, Option<BackfillError>) {
        match self {
            Phase::Stopping {
                cause: Stop::Interrupted,
                ..
            } => (true, None),
            Phase::Stopping {
                cause: Stop::Failed(e),
                ..
            } => (false, Some(e)),
            Phase::Reading | Phase::Draining => (false, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Stop {
        Stop::Failed(BackfillError::Internal("boom".into()))
    }

    #[test]
    fn a_stop_keeps_its_first_cause_and_its_abandon_time() {
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_secs(5);
        let mut phase = Phase::Reading;
        phase.stop(failed(), t0);
        phase.stop(Stop::Interrupted, later);
        assert_eq!(phase.abandon_at(), Some(t0));
        let (interrupted, error) = phase.outcome();
        assert!(!interrupted);
        assert!(matches!(error, Some(BackfillError::Internal(_))));
    }

    #[test]
    fn an_error_while_stopping_on_an_interrupt_is_what_the_report_says() {
        let t0 = Instant::now();
        let mut phase = Phase::Draining;
        phase.stop(Stop::Interrupted, t0);
        assert!(phase.is_stopping());
        phase.stop(failed(), t0 + std::time::Duration::from_secs(1));
        assert_eq!(
            phase.abandon_at(),
            Some(t0),
            "the grace runs from the first stop"
        );
        let (interrupted, error) = phase.outcome();
        assert!(!interrupted && error.is_some());
    }

    #[test]
    fn a_run_that_never_stopped_reports_neither() {
        for phase in [Phase::Reading, Phase::Draining] {
            assert!(!phase.is_stopping());
            assert_eq!(phase.abandon_at(), None);
            let (interrupted, error) = phase.outcome();
            assert!(!interrupted && error.is_none());
        }
    }
}
