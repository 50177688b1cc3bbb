//! The catalogue walk: listing pages in order (following "next"), product pages concurrently.
//!
//! A listing page that keeps failing fails the scrape (the catalogue would be incomplete); a
//! product page that keeps failing keeps the book with what the listing gave, and a warning.

pub mod fetch;
pub mod parse;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use url::Url;

use crate::catalogue::Book;
use fetch::{FetchError, Fetched, Fetcher, Validators};
use parse::{ListingPage, ParseError, ProductDetails};

/// What to walk.
#[derive(Debug, Clone)]
pub struct ScrapePlan {
    /// Site root, e.g. `https://books.toscrape.com/`.
    pub site: Url,
    /// Stop after this many listing pages; `None` follows "next" to the end.
    pub pages: Option<u32>,
    /// Requests in flight at most.
    pub concurrency: usize,
}

/// Why a scrape produced no catalogue.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("listing page failed: {0}")]
    Listing(Box<FetchError>),
    #[error("listing page {url} is not a catalogue page: {source}")]
    ListingParse { url: String, source: ParseError },
    #[error("bad site URL {0}: cannot build /catalogue/page-1.html from it")]
    SiteUrl(String),
    #[error("listing page {url} lists no books")]
    Empty { url: String },
}

/// Counts from one scrape, for logs and benchmarks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeStats {
    pub listing_pages: u32,
    pub products: u32,
    pub requests: u32,
    pub not_modified: u32,
    pub product_failures: u32,
}

#[derive(Debug, Clone)]
enum Parsed {
    Listing(ListingPage),
    Product(ProductDetails),
}

/// The scraper. Keeps a conditional-request cache across scrapes (for the daemon's refreshes).
#[derive(Debug, Clone)]
pub struct Scraper {
    fetcher: Fetcher,
    cache: Arc<Mutex<HashMap<Url, (Validators, Parsed)>>>,
}

impl Scraper {
    pub fn new(fetcher: Fetcher) -> Self {
        Self {
            fetcher,
            cache: Arc::default(),
        }
    }

    /// Walks the catalogue and returns its books in listing order.
    pub async fn scrape(&self, plan: &ScrapePlan) -> Result<(Vec<Book>, ScrapeStats), ScrapeError> {
        let mut url = plan
            .site
            .join("catalogue/page-1.html")
            .map_err(|_| ScrapeError::SiteUrl(plan.site.to_string()))?;
        let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
        let mut stats = ScrapeStats::default();
        let mut items = Vec::new();
        let mut details: JoinSet<(usize, Option<ProductDetails>, Counted)> = JoinSet::new();
        loop {
            let (page, counted) = {
                let _permit = permits.acquire().await;
                self.listing(&url).await?
            };
            counted.add_to(&mut stats);
            stats.listing_pages += 1;
            if page.items.is_empty() {
                return Err(ScrapeError::Empty {
                    url: url.to_string(),
                });
            }
            for item in page.items {
                let index = items.len();
                let this = self.clone();
                let permits = permits.clone();
                let product_url = item.url.clone();
                details.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let (d, counted) = this.product(&product_url).await;
                    (index, d, counted)
                });
                items.push(item);
            }
            match page.next {
                Some(next) if plan.pages.is_none_or(|n| stats.listing_pages < n) => url = next,
                _ => break,
            }
        }
        let mut found: Vec<Option<ProductDetails>> = vec![None; items.len()];
        while let Some(joined) = details.join_next().await {
            // A panicking task is a bug; surface it rather than silently dropping a book.
            let (index, d, counted) =
                joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            counted.add_to(&mut stats);
            if d.is_none() {
                stats.product_failures += 1;
            }
            found[index] = d;
        }
        let now = crate::now_rfc3339();
        let books: Vec<Book> = items
            .iter()
            .zip(&found)
            .map(|(item, d)| parse::merge(item, d.as_ref(), &now))
            .collect();
        stats.products = books.len() as u32;
        Ok((books, stats))
    }

    async fn listing(&self, url: &Url) -> Result<(ListingPage, Counted), ScrapeError> {
        let mut counted = Counted::default();
        let page_url = url.clone();
        let parsed = self
            .fetch_parsed(url, &mut counted, move |html| {
                parse::parse_listing(html, &page_url).map(Parsed::Listing)
            })
            .await
            .map_err(|e| ScrapeError::Listing(Box::new(e)))?;
        match parsed {
            Ok(Parsed::Listing(page)) => Ok((page, counted)),
            Ok(Parsed::Product(_)) => unreachable!("listing parser returns listings"),
            Err(source) => Err(ScrapeError::ListingParse {
                url: url.to_string(),
                source,
            }),
        }
    }

    /// A product page's details, or `None` (with a warning) when it cannot be had.
    async fn product(&self, url: &Url) -> (Option<ProductDetails>, Counted) {
        let mut counted = Counted::default();
        let parsed = self
            .fetch_parsed(url, &mut counted, |html| {
                parse::parse_product(html).map(Parsed::Product)
            })
            .await;
        let details = match parsed {
            Ok(Ok(Parsed::Product(d))) => Some(d),
            Ok(Ok(Parsed::Listing(_))) => unreachable!("product parser returns products"),
            Ok(Err(e)) => {
                tracing::warn!(url = %url, error = %e, "product page {url} unreadable; keeping the listing's fields: {e}");
                None
            }
            Err(e) => {
                tracing::warn!(url = %url, error = %e, "product page failed; keeping the listing's fields: {e}");
                None
            }
        };
        (details, counted)
    }

    /// GET with the cached validators; a 304 returns the cached parse, a 200 is parsed and cached.
    async fn fetch_parsed(
        &self,
        url: &Url,
        counted: &mut Counted,
        parse: impl Fn(&str) -> Result<Parsed, ParseError>,
    ) -> Result<Result<Parsed, ParseError>, FetchError> {
        let cached = self.cache_get(url);
        counted.requests += 1;
        match self.fetcher.get(url, cached.as_ref().map(|c| &c.0)).await? {
            Fetched::NotModified => {
                counted.not_modified += 1;
                // Validators are only sent when a cached entry exists.
                Ok(Ok(cached
                    .map(|c| c.1)
                    .expect("304 only answers a conditional request")))
            }
            Fetched::Body { text, validators } => {
                let parsed = parse(&text);
                if let Ok(p) = &parsed
                    && (validators.etag.is_some() || validators.last_modified.is_some())
                {
                    self.cache_put(url, validators, p.clone());
                }
                Ok(parsed)
            }
        }
    }

    fn cache_get(&self, url: &Url) -> Option<(Validators, Parsed)> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(url).cloned()
    }

    fn cache_put(&self, url: &Url, validators: Validators, parsed: Parsed) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(url.clone(), (validators, parsed));
    }
}

/// Per-task request counts, summed into [`ScrapeStats`].
#[derive(Debug, Default)]
struct Counted {
    requests: u32,
    not_modified: u32,
}

impl Counted {
    fn add_to(&self, stats: &mut ScrapeStats) {
        stats.requests += self.requests;
        stats.not_modified += self.not_modified;
    }
}
