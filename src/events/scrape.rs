//! The scrape and refresh rooms' events: a walk starting, what a walk could not take as it
//! found it (a foreign link, a loop, a duplicate, a short walk), a product page that failed
//! or is gone, and `robots.txt`. Each keeps the wording operators grep for; tests match the
//! name.

use std::fmt::Display;

use reqwest::StatusCode;
use url::Url;

use super::events;

const TARGET: &str = "bookstream::scrape";

events! {
    /// The daemon started a background walk of the site.
    "refresh_started" => RefreshStarted<'a> { site: &'a Url }
    info!(target: "bookstream::refresh", %site, "catalogue refresh started: {site}");

    /// A listing entry links to another origin: not followed, its book left out.
    "foreign_link_skipped" => ForeignLinkSkipped<'a> { page: &'a Url, link: &'a Url }
    warn!(target: TARGET, %page, %link,
        "listing page {page} links to {link} on another origin; not followed, book left out");

    /// A "next" link back to a page already walked: the walk ends there.
    "next_link_looped_back" => NextLinkLoopedBack<'a> { page: &'a Url, link: &'a Url }
    warn!(target: TARGET, %page, %link,
        "listing page {page} links back to {link}, already walked; the walk ends there");

    /// The walk ended short of the page its pager calls the last: it proves no removal.
    "listing_walk_incomplete" => ListingWalkIncomplete<'a> {
        page: &'a Url,
        listing_pages: u32,
        /// What the last page's pager said (`"Page 3 of 5"`, or that it had none).
        says: String,
    }
    warn!(target: TARGET, %page, listing_pages,
        "listing walk incomplete: it ended at {page} ({says}) after {listing_pages} pages; no book it did not reach counts as removed");

    /// A key listed twice in one walk: the first is kept.
    "listed_twice" => ListedTwice<'a> { key: &'a str, first: &'a str, dropped: &'a str }
    warn!(target: TARGET, key, first, dropped,
        "{key} is listed twice ({first} and {dropped}); keeping the first");

    /// A product page answered but is no product page: the book keeps the listing's fields.
    "product_page_unreadable" => ProductPageUnreadable<'a> { url: &'a Url, error: &'a dyn Display }
    warn!(target: TARGET, %url, %error,
        "product page {url} unreadable; keeping the listing's fields: {error}");

    /// A product page failed after its retries: the book keeps the listing's fields.
    "product_page_failed" => ProductPageFailed<'a> { url: &'a Url, error: &'a dyn Display }
    warn!(target: TARGET, %url, %error,
        "product page failed; keeping the listing's fields: {error}");

    /// A product page answered 404 or 410: the book is gone.
    "product_page_gone" => ProductPageGone<'a> { url: &'a Url, status: StatusCode }
    info!(target: TARGET, %url, status = status.as_u16(),
        "product page {url} answers {status}: the book is gone");

    /// `robots.txt` was read (and is used for a day).
    "robots_read" => RobotsRead<'a> { url: &'a Url, crawl_delay_ms: Option<u64> }
    info!(target: TARGET, %url, crawl_delay_ms, "robots.txt read from {url}");

    /// No `robots.txt` (a 4xx): every page allowed.
    "robots_missing" => RobotsMissing<'a> { url: &'a Url, status: StatusCode }
    info!(target: TARGET, %url, status = status.as_u16(),
        "no robots.txt at {url} (HTTP {status}): every page allowed");

    /// `robots.txt` could not be read again: the rules read before stay.
    "robots_kept" => RobotsKept<'a> { url: &'a Url, error: &'a dyn Display }
    warn!(target: TARGET, %url, %error,
        "robots.txt cannot be read again; keeping the rules read before: {error}");
}
