//! Typed events: every log line an operator or a test reads is one value here, after Vector's
//! `internal_events`. An event is a struct of the facts; its `emit()` writes, in one place, the
//! structured fields (the journal's own fields, or the keys of `--log-format json`), the message
//! an operator reads, and the stable name in the `event` field.
//!
//! Tests and tools match the name (`event = "cycle_finished"`), never the wording, so a message
//! can be reworded without breaking anything. One file per room that emits (`daemon.rs`,
//! `engine.rs`, ...), so the events of a room are read together. A log line no one reads (debug
//! detail) may stay a plain `tracing` call.
//!
//! Names are `snake_case`, a noun and a past participle where one fits (`cycle_finished`,
//! `listing_walk_incomplete`), unique across the crate: the `every_event_name_is_unique` test
//! collects them from [`NAMES`].

pub(crate) mod backfill;
pub(crate) mod daemon;
pub(crate) mod engine;
pub(crate) mod input;
pub(crate) mod kinesis;
pub(crate) mod metrics;
pub(crate) mod refresh;
pub(crate) mod scrape;
pub(crate) mod signals;
pub(crate) mod stream;

/// A fact the daemon reports. `NAME` is the stable `event` field.
pub(crate) trait Event {
    /// The stable name in the `event` field: what tests and tools match.
    const NAME: &'static str;

    /// Writes the event: fields, message and name, at its level.
    fn emit(self);
}

/// Declares a plain event: its struct, and an [`Event`] impl that writes one `tracing` line
/// with the event's name in the `event` field. A reader sees each event whole in one place:
/// its doc comment, its facts, its name, its level and target, its fields and its message.
///
/// ```text
/// event! {
///     /// A cycle still runs `grace_secs` past its slot: no more watchdog pings.
///     pub(crate) struct CycleStuck { pub grace_secs: u64 }
///     const NAME = "cycle_stuck";
///     error!(target: TARGET, grace_secs,
///         "cycle stuck {grace_secs}s past its slot; no more watchdog pings");
/// }
/// ```
///
/// The log call is `tracing`'s own (`info!`, `warn!`, `error!`, with `%`/`?` sigils), with
/// `event = Self::NAME` put in after the target; in it, the struct's fields are locals of the
/// same names. `let` statements between the name and the call compute what the call shares
/// (a nested struct taken apart, a figure both a field and the message use). An event whose
/// level, fields or message depend on its values (a `match`) keeps a hand-written `impl
/// Event`. Each room lists its names in its `NAMES` (the macro cannot collect them).
macro_rules! event {
    // A fact without values.
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident;
        const NAME = $event:literal;
        $($body:tt)*
    ) => {
        $(#[$meta])*
        $vis struct $name;

        impl $crate::events::Event for $name {
            const NAME: &'static str = $event;

            fn emit(self) {
                $crate::events::event!(@body [] $($body)*);
            }
        }
    };
    // A fact with values, which may borrow for `'a`.
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $(<$lt:lifetime>)? {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident: $ty:ty),* $(,)?
        }
        const NAME = $event:literal;
        $($body:tt)*
    ) => {
        $(#[$meta])*
        $vis struct $name $(<$lt>)? {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        impl $(<$lt>)? $crate::events::Event for $name $(<$lt>)? {
            const NAME: &'static str = $event;

            fn emit(self) {
                let Self { $($field),* } = self;
                $crate::events::event!(@body [] $($body)*);
            }
        }
    };
    // The body: the `let` statements, gathered one by one, then the log call.
    (@body [$($lets:tt)*] let $pat:pat = $init:expr; $($rest:tt)*) => {
        $crate::events::event!(@body [$($lets)* let $pat = $init;] $($rest)*)
    };
    (@body [$($lets:tt)*] $level:ident!(target: $target:expr, $($arg:tt)*);) => {
        $($lets)*
        ::tracing::$level!(target: $target, event = Self::NAME, $($arg)*)
    };
    (@body [$($lets:tt)*] $($other:tt)*) => {
        compile_error!(
            "event!: after `const NAME`, `let` statements, then one `info!(target: ..., ...);`"
        )
    };
}
pub(crate) use event;

/// Every event's name, for the uniqueness check (each room's file adds its own).
#[cfg(test)]
const NAMES: &[&[&str]] = &[
    backfill::NAMES, // the backfill: plans, reshards, failed puts
    daemon::NAMES,   // cycles, reloads
    engine::NAMES,   // catalogues taken or refused, checkpoints, dead letters
    input::NAMES,    // the input files' reader
    kinesis::NAMES,  // the paced producer: records sent, puts retried or unanswered
    metrics::NAMES,  // the CloudWatch publisher
    refresh::NAMES,  // what the scraper knows of the product pages at a start
    scrape::NAMES,   // walks, robots.txt, product pages
    signals::NAMES,  // a stop asked for by a signal, a command's second signal
    stream::NAMES,   // `bookstream stream`, paced
];

#[cfg(test)]
mod tests;
