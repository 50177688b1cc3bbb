//! Taking a new catalogue: the background refresh's result, unless it failed or shrank past
//! `[site] max_shrink` (a broken or redesigned site must not replace a good catalogue: in
//! changes mode that would look like a thousand books removed).

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::catalogue::Snapshot;
use crate::changes;
use crate::config::{Mode, Settings};
use crate::events::Event;
use crate::events::engine::{
    CatalogueNotSaved, CatalogueRefreshed, CatalogueRefused, ChangesCommitted, ChangesNotCommitted,
};
use crate::refresh::ScrapeResult;
use crate::scrape::{Absences, Taken};

/// What a cycle's refresh came to.
#[derive(Debug)]
pub(super) enum Refreshed {
    /// Nothing went wrong: a new catalogue taken, or none due or finished.
    Fine,
    /// A refresh failed or was refused (the message says why), or the first walk answered
    /// nothing in the whole slot.
    Failed(String),
    /// No catalogue yet, and the first walk still running at the end of the slot with
    /// `pages` pages answered in it, or at a stop: a start (at the default 2 requests a second
    /// the first walk of the real site takes ~9 minutes), not a failure.
    FirstWalk { pages: u64 },
}

impl From<Result<(), String>> for Refreshed {
    /// A catalogue judged ([`Engine::accept`]): taken, or failed with why.
    fn from(judged: Result<(), String>) -> Self {
        judged.map_or_else(Refreshed::Failed, |()| Refreshed::Fine)
    }
}

impl Refreshed {
    /// What the plan goes by (a failure makes what is streamed stale, or is why there is
    /// nothing) and the first walk's pages, for the report.
    pub(super) fn into_parts(self) -> (Result<(), String>, Option<u64>) {
        match self {
            Refreshed::Fine => (Ok(()), None),
            Refreshed::Failed(e) => (Err(e), None),
            Refreshed::FirstWalk { pages } => (Ok(()), Some(pages)),
        }
    }
}

impl Engine {
    /// Takes a finished background scrape, starts a new one when the catalogue is older than
    /// `[site] refresh`, and waits for it (until `stop_by`) only when there is no catalogue or
    /// no slot (`once`).
    pub(super) async fn refresh_catalogue(
        &mut self,
        cfg: &Settings,
        stop_by: Option<Instant>,
        shutdown: &CancellationToken,
    ) -> Refreshed {
        let mut outcome = Refreshed::Fine;
        if let Some(result) = self.refresher.take_finished().await {
            outcome = self.accept(cfg, result).into();
        }
        self.start_refresh_if_due(cfg);
        if (self.catalogue.is_none() || stop_by.is_none()) && self.refresher.running() {
            let answered = self.refresher.pages_answered();
            outcome = match self.refresher.wait(stop_by, shutdown).await {
                Some(result) => self.accept(cfg, result).into(),
                None => {
                    let pages = self.refresher.pages_answered().saturating_sub(answered);
                    let stopped = shutdown.is_cancelled();
                    if self.catalogue.is_none() && (stopped || pages > 0) {
                        // A stop during the first walk is a clean stop like any other.
                        Refreshed::FirstWalk { pages }
                    } else if stopped {
                        Refreshed::Failed("stopped during the first scrape".to_owned())
                    } else {
                        Refreshed::Failed(
                            "first scrape still running at the end of the slot, no page answered in it"
                                .to_owned(),
                        )
                    }
                }
            };
        }
        outcome
    }

    /// Starts a background scrape when the catalogue is older than `[site] refresh` (or
    /// missing) and none is running. The daemon calls it at start so the first tick has data.
    pub fn start_refresh_if_due(&mut self, cfg: &Settings) {
        let scraped_at = self.catalogue.as_ref().map(|s| s.scraped_at);
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
    /// catalogue is adopted; a refusal is reported and the last good catalogue kept.
    pub(super) fn accept(&mut self, cfg: &Settings, result: ScrapeResult) -> Result<(), String> {
        let last = self.last_good(cfg).map(|s| &s.books[..]);
        let taken = result.map(|scraped| {
            let taken = scraped.against(last);
            self.refresher
                .absences()
                .judge(taken, last, cfg.site.removed_after)
        });
        let verdict = judge(
            taken.as_ref().map(|(t, _)| t.books.len()),
            self.catalogue.as_ref().map(|s| s.books.len()),
            cfg.site.max_shrink,
        );
        match (taken, verdict) {
            (Ok((taken, absences)), Ok(())) => self.adopt(cfg, taken, absences),
            (_, Err(refusal)) => Err(self.refused(refusal)),
            (Err(e), Ok(())) => Err(self.refused(Refusal::Failed(e.to_string()))),
        }
    }

    /// Reports a refused scrape (the last good catalogue stays); returns the text for STATUS.
    fn refused(&mut self, refusal: Refusal) -> String {
        self.scrape_counts.failures += 1;
        CatalogueRefused {
            kind: refusal.kind(),
            what: refusal.what(),
            why: &refusal.why(),
            stale_since: self.catalogue.as_ref().map(|s| s.scraped_at),
        }
        .emit();
        refusal.to_string()
    }

    /// Adopts a catalogue judged good: in changes mode its events are committed first (the
    /// feed is the record of what was detected), then it is saved and streamed from.
    fn adopt(&mut self, cfg: &Settings, taken: Taken, absences: Absences) -> Result<(), String> {
        self.scrape_counts.product_pages_failed += taken.stats.product_failures;
        CatalogueRefreshed {
            taken: &taken,
            removed_after: cfg.site.removed_after,
        }
        .emit();
        let snapshot = Snapshot {
            scraped_at: crate::catalogue::now(),
            site: self.site.clone(),
            books: taken.books,
        };
        if cfg.stream.mode == Mode::Changes {
            // Not committed, not taken: the next refresh compares with the same
            // baseline again and finds the same events.
            self.detect_changes(cfg, &snapshot).inspect_err(|e| {
                ChangesNotCommitted { message: e }.emit();
            })?;
        }
        if let Err(e) = self.store.save_catalogue(&snapshot) {
            CatalogueNotSaved { error: &e }.emit();
            self.scrape_counts.save_failures += 1;
        }
        self.catalogue = Some(snapshot);
        self.refresher.taken(absences);
        Ok(())
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
        ChangesCommitted {
            changes: detected,
            backlog,
        }
        .emit();
        Ok(())
    }
}

/// Why a finished scrape does not replace the last good catalogue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum Refusal {
    /// The scrape itself failed (the site unreachable, a listing page that is not one).
    #[error("scrape failed: {0}")]
    Failed(String),
    /// It found more than `[site] max_shrink` fewer books than the last good catalogue.
    #[error("scrape refused: {}", shrunk_why(*.found, *.last, *.max_shrink))]
    Shrunk {
        found: usize,
        last: usize,
        max_shrink: f64,
    },
}

impl Refusal {
    /// The event's `kind` field.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Refusal::Failed(_) => "failed",
            Refusal::Shrunk { .. } => "shrunk",
        }
    }

    /// What happened, as the log line opens.
    pub(super) fn what(&self) -> &'static str {
        match self {
            Refusal::Failed(_) => "scrape failed",
            Refusal::Shrunk { .. } => "scrape refused",
        }
    }

    /// Why, as the log line and STATUS say it.
    pub(super) fn why(&self) -> String {
        match self {
            Refusal::Failed(e) => e.clone(),
            Refusal::Shrunk {
                found,
                last,
                max_shrink,
            } => shrunk_why(*found, *last, *max_shrink),
        }
    }
}

fn shrunk_why(found: usize, last: usize, max_shrink: f64) -> String {
    format!(
        "it found {found} books, more than {:.0}% fewer than the last good catalogue's {last} ([site] max_shrink = {max_shrink}); a broken or redesigned site must not replace it",
        max_shrink * 100.0
    )
}

/// The judgement, pure: a scrape that found `found` books (or failed) may replace the last
/// good catalogue of `last` books (`None`: there is none, anything goes) unless it failed or
/// is more than `max_shrink` (a fraction) smaller; a broken or redesigned site must not
/// replace a good catalogue (in changes mode that would look like a thousand books removed).
pub(super) fn judge<E: std::fmt::Display>(
    found: Result<usize, E>,
    last: Option<usize>,
    max_shrink: f64,
) -> Result<(), Refusal> {
    let found = found.map_err(|e| Refusal::Failed(e.to_string()))?;
    match last {
        Some(last) if (found as f64) < (last as f64) * (1.0 - max_shrink) => Err(Refusal::Shrunk {
            found,
            last,
            max_shrink,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHRINK: f64 = 0.2;

    fn judged(found: usize, last: Option<usize>, max_shrink: f64) -> Result<(), Refusal> {
        judge(Ok::<_, String>(found), last, max_shrink)
    }

    #[test]
    fn a_catalogue_more_than_max_shrink_smaller_is_refused() {
        assert_eq!(judged(800, Some(1000), SHRINK), Ok(()));
        assert_eq!(
            judged(799, Some(1000), SHRINK),
            Err(Refusal::Shrunk {
                found: 799,
                last: 1000,
                max_shrink: SHRINK
            })
        );
        assert!(judged(0, Some(1000), SHRINK).is_err());
        assert_eq!(judged(0, Some(1000), 1.0), Ok(()), "1.0 accepts anything");
        assert_eq!(
            judged(2000, Some(10), SHRINK),
            Ok(()),
            "growth is always fine"
        );
    }

    #[test]
    fn without_a_last_good_catalogue_any_scrape_is_taken() {
        assert_eq!(judged(0, None, SHRINK), Ok(()));
        assert_eq!(judged(1, None, 0.0), Ok(()));
    }

    #[test]
    fn a_failed_scrape_is_refused_whatever_the_last_catalogue() {
        for last in [None, Some(0), Some(1000)] {
            assert_eq!(
                judge(Err::<usize, _>("listing page failed: 503"), last, SHRINK),
                Err(Refusal::Failed("listing page failed: 503".into()))
            );
        }
    }

    #[test]
    fn a_refusal_says_what_happened_and_why_with_the_figures() {
        let shrunk = judged(700, Some(1000), SHRINK).unwrap_err();
        assert_eq!(shrunk.what(), "scrape refused");
        assert_eq!(
            shrunk.to_string(),
            "scrape refused: it found 700 books, more than 20% fewer than the last good catalogue's 1000 ([site] max_shrink = 0.2); a broken or redesigned site must not replace it"
        );
        let failed = Refusal::Failed("timed out".into());
        assert_eq!(
            (failed.what(), failed.why()),
            ("scrape failed", "timed out".to_owned())
        );
        assert_eq!(failed.to_string(), "scrape failed: timed out");
    }
}
