//! The scrape and refresh rooms' events: a walk starting, what a walk could not take as it
//! found it (a foreign link, a loop, a duplicate, a short walk), a product page that failed
//! or is gone, and `robots.txt`. Each keeps the wording operators grep for; tests match the
//! name.

use std::fmt::Display;

use super::Event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    RefreshStarted::NAME,
    ForeignLinkSkipped::NAME,
    NextLinkLoopedBack::NAME,
    ListingWalkIncomplete::NAME,
    ListedTwice::NAME,
    ProductPageUnreadable::<String>::NAME,
    ProductPageFailed::<String>::NAME,
    ProductPageGone::NAME,
    RobotsRead::NAME,
    RobotsMissing::NAME,
    RobotsKept::<String>::NAME,
];

/// The daemon started a background walk of the site.
pub(crate) struct RefreshStarted<'a> {
    pub site: &'a url::Url,
}

impl Event for RefreshStarted<'_> {
    const NAME: &'static str = "refresh_started";

    fn emit(self) {
        tracing::info!(
            target: "bookstream::refresh",
            event = Self::NAME, site = %self.site,
            "catalogue refresh started: {}", self.site
        );
    }
}

/// A listing entry links to another origin: not followed, its book left out.
pub(crate) struct ForeignLinkSkipped<'a> {
    pub page: &'a url::Url,
    pub link: &'a url::Url,
}

impl Event for ForeignLinkSkipped<'_> {
    const NAME: &'static str = "foreign_link_skipped";

    fn emit(self) {
        let (page, link) = (self.page, self.link);
        tracing::warn!(
            target: "bookstream::scrape",
            event = Self::NAME, page = %page, link = %link,
            "listing page {page} links to {link} on another origin; not followed, book left out"
        );
    }
}

/// A "next" link back to a page already walked: the walk ends there.
pub(crate) struct NextLinkLoopedBack<'a> {
    pub page: &'a url::Url,
    pub link: &'a url::Url,
}

impl Event for NextLinkLoopedBack<'_> {
    const NAME: &'static str = "next_link_looped_back";

    fn emit(self) {
        let (page, link) = (self.page, self.link);
        tracing::warn!(
            target: "bookstream::scrape",
            event = Self::NAME, page = %page, link = %link,
            "listing page {page} links back to {link}, already walked; the walk ends there"
        );
    }
}

/// The walk ended short of the page its pager calls the last: it proves no removal.
pub(crate) struct ListingWalkIncomplete<'a> {
    pub page: &'a url::Url,
    pub listing_pages: u32,
    /// What the last page's pager said (`"Page 3 of 5"`, or that it had none).
    pub says: String,
}

impl Event for ListingWalkIncomplete<'_> {
    const NAME: &'static str = "listing_walk_incomplete";

    fn emit(self) {
        let (page, says, pages) = (self.page, self.says, self.listing_pages);
        tracing::warn!(
            target: "bookstream::scrape",
            event = Self::NAME, page = %page, listing_pages = pages,
            "listing walk incomplete: it ended at {page} ({says}) after {pages} pages; no book it did not reach counts as removed"
        );
    }
}

/// A key listed twice in one walk: the first is kept.
pub(crate) struct ListedTwice<'a> {
    pub key: &'a str,
    pub first: &'a str,
    pub dropped: &'a str,
}

impl Event for ListedTwice<'_> {
    const NAME: &'static str = "listed_twice";

    fn emit(self) {
        let (key, first, dropped) = (self.key, self.first, self.dropped);
        tracing::warn!(
            target: "bookstream::scrape",
            event = Self::NAME, key, first, dropped,
            "{key} is listed twice ({first} and {dropped}); keeping the first"
        );
    }
}

/// A product page answered but is no product page: the book keeps the listing's fields.
pub(crate) struct ProductPageUnreadable<'a, E: Display> {
    pub url: &'a url::Url,
    pub error: &'a E,
}

impl<E: Display> Event for ProductPageUnreadable<'_, E> {
    const NAME: &'static str = "product_page_unreadable";

    fn emit(self) {
        let (url, e) = (self.url, self.error);
        tracing::warn!(
            target: "bookstream::scrape",
            event = Self::NAME, url = %url, error = %e,
            "product page {url} unreadable; keeping the listing's fields: {e}"
        );
    }
}

/// A product page failed after its retries: the book keeps the listing's fields.
pub(crate) struct ProductPageFailed<'a, E: Display> {
    pub url: &'a url::Url,
    pub error: &'a E,
}

impl<E: Display> Event for ProductPageFailed<'_, E> {
    const NAME: &'static str = "product_page_failed";

    fn emit(self) {
        let (url, e) = (self.url, self.error);
        tracing::warn!(
            target: "bookstream::scrape",
            event = Self::NAME, url = %url, error = %e,
            "product page failed; keeping the listing's fields: {e}"
        );
    }
}

/// A product page answered 404 or 410: the book is gone.
pub(crate) struct ProductPageGone<'a> {
    pub url: &'a url::Url,
    pub status: reqwest::StatusCode,
}

impl Event for ProductPageGone<'_> {
    const NAME: &'static str = "product_page_gone";

    fn emit(self) {
        let (url, status) = (self.url, self.status);
        tracing::info!(
            target: "bookstream::scrape",
            event = Self::NAME, url = %url, status = status.as_u16(),
            "product page {url} answers {status}: the book is gone"
        );
    }
}

/// `robots.txt` was read (and is used for a day).
pub(crate) struct RobotsRead<'a> {
    pub url: &'a url::Url,
    pub crawl_delay_ms: Option<u64>,
}

impl Event for RobotsRead<'_> {
    const NAME: &'static str = "robots_read";

    fn emit(self) {
        let url = self.url;
        tracing::info!(
            target: "bookstream::scrape",
            event = Self::NAME, url = %url, crawl_delay_ms = self.crawl_delay_ms,
            "robots.txt read from {url}"
        );
    }
}

/// No `robots.txt` (a 4xx): every page allowed.
pub(crate) struct RobotsMissing<'a> {
    pub url: &'a url::Url,
    pub status: reqwest::StatusCode,
}

impl Event for RobotsMissing<'_> {
    const NAME: &'static str = "robots_missing";

    fn emit(self) {
        let (url, status) = (self.url, self.status);
        tracing::info!(
            target: "bookstream::scrape",
            event = Self::NAME, url = %url, status = status.as_u16(),
            "no robots.txt at {url} (HTTP {status}): every page allowed"
        );
    }
}

/// `robots.txt` could not be read again: the rules read before stay.
pub(crate) struct RobotsKept<'a, E: Display> {
    pub url: &'a url::Url,
    pub error: &'a E,
}

impl<E: Display> Event for RobotsKept<'_, E> {
    const NAME: &'static str = "robots_kept";

    fn emit(self) {
        let (url, e) = (self.url, self.error);
        tracing::warn!(
            target: "bookstream::scrape",
            event = Self::NAME, url = %url, error = %e,
            "robots.txt cannot be read again; keeping the rules read before: {e}"
        );
    }
}
