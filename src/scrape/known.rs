//! What the scraper knows of each product page between walks (the incremental refresh's
//! memory: `rotation.rs` decides from it, purely), and the task that reads one product page.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::budget::Pace;
use super::parse::{ListingItem, ProductDetails};
use super::rotation::{self, Seen};
use super::{Counted, MAX_CACHE_ENTRIES, Product, Scraper};

impl Scraper {
    /// Reads the product page of `item` (listing position `index`) in a task of its own.
    pub(super) fn spawn_product(
        &self,
        details: &mut JoinSet<(usize, Product, Counted)>,
        index: usize,
        item: &ListingItem,
        permits: &Arc<Semaphore>,
        pace: &Arc<Pace>,
    ) {
        let this = self.clone();
        let permits = Arc::clone(permits);
        let pace = Arc::clone(pace);
        let product_url = item.url.clone();
        details.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let (d, counted) = this.product(&product_url, &pace).await;
            (index, d, counted)
        });
    }

    /// A copy of what is known of each product page (a few hundred bytes a book; once a walk).
    pub(super) fn seen_now(&self) -> HashMap<Box<str>, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How long the product page read longest ago has gone unread (`None` before any read).
    pub fn oldest_verification(&self) -> Option<std::time::Duration> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.values().map(|s| s.verified.elapsed()).max()
    }

    /// Whether the product page of `item` must be read now (new or changed entry).
    pub(super) fn is_urgent(&self, item: &ListingItem) -> bool {
        rotation::urgent(item, &self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(super) fn saw(&self, item: &ListingItem, details: &ProductDetails) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() < MAX_CACHE_ENTRIES || seen.contains_key(item.url.as_str()) {
            let s = Seen {
                item: item.clone(),
                details: details.clone(),
                verified: Instant::now(),
            };
            seen.insert(item.url.as_str().into(), s);
        }
    }

    pub(super) fn forget(&self, item: &ListingItem) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.remove(item.url.as_str());
    }
}
