//! The engine's events: cycles starting, catalogues taken or refused, the change feed
//! committed, the cursor's checkpoints and the records set aside.

use std::fmt::Display;
use std::path::Path;

use super::{Event, event};
use crate::catalogue::{Timestamp, rfc3339};
use crate::scrape::Taken;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    CycleStarted::NAME,
    StateLoaded::NAME,
    StateProblem::NAME,
    StateDirKept::NAME,
    CatalogueRefreshed::NAME,
    CatalogueRefused::NAME,
    CatalogueNotSaved::NAME,
    ChangesCommitted::NAME,
    ChangesNotCommitted::NAME,
    CursorNotSaved::NAME,
    CursorSavedAgain::NAME,
    RecordDeadLettered::NAME,
];

/// The `tracing` target of the engine's events, so that `RUST_LOG=bookstream::engine=...`
/// keeps selecting them.
const TARGET: &str = "bookstream::engine";

event! {
    /// A scheduled cycle began (its summary is the daemon's `cycle_finished`).
    pub(crate) struct CycleStarted { pub cycle: u64 }
    const NAME = "cycle_started";
    info!(target: TARGET, cycle, "cycle {cycle} started");
}

event! {
    /// The state directory held a catalogue at start: where streaming resumes from.
    pub(crate) struct StateLoaded {
        pub books: usize,
        pub scraped_at: Timestamp,
        pub sent_total: u64,
    }
    const NAME = "state_loaded";
    let at = rfc3339(&scraped_at);
    info!(target: TARGET, books, scraped_at = %at, sent_total,
        "state loaded: {books} books scraped at {at}, {sent_total} records sent so far");
}

event! {
    /// A state file could not be used at start (moved aside as corrupt, or left out) and the
    /// engine goes on without it.
    pub(crate) struct StateProblem<'a> { pub state_dir: &'a Path, pub problem: &'a dyn Display }
    const NAME = "state_problem";
    warn!(target: TARGET, state_dir = %state_dir.display(), "{problem}");
}

event! {
    /// A reload named another `[state] dir`: the locked one stays until a restart.
    pub(crate) struct StateDirKept<'a> { pub state_dir: &'a Path, pub configured: &'a Path }
    const NAME = "state_dir_kept";
    let (kept, configured) = (state_dir.display(), configured.display());
    warn!(target: TARGET, state_dir = %kept, %configured,
        "[state] dir changed to {configured}; it applies after a restart, until then the state stays in {kept}");
}

/// A finished scrape was taken as the new catalogue: what the walk read, what it kept from
/// the last good catalogue, and why books it did not list are still there.
pub(crate) struct CatalogueRefreshed<'a> {
    pub taken: &'a Taken,
    /// `[site] removed_after`, named in the message when books wait for it.
    pub removed_after: u32,
}

impl Event for CatalogueRefreshed<'_> {
    const NAME: &'static str = "catalogue_refreshed";

    fn emit(self) {
        let (taken, stats) = (self.taken, &self.taken.stats);
        let kept = match (taken.proves_removals, taken.walk.complete()) {
            (true, _) if taken.pending_removal > 0 => format!(
                "; {} books not listed are kept until [site] removed_after = {} complete walks in a row have not listed them",
                taken.pending_removal, self.removed_after
            ),
            (true, _) => String::new(),
            (false, true) => format!(
                "; a book could not be identified, so {} books not listed are kept as last known",
                taken.kept_missing
            ),
            (false, false) => format!(
                "; walk incomplete, {} books it did not reach kept as last known",
                taken.kept_missing
            ),
        };
        tracing::info!(
            target: TARGET,
            event = Self::NAME,
            books = taken.books.len(),
            listing_pages = stats.listing_pages,
            requests = stats.requests,
            not_modified = stats.not_modified,
            product_failures = stats.product_failures,
            kept_unread = taken.kept_unread,
            listing_only = taken.listing_only,
            walk_complete = taken.walk.complete(),
            kept_missing = taken.kept_missing,
            pending_removal = taken.pending_removal,
            gone = stats.gone,
            disallowed = stats.disallowed,
            "catalogue refreshed: {} books from {} listing pages ({} requests, {} not modified, {} product pages failed: {} kept as last known, {} listing fields only){kept}",
            taken.books.len(),
            stats.listing_pages,
            stats.requests,
            stats.not_modified,
            stats.product_failures,
            taken.kept_unread,
            taken.listing_only,
        );
    }
}

/// A finished scrape was not taken: it failed, or it shrank past `[site] max_shrink`. With a
/// last good catalogue the feed goes on from it, stale (a warning); without one there is
/// nothing to stream (an error).
pub(crate) struct CatalogueRefused<'a> {
    /// `failed` or `shrunk`.
    pub kind: &'static str,
    /// What happened and why, as the message says them ("scrape refused", "it found ...").
    pub what: &'static str,
    pub why: &'a str,
    /// When the last good catalogue, streamed meanwhile, was scraped.
    pub stale_since: Option<Timestamp>,
}

impl Event for CatalogueRefused<'_> {
    const NAME: &'static str = "catalogue_refused";

    fn emit(self) {
        let (what, why) = (self.what, self.why);
        match self.stale_since {
            Some(at) => {
                let at = rfc3339(&at);
                tracing::warn!(
                    target: TARGET, event = Self::NAME, kind = self.kind, error = %why,
                    scraped_at = %at, stale = true,
                    "{what}; streaming from the last good catalogue (of {at}): {why}"
                )
            }
            None => tracing::error!(
                target: TARGET, event = Self::NAME, kind = self.kind, error = %why,
                stale = false,
                "{what} and there is no earlier catalogue: {why}"
            ),
        }
    }
}

event! {
    /// A new catalogue could not be saved to `catalogue.json` (it is streamed all the same).
    pub(crate) struct CatalogueNotSaved<'a> { pub error: &'a dyn Display }
    const NAME = "catalogue_not_saved";
    error!(target: TARGET, %error, "cannot save the catalogue snapshot: {error}");
}

event! {
    /// Changes mode: the events between the baseline and a new catalogue were committed.
    pub(crate) struct ChangesCommitted { pub changes: usize, pub backlog: usize }
    const NAME = "changes_committed";
    info!(target: TARGET, changes, backlog,
        "{changes} changes detected and committed; backlog {backlog}");
}

event! {
    /// Changes mode: the feed could not be written; the catalogue is not taken, and the next
    /// refresh detects the same events again.
    pub(crate) struct ChangesNotCommitted<'a> {
        /// The whole message (it names the state directory).
        pub message: &'a str,
    }
    const NAME = "changes_not_committed";
    error!(target: TARGET, error = %message, "{message}");
}

event! {
    /// A checkpoint failed: sending pauses until the cursor can be saved again (so a restart
    /// never resends more than the record in flight).
    pub(crate) struct CursorNotSaved<'a> {
        pub state_dir: &'a Path,
        pub error: &'a dyn Display,
        /// The whole message, as STATUS shows it.
        pub message: &'a str,
    }
    const NAME = "cursor_not_saved";
    error!(target: TARGET, state_dir = %state_dir.display(), %error, "{message}");
}

event! {
    /// After failed checkpoints, the cursor was saved again: sending resumes.
    pub(crate) struct CursorSavedAgain<'a> {
        pub state_dir: &'a Path,
        /// Why the last save had failed.
        pub had_failed: &'a str,
    }
    const NAME = "cursor_saved_again";
    let dir = state_dir.display();
    info!(target: TARGET, state_dir = %dir,
        "cursor saved again in {dir} (it had failed: {had_failed}); sending resumes");
}

event! {
    /// A record Kinesis can never accept (or sent twice without an answer) was set aside in the
    /// dead-letter file; the walk goes on after it.
    pub(crate) struct RecordDeadLettered<'a> {
        pub stream: &'a str,
        pub upc: &'a str,
        pub error: &'a dyn Display,
        pub dead_letter: &'a Path,
    }
    const NAME = "record_dead_lettered";
    let file = dead_letter.display();
    error!(target: TARGET, %stream, %upc, %error, dead_letter = %file,
        "record {upc} dead-lettered in {file}: {error}");
}
