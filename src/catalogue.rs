//! The record schema: the Book as it is streamed, and the catalogue snapshot it is saved in.
//!
//! Downstream Glue/Athena tables were built on the old pipeline's five keys (`title`, `price`,
//! `num_reviews`, `upc`, `availability`), so those come first with their old meaning and
//! vocabulary; the typed fields sit beside them. Field order is the struct order and is stable.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

/// A moment as the records and the state files carry it: UTC, whole seconds. serde writes it
/// as RFC 3339 with a `Z` ("2026-11-25T12:05:00Z"), the text these files have always had, and
/// reads any RFC 3339 time back.
pub type Timestamp = DateTime<Utc>;

/// Now, to the second: chrono's serde writes a fraction when there is one, and the records'
/// times have never had one (the tables downstream and `bookstream schema` expect this text).
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(0)
}

/// A time as the files write it, for log lines and STATUS ("2026-11-25T12:05:00Z").
pub fn rfc3339(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// One book as it is streamed to Kinesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Book {
    /// Full title, from the listing's `title` attribute (the link text is truncated).
    pub title: String,
    /// Price exactly as shown, e.g. "£51.77".
    pub price: String,
    /// The star word "One".."Five" (the old pipeline's name for the rating).
    pub num_reviews: String,
    /// The real UPC from the product page; `None` only when the product page could not be fetched.
    pub upc: Option<String>,
    /// "In stock" or "Out of stock", exactly.
    pub availability: String,
    /// `price` as a number of pounds.
    pub price_gbp: Option<f64>,
    /// Star rating 1..=5.
    pub rating: Option<u8>,
    /// Units in stock, from "In stock (22 available)"; 0 when out of stock.
    pub stock: Option<u32>,
    /// Category from the breadcrumb, e.g. "Poetry".
    pub category: Option<String>,
    /// Absolute product page URL.
    pub url: String,
    /// "Product Type" row, e.g. "Books".
    pub product_type: Option<String>,
    /// "Price (excl. tax)" in pounds.
    pub price_excl_tax_gbp: Option<f64>,
    /// "Price (incl. tax)" in pounds.
    pub price_incl_tax_gbp: Option<f64>,
    /// "Tax" in pounds.
    pub tax_gbp: Option<f64>,
    /// "Number of reviews" (a count, unlike the old `num_reviews`).
    pub review_count: Option<u32>,
    /// RFC 3339 UTC time the product page was read.
    pub scraped_at: Timestamp,
}

impl Book {
    /// The identity the cursor follows: the UPC, or the URL when the UPC is unknown.
    pub fn key(&self) -> &str {
        self.upc.as_deref().unwrap_or(&self.url)
    }
}

#[cfg(test)]
impl Book {
    /// A book for unit tests: `upc` as its key and title, £1.00, one star, one in stock, its
    /// URL under http://x/.
    pub(crate) fn sample(upc: &str) -> Book {
        Book {
            title: upc.to_owned(),
            price: "£1.00".into(),
            num_reviews: "One".into(),
            upc: Some(upc.to_owned()),
            availability: "In stock".into(),
            price_gbp: Some(1.0),
            rating: Some(1),
            stock: Some(1),
            category: None,
            url: format!("http://x/{upc}"),
            product_type: None,
            price_excl_tax_gbp: None,
            price_incl_tax_gbp: None,
            tax_gbp: None,
            review_count: None,
            scraped_at: Timestamp::default(),
        }
    }
}

/// A saved catalogue: what the last good scrape returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the scrape was taken.
    pub scraped_at: Timestamp,
    /// Site the books came from.
    pub site: String,
    /// Books in listing order.
    pub books: Vec<Book>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_they_always_were_rfc3339_utc_whole_seconds_with_z() {
        let at: Timestamp = "2026-11-25T12:05:00Z".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&at).unwrap(),
            r#""2026-11-25T12:05:00Z""#
        );
        assert_eq!(rfc3339(&at), "2026-11-25T12:05:00Z");
        let mut book = Book::sample("a");
        book.scraped_at = at;
        assert!(
            serde_json::to_string(&book)
                .unwrap()
                .ends_with(r#""review_count":null,"scraped_at":"2026-11-25T12:05:00Z"}"#)
        );
        // What humantime wrote before: now, to the second, never a fraction.
        let now = serde_json::to_string(&now()).unwrap();
        assert_eq!(now.len(), r#""2026-11-25T12:05:00Z""#.len(), "{now}");
        assert!(now.ends_with(r#"Z""#) && !now.contains('.'), "{now}");
    }

    #[test]
    fn a_snapshot_saved_before_reads_back_and_writes_the_same_text() {
        let saved = r#"{"scraped_at":"2026-01-01T00:00:00Z","site":"http://x/","books":[]}"#;
        let snap: Snapshot = serde_json::from_str(saved).unwrap();
        assert_eq!(serde_json::to_string(&snap).unwrap(), saved);
    }
}
