//! The engine: what lives between cycles (clients, the cursor, the last good catalogue, the
//! background refresh) and one scheduled cycle: take the newest catalogue, stream the next
//! records from the cursor until the slot ends, checkpoint the cursor after every acknowledged
//! record.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::catalogue::Snapshot;
use crate::config::Config;
use crate::cursor::{self, Cursor};
use crate::kinesis::pace::Pacer;
use crate::kinesis::producer::{Producer, RetryPolicy};
use crate::kinesis::{self, Outgoing};
use crate::refresh::{Refresher, ScrapeResult};
use crate::scrape::Scraper;
use crate::scrape::fetch::{FetchError, FetchPolicy, Fetcher};
use crate::state::{StateFileError, StateStore};

/// Everything a cycle needs between cycles: clients, state, and the background refresh.
pub struct Engine {
    refresher: Refresher,
    producer: Producer,
    store: StateStore,
    cursor: Cursor,
    catalogue: Option<Snapshot>,
    /// `[site] base_url`, recorded in snapshots.
    site: String,
    cycle: u64,
}

/// What one cycle did; the daemon turns it into the STATUS line and the summary log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleReport {
    pub cycle: u64,
    pub planned: usize,
    pub sent: u32,
    /// Index of the next book to send, and the catalogue size.
    pub position: usize,
    pub catalogue_len: usize,
    pub sent_total: u64,
    /// A refresh that failed while an older catalogue was used instead.
    pub stale: Option<String>,
    /// What stopped the cycle short: no catalogue at all, or a put that failed for good.
    pub error: Option<String>,
}

impl CycleReport {
    pub fn status_line(&self) -> String {
        let mut s = format!(
            "cycle {}: {}/{} sent, cursor {}/{}",
            self.cycle, self.sent, self.planned, self.position, self.catalogue_len
        );
        if let Some(stale) = &self.stale {
            s.push_str(&format!(", {stale}"));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(", error: {e}"));
        }
        s
    }
}

/// The engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Http(#[from] FetchError),
    #[error(transparent)]
    State(#[from] StateFileError),
}

impl Engine {
    /// Builds clients and loads the state directory. Problems with the state are reported
    /// and survived; only an unusable state directory is an error.
    pub async fn new(cfg: &Config) -> Result<Self, EngineError> {
        let store = StateStore::new(&cfg.state.dir);
        store.ensure_dir()?;
        let loaded = store.load();
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
            site: cfg.site.base_url.to_string(),
            cycle: 0,
        })
    }

    /// Applies a reloaded config (from the next cycle on): new clients, same cursor.
    pub async fn reconfigure(&mut self, cfg: &Config) -> Result<(), EngineError> {
        let store = StateStore::new(&cfg.state.dir);
        store.ensure_dir()?;
        self.refresher.set_scraper(scraper_for(cfg)?);
        self.producer = producer_for(cfg).await;
        self.store = store;
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
        cfg: &Config,
        stop_by: Option<Instant>,
        shutdown: &CancellationToken,
    ) -> CycleReport {
        self.cycle += 1;
        tracing::info!(cycle = self.cycle, "cycle {} started", self.cycle);
        let mut report = CycleReport {
            cycle: self.cycle,
            ..CycleReport::default()
        };
        let refreshed = self.refresh_catalogue(cfg, stop_by).await;
        let Some(snapshot) = &self.catalogue else {
            report.error = Some(
                refreshed
                    .err()
                    .unwrap_or_else(|| "no catalogue yet".to_owned()),
            );
            return report;
        };
        if let Err(e) = refreshed {
            report.stale = Some(format!(
                "{e}; streaming from the catalogue of {}",
                snapshot.scraped_at
            ));
        }
        let books = &snapshot.books;
        let indices = cursor::plan(books, &self.cursor, cfg.stream.max_records as usize);
        let records: Vec<Outgoing> = indices
            .iter()
            .map(|&i| {
                let value = serde_json::to_value(&books[i]).unwrap_or_default();
                kinesis::encode(
                    &value,
                    cfg.stream.record_delimiter,
                    &cfg.kinesis.partition_key,
                    books[i].key(),
                )
            })
            .collect();
        report.planned = records.len();
        let (store, cursor) = (&self.store, &mut self.cursor);
        let pacer = Pacer::new(Instant::now(), cfg.stream.interval);
        let result = self
            .producer
            .send_paced(&records, pacer, stop_by, shutdown, |k, ack| {
                cursor.advance(books, indices[k], &ack.sequence_number);
                if let Err(e) = store.save_cursor(cursor) {
                    tracing::error!(error = %e, "cannot save the cursor; a restart may resend records: {e}");
                }
            })
            .await;
        match result {
            Ok(sent) => report.sent = sent,
            Err((sent, e)) => {
                report.sent = sent;
                report.error = Some(e.to_string());
            }
        }
        report.position = self.cursor.next_index(books);
        report.catalogue_len = books.len();
        report.sent_total = self.cursor.sent_total;
        report
    }

    /// Takes a finished background scrape, starts a new one when the catalogue is older than
    /// `[site] refresh`, and waits for it (until `stop_by`) only when there is no catalogue or
    /// no slot (`once`).
    async fn refresh_catalogue(
        &mut self,
        cfg: &Config,
        stop_by: Option<Instant>,
    ) -> Result<(), String> {
        let mut outcome = Ok(());
        if let Some(result) = self.refresher.take_finished().await {
            outcome = self.accept(result);
        }
        self.start_refresh_if_due(cfg);
        if (self.catalogue.is_none() || stop_by.is_none()) && self.refresher.running() {
            outcome = match self.refresher.wait(stop_by).await {
                Some(result) => self.accept(result),
                None => Err("first scrape still running at the end of the slot".to_owned()),
            };
        }
        outcome
    }

    /// Starts a background scrape when the catalogue is older than `[site] refresh` (or
    /// missing) and none is running. The daemon calls it at start so the first tick has data.
    pub fn start_refresh_if_due(&mut self, cfg: &Config) {
        let scraped_at = self.catalogue.as_ref().map(|s| s.scraped_at.as_str());
        self.refresher.start_if_due(cfg, scraped_at);
    }

    /// Takes a finished scrape: a new catalogue is saved and used; a failure is reported and
    /// the last good catalogue kept.
    fn accept(&mut self, result: ScrapeResult) -> Result<(), String> {
        match result {
            Ok((books, stats)) => {
                tracing::info!(
                    books = books.len(),
                    listing_pages = stats.listing_pages,
                    requests = stats.requests,
                    not_modified = stats.not_modified,
                    product_failures = stats.product_failures,
                    "catalogue refreshed: {} books from {} listing pages ({} requests, {} not modified, {} product pages failed)",
                    books.len(),
                    stats.listing_pages,
                    stats.requests,
                    stats.not_modified,
                    stats.product_failures
                );
                let snapshot = Snapshot {
                    scraped_at: crate::now_rfc3339(),
                    site: self.site.clone(),
                    books,
                };
                if let Err(e) = self.store.save_catalogue(&snapshot) {
                    tracing::error!(error = %e, "cannot save the catalogue snapshot: {e}");
                }
                self.catalogue = Some(snapshot);
                Ok(())
            }
            Err(e) => {
                match &self.catalogue {
                    Some(s) => tracing::warn!(
                        error = %e, scraped_at = %s.scraped_at,
                        "scrape failed; streaming from the last good catalogue (of {}): {e}", s.scraped_at
                    ),
                    None => {
                        tracing::error!(error = %e, "scrape failed and there is no earlier catalogue: {e}")
                    }
                }
                Err(format!("scrape failed: {e}"))
            }
        }
    }
}

fn scraper_for(cfg: &Config) -> Result<Scraper, FetchError> {
    Ok(Scraper::new(Fetcher::new(FetchPolicy {
        request_timeout: cfg.site.request_timeout,
        user_agent: cfg.site.user_agent.clone(),
        attempts: cfg.site.attempts,
        max_body_bytes: cfg.site.max_page_bytes,
        ..FetchPolicy::default()
    })?))
}

async fn producer_for(cfg: &Config) -> Producer {
    let client = kinesis::client(
        cfg.kinesis.region.as_deref(),
        cfg.kinesis.endpoint_url.as_ref(),
    )
    .await;
    Producer::new(
        client,
        cfg.kinesis.stream_name.clone(),
        cfg.kinesis.endpoint_url.as_ref(),
        RetryPolicy::default(),
    )
}
