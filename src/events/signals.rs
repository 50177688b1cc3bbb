//! The signals' events (`crate::signals`): a stop asked for, by the daemon's signals or a
//! command's, and a command's second signal. Their target is `bookstream::daemon`, where the
//! daemon's stop was always logged.

use super::events;

const TARGET: &str = "bookstream::daemon";

events! {
    /// SIGTERM or SIGINT arrived: the daemon or the command finishes or abandons its request
    /// in flight, saves what it saves, and stops.
    "stop_requested" => StopRequested { signal: &'static str }
    info!(target: TARGET, signal, "stopping on {signal}");

    /// A command's second SIGINT or SIGTERM: the process exits at once (status 130).
    "signalled_again" => SignalledAgain { signal: &'static str }
    warn!(target: TARGET, signal, "second {signal}: exiting at once");
}
