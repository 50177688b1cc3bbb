//! The engine: what lives between cycles (clients, the cursor, the last good catalogue, the
//! background refresh) and one scheduled cycle: take the newest catalogue, stream the next
//! records from the cursor until the slot ends, checkpoint the cursor after every acknowledged
//! record. `catalogue` takes new catalogues, `send` streams and checkpoints, `report` is what
//! a cycle did.

mod catalogue;
mod plan;
mod report;
mod send;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aws::Aws;
use crate::catalogue::Snapshot;
use crate::changes::Feed;
use crate::config::Settings;
use crate::cursor::Cursor;
use crate::events::Event;
use crate::events::engine::{
    CursorNotSaved, CycleStarted, StateDirKept, StateLoaded, StateProblem,
};
use crate::kinesis::Stream;
use crate::kinesis::producer::Producer;
use crate::refresh::Refresher;
use crate::scrape::Scraper;
use crate::scrape::fetch::{FetchError, Fetcher};
use crate::state::{StateFileError, StateStore};

use plan::NoCatalogue;
use report::slot_capacity;
pub use report::{Changes, CycleReport, Freshness};
use send::SendSummary;

/// Everything a cycle needs between cycles: clients, state, and the background refresh.
pub struct Engine {
    refresher: Refresher,
    /// The AWS chain loaded for `[kinesis] region`: Kinesis's client here and the CloudWatch
    /// metrics' ([`Engine::aws`]) are built from it.
    aws: Aws,
    producer: Producer,
    store: StateStore,
    cursor: Cursor,
    catalogue: Option<Snapshot>,
    /// Changes mode: the baseline and the events not yet acknowledged.
    feed: Feed,
    /// `[site] base_url`, recorded in snapshots.
    site: String,
    cycle: u64,
    scrape_counts: ScrapeCounts,
    /// Why the last cursor save failed. Sending waits until a save works again, so that a
    /// restart never resends more than the record in flight.
    save_failed: Option<String>,
}

/// Scrape figures gathered between cycles, for the next report.
#[derive(Debug, Clone, Default)]
struct ScrapeCounts {
    failures: u32,
    product_pages_failed: u32,
    changes_detected: u32,
    /// New catalogues that could not be saved to `catalogue.json`.
    save_failures: u32,
}

/// The engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Http(#[from] FetchError),
    #[error(transparent)]
    State(#[from] StateFileError),
}

impl EngineError {
    /// The exit status for `main`: sysexits' EX_IOERR (74) for a state directory that cannot
    /// be read (systemd does not restart on it: restarting cannot fix it, and must not start
    /// from book 0), EX_DATAERR (65) for a corrupt `feed.json` in changes mode (nor on this:
    /// the operator chooses), EX_TEMPFAIL (75) when another process holds it, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::State(StateFileError::Locked { .. }) => 75,
            EngineError::State(StateFileError::FeedCorrupt { .. }) => 65,
            EngineError::State(_) => 74,
            EngineError::Http(_) => 1,
        }
    }
}

impl Engine {
    /// Builds clients and loads the state directory. Problems with the state are reported
    /// and survived; only an unusable state directory is an error.
    pub async fn new(cfg: &Settings) -> Result<Self, EngineError> {
        let mut store = StateStore::open(&cfg.state.dir)?;
        store.set_dead_letter_limits(cfg.state.dead_letter_max_bytes, cfg.state.dead_letter_files);
        let loaded = store.load(cfg.stream.mode)?;
        for problem in &loaded.problems {
            StateProblem {
                state_dir: store.dir(),
                problem,
            }
            .emit();
        }
        let cursor = loaded.cursor.clone().unwrap_or_default();
        // After the state directory is locked: a second process on it is told so before
        // anything asks the network or the instance metadata.
        let aws = Aws::load(cfg.kinesis.region.as_deref()).await;
        if let Some(snap) = &loaded.catalogue {
            StateLoaded {
                books: snap.books.len(),
                scraped_at: snap.scraped_at,
                sent_total: cursor.sent_total,
            }
            .emit();
        }
        Ok(Self {
            refresher: Refresher::seeded(
                scraper_for(cfg)?,
                store.seed(&loaded, cfg.stream.mode),
                cfg,
            ),
            producer: producer_for(cfg, &aws),
            aws,
            store,
            cursor,
            catalogue: loaded.catalogue,
            feed: loaded.feed.unwrap_or_default(),
            site: cfg.site.base_url.to_string(),
            cycle: 0,
            scrape_counts: ScrapeCounts::default(),
            save_failed: None,
        })
    }

    /// Applies a reloaded config (from the next cycle on): new clients, same cursor. The
    /// state directory stays the one this process locked; a new `[state] dir` needs a restart.
    pub async fn reconfigure(&mut self, cfg: &Settings) -> Result<(), EngineError> {
        if cfg.state.dir != self.store.dir() {
            StateDirKept {
                state_dir: self.store.dir(),
                configured: &cfg.state.dir,
            }
            .emit();
        }
        self.store
            .set_dead_letter_limits(cfg.state.dead_letter_max_bytes, cfg.state.dead_letter_files);
        self.refresher.set_scraper(scraper_for(cfg)?);
        let region = cfg.kinesis.region.as_deref();
        if !self.aws.serves(region) {
            self.aws = Aws::load(region).await;
        }
        self.producer = producer_for(cfg, &self.aws);
        self.site = cfg.site.base_url.to_string();
        Ok(())
    }

    /// The AWS chain the engine's Kinesis client is built from.
    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// Cycles run since start.
    pub fn cycles_run(&self) -> u64 {
        self.cycle
    }

    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Saves the cursor (it is also saved after every record; this is the final flush).
    pub fn checkpoint(&self) {
        if let Err(e) = self.store.save_cursor(&self.cursor) {
            CursorNotSaved {
                state_dir: self.store.dir(),
                error: &e,
                message: &format!("cannot save the cursor: {e}"),
            }
            .emit();
        }
    }

    /// Runs one cycle, sending no record due at or after `stop_by`: refresh, plan, send, and
    /// the report built from what each step returned.
    pub async fn run_cycle(
        &mut self,
        cfg: &Settings,
        stop_by: Option<Instant>,
        shutdown: &CancellationToken,
    ) -> CycleReport {
        self.cycle += 1;
        CycleStarted { cycle: self.cycle }.emit();
        let capacity = slot_capacity(
            cfg.stream.max_records as usize,
            cfg.stream.interval,
            stop_by.map(|t| t.saturating_duration_since(Instant::now())),
        );
        let (refreshed, first_walk) = self
            .refresh_catalogue(cfg, stop_by, shutdown)
            .await
            .into_parts();
        let scrape = std::mem::take(&mut self.scrape_counts);
        let freshness = self.freshness();
        let plan = match self.plan(cfg, refreshed) {
            Ok(plan) => plan,
            // Starting: nothing to send until the first walk ends, and nothing wrong.
            Err(NoCatalogue(_)) if first_walk.is_some() => {
                return CycleReport {
                    cycle: self.cycle,
                    first_walk,
                    freshness,
                    ..CycleReport::default()
                };
            }
            // No catalogue: the whole slot goes unused.
            Err(NoCatalogue(why)) => {
                return CycleReport {
                    cycle: self.cycle,
                    error: Some(why),
                    records_not_sent: capacity as u32,
                    cycle_error: true,
                    scrape_failures: scrape.failures,
                    product_pages_failed: scrape.product_pages_failed,
                    changes_detected: scrape.changes_detected,
                    freshness,
                    ..CycleReport::default()
                };
            }
        };
        let summary = match self.resume_saving() {
            Ok(()) => self.send(&plan.items, cfg, stop_by, shutdown).await,
            Err(paused) => SendSummary::paused(paused),
        };
        let books = self.catalogue.as_ref().map_or(&[][..], |s| &s.books);
        let dead_lettered_total = self.cursor.dead_lettered_total;
        // A clean stop leaves nothing "not sent": the rest of the slot was not the daemon's.
        let stopped = shutdown.is_cancelled() && summary.error.is_none();
        let due = plan.items.len().min(capacity) as u32;
        CycleReport {
            cycle: self.cycle,
            planned: plan.items.len(),
            sent: summary.sent,
            position: self.cursor.next_index(books),
            catalogue_len: books.len(),
            sent_total: self.cursor.sent_total,
            dead_lettered: summary.dead_lettered,
            dead_lettered_total,
            dead_letter_file: self.store.dead_letter_path().display().to_string(),
            dead_letter_files: if dead_lettered_total > 0 {
                self.store.dead_letter_files()
            } else {
                0
            },
            changes: plan.changes_since.map(|since| Changes {
                backlog: self.feed.backlog(self.cursor.acked_seq).count(),
                since,
            }),
            records_not_sent: if stopped {
                0
            } else {
                due.saturating_sub(summary.sent + summary.dead_lettered)
            },
            cycle_error: summary.error.is_some()
                || plan.stale.is_some()
                || scrape.save_failures > 0,
            stale: plan.stale,
            error: summary.error,
            send: summary.stats,
            unsent_after_failure: summary.unsent_after_failure,
            scrape_failures: scrape.failures,
            product_pages_failed: scrape.product_pages_failed,
            changes_detected: scrape.changes_detected,
            freshness,
            first_walk: None,
        }
    }

    /// How fresh the catalogue is, after this cycle's refresh: whenever a catalogue exists
    /// (the last good one, or in changes mode the feed's baseline when catalogue.json was
    /// lost), its age; since the last walk; the longest a product page has gone unread.
    fn freshness(&self) -> Freshness {
        Freshness {
            catalogue_age: self
                .catalogue
                .as_ref()
                .or(self.feed.baseline.as_ref())
                .map(|s| self.refresher.age(s.scraped_at)),
            listing_age: self.refresher.listing_age(),
            verification_age: self.refresher.verification_age(),
        }
    }
}

fn scraper_for(cfg: &Settings) -> Result<Scraper, FetchError> {
    Ok(Scraper::new(Fetcher::new(cfg.site.fetch.clone())?))
}

fn producer_for(cfg: &Settings, aws: &Aws) -> Producer {
    let endpoint = cfg.kinesis.endpoint_url.as_ref();
    let stream = Stream::new(
        aws.kinesis(endpoint),
        cfg.kinesis.stream_name.clone(),
        endpoint,
    );
    Producer::new(stream, cfg.kinesis.retry)
}
