//! A shutdown signal that many tasks can watch: set once (SIGTERM, SIGINT, Ctrl-C), never unset.

use tokio::sync::watch;

/// The sending half, held by whoever handles signals.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// The watching half; cheap to clone into every task that must stop.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new, unset signal.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the signal is set (at once if it already is).
    pub async fn wait(&mut self) {
        // An error means the trigger was dropped without firing: then it never fires.
        if self.0.wait_for(|set| *set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
