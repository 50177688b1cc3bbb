//! The signals' events (`crate::signals`): a stop asked for, by the daemon's signals or a
//! command's, and a command's second signal. Their target is `bookstream::daemon`, where the
//! daemon's stop was always logged.

#[cfg(test)]
use super::Event;
use super::event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[StopRequested::NAME, SignalledAgain::NAME];

const TARGET: &str = "bookstream::daemon";

event! {
    /// SIGTERM or SIGINT arrived: the daemon or the command finishes or abandons its request
    /// in flight, saves what it saves, and stops.
    pub(crate) struct StopRequested { pub signal: &'static str }
    const NAME = "stop_requested";
    info!(target: TARGET, signal, "stopping on {signal}");
}

event! {
    /// A command's second SIGINT or SIGTERM: the process exits at once (status 130).
    pub(crate) struct SignalledAgain { pub signal: &'static str }
    const NAME = "signalled_again";
    warn!(target: TARGET, signal, "second {signal}: exiting at once");
}
