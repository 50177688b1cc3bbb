//! The scrape and refresh rooms' events: a walk starting, what a walk could not take as it
//! found it (a foreign link, a loop, a duplicate, a short walk), a product page that failed
//! or is gone, and `robots.txt`. Each keeps the wording operators grep for; tests match the
//! name.

use std::fmt::Display;

use reqwest::StatusCode;
use url::Url;

#[cfg(test)]
use super::Event;
use super::event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    RefreshStarted::NAME,
    ForeignLinkSkipped::NAME,
    NextLinkLoopedBack::NAME,
    ListingWalkIncomplete::NAME,
    ListedTwice::NAME,
    ProductPageUnreadable::NAME,
    ProductPageFailed::NAME,
    ProductPageGone::NAME,
    RobotsRead::NAME,
    RobotsMissing::NAME,
    RobotsKept::NAME,
];

const TARGET: &str = "bookstream::scrape";

event! {
    /// The daemon started a background walk of the site.
    pub(crate) struct RefreshStarted<'a> { pub site: &'a Url }
    const NAME = "refresh_started";
    info!(target: "bookstream::refresh", %site, "catalogue refresh started: {site}");
}

event! {
    /// A listing entry links to another origin: not followed, its book left out.
    pub(crate) struct ForeignLinkSkipped<'a> { pub page: &'a Url, pub link: &'a Url }
    const NAME = "foreign_link_skipped";
    warn!(target: TARGET, %page, %link,
        "listing page {page} links to {link} on another origin; not followed, book left out");
}

event! {
    /// A "next" link back to a page already walked: the walk ends there.
    pub(crate) struct NextLinkLoopedBack<'a> { pub page: &'a Url, pub link: &'a Url }
    const NAME = "next_link_looped_back";
    warn!(target: TARGET, %page, %link,
        "listing page {page} links back to {link}, already walked; the walk ends there");
}

event! {
    /// The walk ended short of the page its pager calls the last: it proves no removal.
    pub(crate) struct ListingWalkIncomplete<'a> {
        pub page: &'a Url,
        pub listing_pages: u32,
        /// What the last page's pager said (`"Page 3 of 5"`, or that it had none).
        pub says: String,
    }
    const NAME = "listing_walk_incomplete";
    warn!(target: TARGET, %page, listing_pages,
        "listing walk incomplete: it ended at {page} ({says}) after {listing_pages} pages; no book it did not reach counts as removed");
}

event! {
    /// A key listed twice in one walk: the first is kept.
    pub(crate) struct ListedTwice<'a> { pub key: &'a str, pub first: &'a str, pub dropped: &'a str }
    const NAME = "listed_twice";
    warn!(target: TARGET, key, first, dropped,
        "{key} is listed twice ({first} and {dropped}); keeping the first");
}

event! {
    /// A product page answered but is no product page: the book keeps the listing's fields.
    pub(crate) struct ProductPageUnreadable<'a> { pub url: &'a Url, pub error: &'a dyn Display }
    const NAME = "product_page_unreadable";
    warn!(target: TARGET, %url, %error,
        "product page {url} unreadable; keeping the listing's fields: {error}");
}

event! {
    /// A product page failed after its retries: the book keeps the listing's fields.
    pub(crate) struct ProductPageFailed<'a> { pub url: &'a Url, pub error: &'a dyn Display }
    const NAME = "product_page_failed";
    warn!(target: TARGET, %url, %error,
        "product page failed; keeping the listing's fields: {error}");
}

event! {
    /// A product page answered 404 or 410: the book is gone.
    pub(crate) struct ProductPageGone<'a> { pub url: &'a Url, pub status: StatusCode }
    const NAME = "product_page_gone";
    info!(target: TARGET, %url, status = status.as_u16(),
        "product page {url} answers {status}: the book is gone");
}

event! {
    /// `robots.txt` was read (and is used for a day).
    pub(crate) struct RobotsRead<'a> { pub url: &'a Url, pub crawl_delay_ms: Option<u64> }
    const NAME = "robots_read";
    info!(target: TARGET, %url, crawl_delay_ms, "robots.txt read from {url}");
}

event! {
    /// No `robots.txt` (a 4xx): every page allowed.
    pub(crate) struct RobotsMissing<'a> { pub url: &'a Url, pub status: StatusCode }
    const NAME = "robots_missing";
    info!(target: TARGET, %url, status = status.as_u16(),
        "no robots.txt at {url} (HTTP {status}): every page allowed");
}

event! {
    /// `robots.txt` could not be read again: the rules read before stay.
    pub(crate) struct RobotsKept<'a> { pub url: &'a Url, pub error: &'a dyn Display }
    const NAME = "robots_kept";
    warn!(target: TARGET, %url, %error,
        "robots.txt cannot be read again; keeping the rules read before: {error}");
}
