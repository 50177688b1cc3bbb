//! The engine: what lives between cycles (clients, the cursor, the last good catalogue, the
//! background refresh) and one scheduled cycle: take the newest catalogue, stream the next
//! records from the cursor until the slot ends, checkpoint the cursor after every acknowledged
//! record. `catalogue` takes new catalogues, `send` streams and checkpoints, `report` is what
//! a cycle did.

mod catalogue;
mod report;
mod send;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::catalogue::Snapshot;
use crate::changes::Feed;
use crate::config::{Mode, Settings};
use crate::cursor::{self, Cursor};
use crate::kinesis::producer::Producer;
use crate::kinesis::{self, Outgoing};
use crate::refresh::Refresher;
use crate::scrape::Scraper;
use crate::scrape::fetch::{FetchError, Fetcher};
use crate::state::{StateFileError, StateStore};

pub use report::CycleReport;
use report::slot_capacity;

/// Everything a cycle needs between cycles: clients, state, and the background refresh.
pub struct Engine {
    refresher: Refresher,
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

/// What a planned record stands for, so that its acknowledgement moves the right cursor.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// Catalogue mode: the book at this index of the catalogue.
    Book(usize),
    /// Changes mode: the feed's event with this sequence number.
    Event(u64),
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
            tracing::warn!(state_dir = %store.dir().display(), "{problem}");
        }
        let cursor = loaded.cursor.unwrap_or_default();
        if let Some(snap) = &loaded.catalogue {
            tracing::info!(
                books = snap.books.len(), scraped_at = %snap.scraped_at,
                sent_total = cursor.sent_total,
                "state loaded: {} books scraped at {}, {} records sent so far",
                snap.books.len(), snap.scraped_at, cursor.sent_total
            );
        }
        Ok(Self {
            refresher: Refresher::new(scraper_for(cfg)?),
            producer: producer_for(cfg).await,
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
            tracing::warn!(
                state_dir = %self.store.dir().display(),
                "[state] dir changed to {}; it applies after a restart, until then the state stays in {}",
                cfg.state.dir.display(), self.store.dir().display()
            );
        }
        self.store
            .set_dead_letter_limits(cfg.state.dead_letter_max_bytes, cfg.state.dead_letter_files);
        self.refresher.set_scraper(scraper_for(cfg)?);
        self.producer = producer_for(cfg).await;
        self.site = cfg.site.base_url.to_string();
        Ok(())
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
            tracing::error!(error = %e, "cannot save the cursor: {e}");
        }
    }

    /// Runs one cycle, sending no record due at or after `stop_by`.
    pub async fn run_cycle(
        &mut self,
        cfg: &Settings,
        stop_by: Option<Instant>,
        shutdown: &CancellationToken,
    ) -> CycleReport {
        self.cycle += 1;
        tracing::info!(cycle = self.cycle, "cycle {} started", self.cycle);
        let mut report = CycleReport {
            cycle: self.cycle,
            ..CycleReport::default()
        };
        let capacity = slot_capacity(
            cfg.stream.max_records as usize,
            cfg.stream.interval,
            stop_by.map(|t| t.saturating_duration_since(Instant::now())),
        );
        let refreshed = self.refresh_catalogue(cfg, stop_by, shutdown).await;
        let counts = std::mem::take(&mut self.scrape_counts);
        report.scrape_failures = counts.failures;
        report.product_pages_failed = counts.product_pages_failed;
        report.changes_detected = counts.changes_detected;
        // Whenever a catalogue exists: the last good one, or in changes mode the feed's
        // baseline (when catalogue.json was lost).
        report.catalogue_age = self
            .catalogue
            .as_ref()
            .or(self.feed.baseline.as_ref())
            .map(|s| self.refresher.age(&s.scraped_at));
        report.listing_age = self.refresher.listing_age();
        report.verification_age = self.refresher.verification_age();
        let planned = match cfg.stream.mode {
            Mode::Catalogue => self.plan_catalogue(cfg, refreshed, &mut report),
            Mode::Changes => self.plan_changes(cfg, refreshed, &mut report),
        };
        let Some((records, positions)) = planned else {
            // No catalogue: the whole slot goes unused.
            report.records_not_sent = capacity as u32;
            report.cycle_error = true;
            return report;
        };
        report.planned = records.len();
        report.dead_letter_file = self.store.dead_letter_path().display().to_string();
        if let Err(e) = self.resume_saving() {
            report.error = Some(e);
        } else {
            let result = self
                .send(&records, &positions, cfg, stop_by, shutdown, &mut report)
                .await;
            if let Err(e) = result {
                report.error = Some(e);
            }
        }
        let books = &self.catalogue.as_ref().map_or(&[][..], |s| &s.books);
        report.position = self.cursor.next_index(books);
        report.catalogue_len = books.len();
        report.sent_total = self.cursor.sent_total;
        report.dead_lettered_total = self.cursor.dead_lettered_total;
        if report.dead_lettered_total > 0 {
            report.dead_letter_files = self.store.dead_letter_files();
        }
        if let Some((backlog, _)) = &mut report.changes {
            *backlog = self.feed.backlog(self.cursor.acked_seq).count();
        }
        let stopped = shutdown.is_cancelled() && report.error.is_none();
        report.records_not_sent = if stopped {
            0
        } else {
            let due = records.len().min(capacity) as u32;
            due.saturating_sub(report.sent + report.dead_lettered)
        };
        report.cycle_error =
            report.error.is_some() || report.stale.is_some() || counts.save_failures > 0;
        report
    }

    /// Catalogue mode: the next `max_records` books from the cursor, wrapping around.
    fn plan_catalogue(
        &self,
        cfg: &Settings,
        refreshed: Result<(), String>,
        report: &mut CycleReport,
    ) -> Option<(Vec<Outgoing>, Vec<Position>)> {
        let Some(snapshot) = &self.catalogue else {
            report.error = Some(
                refreshed
                    .err()
                    .unwrap_or_else(|| "no catalogue yet".to_owned()),
            );
            return None;
        };
        if let Err(e) = refreshed {
            report.stale = Some(format!(
                "{e}; streaming from the catalogue of {}",
                snapshot.scraped_at
            ));
        }
        let books = &snapshot.books;
        let indices = cursor::plan(books, &self.cursor, cfg.stream.max_records as usize);
        let records = indices
            .iter()
            .map(|&i| encode(cfg, &books[i], books[i].key()))
            .collect();
        Some((records, indices.into_iter().map(Position::Book).collect()))
    }

    /// Changes mode: the next `max_records` events of the backlog, oldest first. Without a
    /// baseline of its own yet (just switched from catalogue mode), the feed starts from the
    /// last good catalogue, which the next refresh is compared with.
    fn plan_changes(
        &self,
        cfg: &Settings,
        refreshed: Result<(), String>,
        report: &mut CycleReport,
    ) -> Option<(Vec<Outgoing>, Vec<Position>)> {
        let Some(baseline) = self.feed.baseline.as_ref().or(self.catalogue.as_ref()) else {
            report.error = Some(
                refreshed
                    .err()
                    .unwrap_or_else(|| "no catalogue yet".to_owned()),
            );
            return None;
        };
        if let Err(e) = refreshed {
            report.stale = Some(format!("{e}; no changes detected from it"));
        }
        report.changes = Some((0, baseline.scraped_at.clone()));
        let backlog: Vec<_> = self
            .feed
            .backlog(self.cursor.acked_seq)
            .take(cfg.stream.max_records as usize)
            .collect();
        let records = backlog
            .iter()
            .map(|p| encode(cfg, &p.event, p.event.book.key()))
            .collect();
        Some((
            records,
            backlog.iter().map(|p| Position::Event(p.seq)).collect(),
        ))
    }
}

/// One record: `value` as compact JSON with the configured delimiter and partition key.
fn encode<T: serde::Serialize>(cfg: &Settings, value: &T, key: &str) -> Outgoing {
    let value = serde_json::to_value(value).unwrap_or_default();
    kinesis::encode(
        &value,
        cfg.stream.record_delimiter,
        &cfg.kinesis.partition_key,
        key,
    )
}

fn scraper_for(cfg: &Settings) -> Result<Scraper, FetchError> {
    Ok(Scraper::new(Fetcher::new(cfg.site.fetch.clone())?))
}

async fn producer_for(cfg: &Settings) -> Producer {
    let client = kinesis::client(
        cfg.kinesis.region.as_deref(),
        cfg.kinesis.endpoint_url.as_ref(),
    )
    .await;
    Producer::new(
        client,
        cfg.kinesis.stream_name.clone(),
        cfg.kinesis.endpoint_url.as_ref(),
        cfg.kinesis.retry,
    )
}
