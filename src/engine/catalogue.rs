//! Taking a new catalogue: the background refresh's result, unless it failed or shrank past
//! `[site] max_shrink` (a broken or redesigned site must not replace a good catalogue: in
//! changes mode that would look like a thousand books removed).

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::catalogue::Snapshot;
use crate::changes;
use crate::config::{Mode, Settings};
use crate::refresh::ScrapeResult;

impl Engine {
    /// Takes a finished background scrape, starts a new one when the catalogue is older than
    /// `[site] refresh`, and waits for it (until `stop_by`) only when there is no catalogue or
    /// no slot (`once`).
    pub(super) async fn refresh_catalogue(
        &mut self,
        cfg: &Settings,
        stop_by: Option<Instant>,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let mut outcome = Ok(());
        if let Some(result) = self.refresher.take_finished().await {
            outcome = self.accept(cfg, result);
        }
        self.start_refresh_if_due(cfg);
        if (self.catalogue.is_none() || stop_by.is_none()) && self.refresher.running() {
            outcome = match self.refresher.wait(stop_by, shutdown).await {
                Some(result) => self.accept(cfg, result),
                None if shutdown.is_cancelled() => {
                    Err("stopped during the first scrape".to_owned())
                }
                None => Err("first scrape still running at the end of the slot".to_owned()),
            };
        }
        outcome
    }

    /// Starts a background scrape when the catalogue is older than `[site] refresh` (or
    /// missing) and none is running. The daemon calls it at start so the first tick has data.
    pub fn start_refresh_if_due(&mut self, cfg: &Settings) {
        let scraped_at = self.catalogue.as_ref().map(|s| s.scraped_at.as_str());
        self.refresher.start_if_due(cfg, scraped_at);
    }

    /// The catalogue a new scrape is judged against and, in changes mode, compared with: the
    /// feed's baseline (or after a switch from catalogue mode the last good catalogue).
    fn last_good(&self, cfg: &Settings) -> Option<&Snapshot> {
        match cfg.stream.mode {
            Mode::Changes => self.feed.baseline.as_ref().or(self.catalogue.as_ref()),
            Mode::Catalogue => self.catalogue.as_ref(),
        }
    }

    /// Takes a finished scrape, judged against the last good catalogue (a book whose product
    /// page failed, or that a short walk did not reach, is kept as it was known): the new
    /// catalogue is saved and used; a failure is reported and the last good catalogue kept.
    pub(super) fn accept(&mut self, cfg: &Settings, result: ScrapeResult) -> Result<(), String> {
        let last = self.last_good(cfg).map(|s| &s.books[..]);
        // (what happened, why), for the log line and STATUS.
        let result = result
            .map(|scraped| {
                let taken = scraped.against(last);
                self.refresher
                    .absences()
                    .judge(taken, last, cfg.site.removed_after)
            })
            .map_err(|e| ("scrape failed", e.to_string()));
        let result = match (result, &self.catalogue) {
            (Ok((taken, _)), Some(last))
                if shrinks_too_much(last.books.len(), taken.books.len(), cfg.site.max_shrink) =>
            {
                Err((
                    "scrape refused",
                    format!(
                        "it found {} books, more than {:.0}% fewer than the last good catalogue's {} ([site] max_shrink = {}); a broken or redesigned site must not replace it",
                        taken.books.len(),
                        cfg.site.max_shrink * 100.0,
                        last.books.len(),
                        cfg.site.max_shrink
                    ),
                ))
            }
            (result, _) => result,
        };
        match result {
            Ok((taken, absences)) => {
                let stats = &taken.stats;
                self.scrape_counts.product_pages_failed += stats.product_failures;
                tracing::info!(
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
                    "catalogue refreshed: {} books from {} listing pages ({} requests, {} not modified, {} product pages failed: {} kept as last known, {} listing fields only){}",
                    taken.books.len(),
                    stats.listing_pages,
                    stats.requests,
                    stats.not_modified,
                    stats.product_failures,
                    taken.kept_unread,
                    taken.listing_only,
                    match (taken.proves_removals, taken.walk.complete()) {
                        (true, _) if taken.pending_removal > 0 => format!(
                            "; {} books not listed are kept until [site] removed_after = {} complete walks in a row have not listed them",
                            taken.pending_removal, cfg.site.removed_after
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
                    }
                );
                let snapshot = Snapshot {
                    scraped_at: crate::now_rfc3339(),
                    site: self.site.clone(),
                    books: taken.books,
                };
                if cfg.stream.mode == Mode::Changes {
                    // Not committed, not taken: the next refresh compares with the same
                    // baseline again and finds the same events.
                    self.detect_changes(cfg, &snapshot).map_err(|e| {
                        tracing::error!(error = %e, "{e}");
                        e
                    })?;
                }
                if let Err(e) = self.store.save_catalogue(&snapshot) {
                    tracing::error!(error = %e, "cannot save the catalogue snapshot: {e}");
                    self.scrape_counts.save_failures += 1;
                }
                self.catalogue = Some(snapshot);
                self.refresher.taken(absences);
                Ok(())
            }
            Err((what, why)) => {
                self.scrape_counts.failures += 1;
                match &self.catalogue {
                    Some(s) => tracing::warn!(
                        error = %why, scraped_at = %s.scraped_at,
                        "{what}; streaming from the last good catalogue (of {}): {why}", s.scraped_at
                    ),
                    None => {
                        tracing::error!(error = %why, "{what} and there is no earlier catalogue: {why}")
                    }
                }
                Err(format!("{what}: {why}"))
            }
        }
    }

    /// Changes mode: compares `new` with the baseline (the feed's, or after a switch from
    /// catalogue mode the last good catalogue; with neither, the initial snapshot) and commits
    /// the events together with `new` as the next baseline, in one atomic write.
    fn detect_changes(&mut self, cfg: &Settings, new: &Snapshot) -> Result<(), String> {
        let generation = self.feed.generation(self.cursor.acked_seq);
        let events = match self.last_good(cfg) {
            Some(base) => changes::diff_in(&base.books, &new.books, &new.scraped_at, generation),
            None if cfg.stream.initial_snapshot => {
                changes::snapshot(&new.books, &new.scraped_at, generation)
            }
            None => Vec::new(),
        };
        let detected = events.len();
        let feed = self
            .feed
            .committed(events, new.clone(), self.cursor.acked_seq);
        self.store.save_feed(&feed).map_err(|e| {
            format!(
                "cannot commit the change feed in state directory {}: {e}; the changes will be detected again at the next refresh",
                self.store.dir().display()
            )
        })?;
        self.feed = feed;
        self.scrape_counts.changes_detected += detected as u32;
        let backlog = self.feed.backlog(self.cursor.acked_seq).count();
        tracing::info!(
            changes = detected,
            backlog,
            "{detected} changes detected and committed; backlog {backlog}"
        );
        Ok(())
    }
}

/// Whether a catalogue of `new` books is more than `max_shrink` (a fraction) smaller than the
/// last good one of `last` books.
fn shrinks_too_much(last: usize, new: usize, max_shrink: f64) -> bool {
    (new as f64) < (last as f64) * (1.0 - max_shrink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalogue_more_than_max_shrink_smaller_is_refused() {
        assert!(!shrinks_too_much(1000, 800, 0.2));
        assert!(shrinks_too_much(1000, 799, 0.2));
        assert!(shrinks_too_much(1000, 0, 0.2));
        assert!(!shrinks_too_much(1000, 0, 1.0), "1.0 accepts anything");
        assert!(!shrinks_too_much(10, 2000, 0.2), "growth is always fine");
    }
}
