//! The Book record, its JSON shape, and the on-disk catalogue snapshot.
//!
//! Downstream Glue/Athena tables were built on the old pipeline's five keys (`title`, `price`,
//! `num_reviews`, `upc`, `availability`), so those come first with their old meaning and
//! vocabulary; the typed fields sit beside them. Field order is the struct order and is stable.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One book as it is streamed to Kinesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// Star word ("One".."Five") to a number.
pub fn rating_from_word(word: &str) -> Option<u8> {
    match word {
        "One" => Some(1),
        "Two" => Some(2),
        "Three" => Some(3),
        "Four" => Some(4),
        "Five" => Some(5),
        _ => None,
    }
}

/// "£51.77" (or "Â£51.77" from a mis-decoded page) to 51.77.
pub fn parse_money(text: &str) -> Option<f64> {
    let digits: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().ok()
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

/// Errors reading or writing a state file.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON of the expected shape: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads a JSON state file; `Ok(None)` when it does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateFileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StateFileError::Corrupt {
            path: path.to_owned(),
            source,
        })
}

/// Writes `value` as JSON so that a crash at any instant leaves either the old or the new file:
/// write a temporary sibling, fsync it, rename it over the target, fsync the directory.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), StateFileError> {
    use std::io::Write;
    let err = |source| StateFileError::Write {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec(value).map_err(|e| err(std::io::Error::other(e)))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(err)?;
    file.write_all(&bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parses_pound_sign_and_mojibake() {
        assert_eq!(parse_money("£51.77"), Some(51.77));
        assert_eq!(parse_money("Â£0.00"), Some(0.0));
        assert_eq!(parse_money("n/a"), None);
    }

    #[test]
    fn star_words_map_to_ratings() {
        let got: Vec<_> = ["One", "Two", "Three", "Four", "Five", "Six"]
            .iter()
            .map(|w| rating_from_word(w))
            .collect();
        assert_eq!(
            got,
            [Some(1), Some(2), Some(3), Some(4), Some(5), None].to_vec()
        );
    }

    #[test]
    fn atomic_write_round_trips_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("bookstream-cat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap.json");
        let snap = Snapshot {
            scraped_at: "2026-01-01T00:00:00Z".into(),
            site: "http://x".into(),
            books: vec![],
        };
        write_json_atomic(&path, &snap).unwrap();
        let back: Option<Snapshot> = read_json(&path).unwrap();
        assert_eq!(back, Some(snap));
        assert!(!path.with_extension("tmp").exists());
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            read_json::<Snapshot>(&path),
            Err(StateFileError::Corrupt { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
