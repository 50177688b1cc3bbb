//! The engine's events: cycles starting, catalogues taken or refused, the change feed
//! committed, the cursor's checkpoints and the records set aside.

use std::fmt::Display;
use std::path::Path;

use super::events;
use crate::catalogue::{Timestamp, rfc3339};
use crate::scrape::Taken;

/// The `tracing` target of the engine's events, so that `RUST_LOG=bookstream::engine=...`
/// keeps selecting them.
const TARGET: &str = "bookstream::engine";

events! {
    /// A scheduled cycle began (its summary is the daemon's `cycle_finished`).
    "cycle_started" => CycleStarted { cycle: u64 }
    info!(target: TARGET, cycle, "cycle {cycle} started");

    /// The state directory held a catalogue at start: where streaming resumes from.
    "state_loaded" => StateLoaded {
        books: usize,
        scraped_at: Timestamp,
        sent_total: u64,
    }
    let at = rfc3339(&scraped_at);
    info!(target: TARGET, books, scraped_at = %at, sent_total,
        "state loaded: {books} books scraped at {at}, {sent_total} records sent so far");

    /// A state file could not be used at start (moved aside as corrupt, or left out) and the
    /// engine goes on without it.
    "state_problem" => StateProblem<'a> { state_dir: &'a Path, problem: &'a dyn Display }
    warn!(target: TARGET, state_dir = %state_dir.display(), "{problem}");

    /// A reload named another `[state] dir`: the locked one stays until a restart.
    "state_dir_kept" => StateDirKept<'a> { state_dir: &'a Path, configured: &'a Path }
    let (kept, configured) = (state_dir.display(), configured.display());
    warn!(target: TARGET, state_dir = %kept, %configured,
        "[state] dir changed to {configured}; it applies after a restart, until then the state stays in {kept}");

    /// A new catalogue could not be saved to `catalogue.json` (it is streamed all the same).
    "catalogue_not_saved" => CatalogueNotSaved<'a> { error: &'a dyn Display }
    error!(target: TARGET, %error, "cannot save the catalogue snapshot: {error}");

    /// Changes mode: the events between the baseline and a new catalogue were committed.
    "changes_committed" => ChangesCommitted { changes: usize, backlog: usize }
    info!(target: TARGET, changes, backlog,
        "{changes} changes detected and committed; backlog {backlog}");

    /// Changes mode: the feed could not be written; the catalogue is not taken, and the next
    /// refresh detects the same events again.
    "changes_not_committed" => ChangesNotCommitted<'a> {
        /// The whole message (it names the state directory).
        message: &'a str,
    }
    error!(target: TARGET, error = %message, "{message}");

    /// A checkpoint failed: sending pauses until the cursor can be saved again (so a restart
    /// never resends more than the record in flight).
    "cursor_not_saved" => CursorNotSaved<'a> {
        state_dir: &'a Path,
        error: &'a dyn Display,
        /// The whole message, as STATUS shows it.
        message: &'a str,
    }
    error!(target: TARGET, state_dir = %state_dir.display(), %error, "{message}");

    /// After failed checkpoints, the cursor was saved again: sending resumes.
    "cursor_saved_again" => CursorSavedAgain<'a> {
        state_dir: &'a Path,
        /// Why the last save had failed.
        had_failed: &'a str,
    }
    let dir = state_dir.display();
    info!(target: TARGET, state_dir = %dir,
        "cursor saved again in {dir} (it had failed: {had_failed}); sending resumes");

    /// A record Kinesis can never accept (or sent twice without an answer) was set aside in the
    /// dead-letter file; the walk goes on after it.
    "record_dead_lettered" => RecordDeadLettered<'a> {
        stream: &'a str,
        upc: &'a str,
        error: &'a dyn Display,
        dead_letter: &'a Path,
    }
    let file = dead_letter.display();
    error!(target: TARGET, %stream, %upc, %error, dead_letter = %file,
        "record {upc} dead-lettered in {file}: {error}");

    /// A finished scrape was taken as the new catalogue: what the walk read, what it kept from
    /// the last good catalogue, and why books it did not list are still there.
    "catalogue_refreshed" => CatalogueRefreshed<'a> {
        taken: &'a Taken,
        /// `[site] removed_after`, named in the message when books wait for it.
        removed_after: u32,
    }
    {
        let stats = &taken.stats;
        let kept = match (taken.proves_removals, taken.walk.complete()) {
            (true, _) if taken.pending_removal > 0 => format!(
                "; {} books not listed are kept until [site] removed_after = {} complete walks in a row have not listed them",
                taken.pending_removal, removed_after
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

    /// A finished scrape was not taken: it failed, or it shrank past `[site] max_shrink`. With a
    /// last good catalogue the feed goes on from it, stale (a warning); without one there is
    /// nothing to stream (an error).
    "catalogue_refused" => CatalogueRefused<'a> {
        /// `failed` or `shrunk`.
        kind: &'static str,
        /// What happened and why, as the message says them ("scrape refused", "it found ...").
        what: &'static str,
        why: &'a str,
        /// When the last good catalogue, streamed meanwhile, was scraped.
        stale_since: Option<Timestamp>,
    }
    {
        match stale_since {
            Some(at) => {
                let at = rfc3339(&at);
                tracing::warn!(
                    target: TARGET, event = Self::NAME, kind = kind, error = %why,
                    scraped_at = %at, stale = true,
                    "{what}; streaming from the last good catalogue (of {at}): {why}"
                )
            }
            None => tracing::error!(
                target: TARGET, event = Self::NAME, kind = kind, error = %why,
                stale = false,
                "{what} and there is no earlier catalogue: {why}"
            ),
        }
    }
}
