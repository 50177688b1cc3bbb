//! The catalogue refresh: a scrape runs as a task of its own, so a slow or failing site never
//! delays a slot's sends. The engine starts one when its catalogue is older than
//! `[site] refresh`, takes it when it has finished, and waits for it only when it has nothing
//! else to stream.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::catalogue::Timestamp;
use crate::config::Settings;
use crate::events::Event;
use crate::events::refresh::{NotSeeded, ProductPagesNotSeeded, ProductPagesSeeded};
use crate::events::scrape::RefreshStarted;
use crate::scrape::rotation::Verify;
use crate::scrape::{Absences, ScrapeError, ScrapePlan, Scraped, Scraper};
use crate::state::Seed;

/// What a scrape returned: the books as found (each marked with whether its product page was
/// read) and how far the walk went, to be judged against the last good catalogue.
pub type ScrapeResult = Result<Scraped, ScrapeError>;

/// The background scrape and when the last one started.
/// Ages are measured on the monotonic clock, so a wall-clock step (NTP at boot) neither makes
/// a catalogue look fresh for hours nor triggers a scrape storm; only a catalogue loaded from
/// disk is aged by its wall-clock `scraped_at`, and one dated in the future counts as stale.
pub struct Refresher {
    scraper: Scraper,
    task: Option<JoinHandle<ScrapeResult>>,
    last_started: Option<Instant>,
    /// When this process last took a new catalogue.
    last_taken: Option<Instant>,
    /// When the walk that gave the catalogue last taken started: its first listing page is
    /// that old, which is what `[site] refresh` measures.
    taken_walk_started: Option<Instant>,
    /// Books the last complete walks did not list, counted towards `[site] removed_after`.
    absences: Absences,
}

/// Whether a refresh is due: always without a catalogue; otherwise when both the catalogue and
/// the last attempt are at least `period` old (so a failing site is retried once per period,
/// not every cycle), give or take [`slack`]: with the default `refresh = 1m` and a 1-minute
/// cron, a tick a few milliseconds early must not skip a walk (one every other cycle).
pub fn due(
    catalogue_age: Option<Duration>,
    since_last_attempt: Option<Duration>,
    period: Duration,
) -> bool {
    let Some(catalogue_age) = catalogue_age else {
        return true;
    };
    let age = since_last_attempt.map_or(catalogue_age, |a| a.min(catalogue_age));
    age.saturating_add(slack(period)) >= period
}

/// How much earlier than `period` a refresh counts as due: a tenth of it, at most 5 s (a
/// cycle's start wanders by milliseconds, a late tick by half a slot at most).
pub fn slack(period: Duration) -> Duration {
    (period / 10).min(Duration::from_secs(5))
}

impl Refresher {
    pub fn new(scraper: Scraper) -> Self {
        Self {
            scraper,
            task: None,
            last_started: None,
            last_taken: None,
            taken_walk_started: None,
            absences: Absences::default(),
        }
    }

    /// A refresher whose scraper knows the product pages of the saved catalogue `seed` (read
    /// whole, from the site configured), so that the first walk after a start reads only the
    /// new or changed entries and the rotation's share (`[site] verify_every` goes on from
    /// there), not every product page (1,050 requests, 9 minutes at 2 a second). Without one
    /// (none saved, or corrupt and set aside), or from another site, the first walk reads
    /// every product page, as before; one line says which and why.
    pub fn seeded(scraper: Scraper, seed: Seed<'_>, cfg: &Settings) -> Self {
        let site = cfg.site.base_url.as_str();
        match seed {
            Seed::Saved { path, snapshot } if snapshot.site == site => {
                let saved_age = wall_clock_age(snapshot.scraped_at);
                let known = scraper.seed(&snapshot.books, saved_age, cfg.site.verify_every);
                ProductPagesSeeded {
                    file: &path,
                    known,
                    books: snapshot.books.len(),
                    saved_at: &crate::catalogue::rfc3339(&snapshot.scraped_at),
                }
                .emit();
            }
            Seed::Saved { path, snapshot } => ProductPagesNotSeeded {
                file: &path,
                why: NotSeeded::OtherSite {
                    saved_site: &snapshot.site,
                    site,
                },
            }
            .emit(),
            Seed::Missing { path, why } => ProductPagesNotSeeded {
                file: &path,
                why: NotSeeded::Missing { why: &why },
            }
            .emit(),
        }
        Self::new(scraper)
    }

    /// Uses `scraper` for the next refresh (a reloaded `[site]`), with what the one before
    /// knows of the site's pages; one already running finishes.
    pub fn set_scraper(&mut self, scraper: Scraper) {
        self.scraper = scraper.remembering(&self.scraper);
    }

    /// Age of the catalogue scraped at `scraped_at`: on the monotonic clock when this process
    /// took it, else by the wall clock (stale when dated in the future).
    pub fn age(&self, scraped_at: Timestamp) -> Duration {
        match self.last_taken {
            Some(t) => t.elapsed(),
            None => wall_clock_age(scraped_at),
        }
    }

    /// Notes that a new catalogue was taken now, with the absences it was judged with. It came
    /// from the walk started last (one runs at a time, and it is taken before the next starts).
    pub fn taken(&mut self, absences: Absences) {
        self.last_taken = Some(Instant::now());
        self.taken_walk_started = self.last_started;
        self.absences = absences;
    }

    /// How long ago this process last took a walk (all listing pages read): `ListingAge`.
    pub fn listing_age(&self) -> Option<Duration> {
        self.last_taken.map(|t| t.elapsed())
    }

    /// How long the product page read longest ago has gone unread: `VerificationAge`.
    pub fn verification_age(&self) -> Option<Duration> {
        self.scraper.oldest_verification()
    }

    /// The absences the next catalogue is judged with.
    pub fn absences(&self) -> &Absences {
        &self.absences
    }

    /// Starts a scrape when one is due for a catalogue scraped at `scraped_at` (`None`
    /// without a catalogue) and none is running. A catalogue this process took is as old as
    /// the start of its walk (its first listing page): measured from the walk's end, a
    /// 30 s walk every minute would look 30 s old at the next tick and be walked every other
    /// cycle only.
    pub fn start_if_due(&mut self, cfg: &Settings, scraped_at: Option<Timestamp>) {
        let catalogue_age = scraped_at.map(|s| match self.taken_walk_started {
            Some(t) => t.elapsed(),
            None => self.age(s),
        });
        let since_last = self.last_started.map(|t| t.elapsed());
        if self.task.is_some() || !due(catalogue_age, since_last, cfg.site.refresh) {
            return;
        }
        let scraper = self.scraper.clone();
        let plan = ScrapePlan {
            site: cfg.site.base_url.clone(),
            pages: cfg.site.pages,
            concurrency: cfg.site.concurrency,
            max_requests_per_sec: cfg.site.max_requests_per_sec,
            // The time between walks as it is (a `refresh` shorter than the cron's period
            // walks once a cycle), so the rotation's share is right.
            verify: Some(Verify {
                every: cfg.site.verify_every,
                cycle: self
                    .last_started
                    .map_or(cfg.site.refresh, |t| t.elapsed().max(cfg.site.refresh)),
            }),
        };
        RefreshStarted { site: &plan.site }.emit();
        self.last_started = Some(Instant::now());
        self.task = Some(tokio::spawn(async move { scraper.walk(&plan).await }));
    }

    /// The result of a scrape that has finished, if one has.
    pub async fn take_finished(&mut self) -> Option<ScrapeResult> {
        let task = self.task.take_if(|t| t.is_finished())?;
        Some(joined(task.await))
    }

    /// Waits for the running scrape until `until` (`None`: as long as it takes) or shutdown.
    /// `None` when it is still running then (it goes on in the background), or none runs.
    pub async fn wait(
        &mut self,
        until: Option<Instant>,
        shutdown: &CancellationToken,
    ) -> Option<ScrapeResult> {
        let mut task = self.task.take()?;
        let deadline = async {
            match until {
                Some(end) => tokio::time::sleep_until(end).await,
                None => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            r = &mut task => Some(r),
            _ = deadline => None,
            _ = shutdown.cancelled() => None,
        };
        match result {
            Some(r) => Some(joined(r)),
            None => {
                self.task = Some(task);
                None
            }
        }
    }

    /// Pages the scraper has had answered so far: a walk that runs on is getting on while this
    /// grows.
    pub fn pages_answered(&self) -> u64 {
        self.scraper.pages_answered()
    }

    /// Whether a scrape is running.
    pub fn running(&self) -> bool {
        self.task.is_some()
    }
}

/// Age of a catalogue scraped at `scraped_at` by the wall clock; one in the future is as old
/// as can be (stale), never fresh.
fn wall_clock_age(scraped_at: Timestamp) -> Duration {
    (chrono::Utc::now() - scraped_at)
        .to_std()
        .unwrap_or(Duration::MAX)
}

/// A panicking scrape is a bug; surface it rather than streaming on silently.
fn joined(result: Result<ScrapeResult, tokio::task::JoinError>) -> ScrapeResult {
    result.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn refresh_is_due_without_a_catalogue_and_after_the_period() {
        assert!(due(None, Some(Duration::ZERO), 10 * MIN));
        assert!(!due(Some(MIN), None, 10 * MIN));
        assert!(due(Some(11 * MIN), None, 10 * MIN));
    }

    #[test]
    fn a_catalogue_dated_in_the_future_is_stale() {
        let at = |t: &str| wall_clock_age(t.parse().unwrap());
        assert_eq!(at("2999-01-01T00:00:00Z"), Duration::MAX);
        assert!(at("2020-01-01T00:00:00Z") > 365 * 24 * 60 * MIN / 60);
    }

    #[test]
    fn a_tick_a_little_early_still_walks_every_cycle() {
        let early = MIN - Duration::from_millis(3);
        assert!(
            due(Some(early), Some(early), MIN),
            "1m refresh, 1-minute cron"
        );
        assert!(!due(Some(50 * Duration::from_secs(1)), None, MIN));
        assert!(due(
            Some(Duration::from_millis(950)),
            None,
            Duration::from_secs(1)
        ));
        assert!(!due(
            Some(Duration::from_millis(850)),
            None,
            Duration::from_secs(1)
        ));
        assert!(
            due(Some(Duration::ZERO), None, Duration::ZERO),
            "0s: every cycle"
        );
    }

    #[test]
    fn a_failed_refresh_is_retried_after_the_period_not_every_cycle() {
        assert!(!due(Some(30 * MIN), Some(MIN), 10 * MIN));
        assert!(due(Some(30 * MIN), Some(10 * MIN), 10 * MIN));
    }
}
