//! A moment to wake at, or none: the one shape for "sleep until then, if there is a then".
//!
//! The daemon's stuck and missed-tick timers and the backfill's retry and give-up timers all
//! wait on a deadline that may not exist yet; in a `select!` a `Deadline::Never` simply never
//! fires, so the branch needs no `if` guard to keep it from firing at once.

use tokio::time::Instant;

/// When to wake: at an instant, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deadline {
    At(Instant),
    #[default]
    Never,
}

impl Deadline {
    /// Sleeps until the deadline; for `Never`, forever.
    pub async fn sleep(self) {
        match self {
            Deadline::At(at) => tokio::time::sleep_until(at).await,
            Deadline::Never => std::future::pending().await,
        }
    }
}

impl From<Option<Instant>> for Deadline {
    fn from(at: Option<Instant>) -> Self {
        at.map_or(Deadline::Never, Deadline::At)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deadline_fires_not_before_its_instant_and_never_never_fires() {
        use tokio::time::Duration;
        let start = Instant::now();
        Deadline::At(start + Duration::from_millis(30))
            .sleep()
            .await;
        assert!(start.elapsed() >= Duration::from_millis(30));
        let never = tokio::time::timeout(Duration::from_millis(50), Deadline::Never.sleep()).await;
        assert!(never.is_err(), "Never must not fire");
    }
}
