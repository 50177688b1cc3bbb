//! The refresher's events: what the scraper knows of the site's product pages at a start.
//! Their target is `bookstream::refresh`.

use std::path::Path;

use super::events;

const TARGET: &str = "bookstream::refresh";

/// Why the saved catalogue could not seed the scraper.
pub(crate) enum NotSeeded<'a> {
    /// It holds another site's catalogue.
    OtherSite { saved_site: &'a str, site: &'a str },
    /// None was saved, or it could not be read (corrupt files are set aside).
    Missing { why: &'a str },
}

events! {
    /// The saved catalogue told the scraper which product pages it has read: the first walk
    /// after this start reads the new or changed entries and the rotation's share.
    "product_pages_seeded" => ProductPagesSeeded<'a> {
        file: &'a Path,
        /// Product pages taken as read.
        known: usize,
        books: usize,
        /// When the saved catalogue was scraped (RFC 3339).
        saved_at: &'a str,
    }
    let file = file.display();
    info!(target: TARGET, file = %file, known, books, saved_at = %saved_at,
        "product pages known from {file}: {known} of its {books} books (saved {saved_at}); the first walk reads the new or changed entries and the rotation's share, the others again within [site] verify_every");

    /// The first walk after this start reads every product page, as without a saved catalogue.
    "product_pages_not_seeded" => ProductPagesNotSeeded<'a> { file: &'a Path, why: NotSeeded<'a> }
    {
        let file = file.display();
        match why {
            NotSeeded::OtherSite { saved_site, site } => tracing::info!(
                target: TARGET, event = Self::NAME, file = %file, saved_site = %saved_site, site,
                "{file} holds the catalogue of {saved_site}, not of {site}: the first walk reads every product page"
            ),
            NotSeeded::Missing { why } => tracing::info!(
                target: TARGET, event = Self::NAME, file = %file, why = %why,
                "no product pages known from {file}: {why}; the first walk reads every product page"
            ),
        }
    }
}
