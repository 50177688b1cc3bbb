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

/// Declares a room's events, each a struct of its facts with an [`Event`] impl, and the room's
/// `NAMES` (for the uniqueness test). A reader sees each event whole in one place: its doc
/// comment, its name, its facts, then how it is written:
///
/// ```text
/// events! {
///     /// A cycle still runs `grace_secs` past its slot: no more watchdog pings.
///     "cycle_stuck" => CycleStuck { grace_secs: u64 }
///     error!(target: TARGET, grace_secs,
///         "cycle stuck {grace_secs}s past its slot; no more watchdog pings");
///
///     /// The daemon stopped.
///     "daemon_stopped" => DaemonStopped { sent_total: Option<u64> }
///     {
///         match sent_total { ... } // tracing calls with `event = Self::NAME`
///     }
/// }
/// ```
///
/// The struct is `pub(crate)` and its fields `pub`; `"name" => Name;` declares a fact without
/// values. How it is written is either `tracing`'s own log call (`info!`, `warn!`, `error!`,
/// with `%`/`?` sigils), with `event = Self::NAME` put in after the target, after any `let`
/// statements that compute what the call shares (a nested struct taken apart, a figure both a
/// field and the message use); or, for an event whose level, fields or message depend on its
/// values, a block of its own that writes `event = Self::NAME` itself. In both, the struct's
/// fields are locals of the same names.
macro_rules! events {
    // Every entry declared: the room's names.
    (@entries [$($names:ident)*]) => {
        #[cfg(test)]
        pub(super) const NAMES: &[&str] = &[$(<$names as $crate::events::Event>::NAME),*];
    };
    // A fact without values.
    (@entries [$($names:ident)*]
        $(#[$meta:meta])*
        $event:literal => $name:ident;
        $($rest:tt)*
    ) => {
        $crate::events::events!(@body [$($names)* $name]
            (unit [$(#[$meta])*] $event $name) [] $($rest)*);
    };
    // A fact with values, which may borrow for `'a`.
    (@entries [$($names:ident)*]
        $(#[$meta:meta])*
        $event:literal => $name:ident $(<$lt:lifetime>)? { $($fields:tt)* }
        $($rest:tt)*
    ) => {
        $crate::events::events!(@body [$($names)* $name]
            (fields [$(#[$meta])*] $event $name [$($lt)?] { $($fields)* }) [] $($rest)*);
    };
    // How it is written: the `let` statements, gathered one by one, then the log call...
    (@body $names:tt $head:tt [$($lets:tt)*] let $pat:pat = $init:expr; $($rest:tt)*) => {
        $crate::events::events!(@body $names $head [$($lets)* let $pat = $init;] $($rest)*);
    };
    (@body $names:tt $head:tt [$($lets:tt)*]
        $level:ident!(target: $target:expr, $($arg:tt)*); $($rest:tt)*
    ) => {
        $crate::events::events!(@emit $head {
            $($lets)*
            ::tracing::$level!(target: $target, event = Self::NAME, $($arg)*)
        });
        $crate::events::events!(@entries $names $($rest)*);
    };
    // ... or a block of its own.
    (@body $names:tt $head:tt [] { $($block:tt)* } $($rest:tt)*) => {
        $crate::events::events!(@emit $head { $($block)* });
        $crate::events::events!(@entries $names $($rest)*);
    };
    (@body $names:tt $head:tt $($other:tt)*) => {
        compile_error!(
            "events!: after an event's facts, `let` statements and one `info!(target: ..., ...);`, or a `{ ... }` block"
        );
    };
    (@emit (unit [$($meta:tt)*] $event:literal $name:ident) { $($body:tt)* }) => {
        $($meta)*
        pub(crate) struct $name;

        impl $crate::events::Event for $name {
            const NAME: &'static str = $event;

            fn emit(self) {
                $($body)*
            }
        }
    };
    (@emit (fields [$($meta:tt)*] $event:literal $name:ident [$($lt:lifetime)?] {
        $($(#[$fmeta:meta])* $field:ident: $ty:ty),* $(,)?
    }) { $($body:tt)* }) => {
        $($meta)*
        pub(crate) struct $name $(<$lt>)? {
            $($(#[$fmeta])* pub $field: $ty),*
        }

        impl $(<$lt>)? $crate::events::Event for $name $(<$lt>)? {
            const NAME: &'static str = $event;

            fn emit(self) {
                let Self { $($field),* } = self;
                $($body)*
            }
        }
    };
    (@$($other:tt)*) => {
        compile_error!(concat!("events!: cannot read ", stringify!($($other)*)));
    };
    // The entries of a room.
    ($($entries:tt)*) => {
        $crate::events::events!(@entries [] $($entries)*);
    };
}
pub(crate) use events;

/// Every event's name, for the uniqueness check (each room's `events!` lists its own).
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
