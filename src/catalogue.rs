//! The record schema: the Book as it is streamed, and the catalogue snapshot it is saved in.
//!
//! Downstream Glue/Athena tables were built on the old pipeline's five keys (`title`, `price`,
//! `num_reviews`, `upc`, `availability`), so those come first with their old meaning and
//! vocabulary; the typed fields sit beside them. Field order is the struct order and is stable.

use serde::{Deserialize, Serialize};

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
    pub scraped_at: String,
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
            scraped_at: String::new(),
        }
    }
}

/// A saved catalogue: what the last good scrape returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// RFC 3339 time of the scrape.
    pub scraped_at: String,
    /// Site the books came from.
    pub site: String,
    /// Books in listing order.
    pub books: Vec<Book>,
}
