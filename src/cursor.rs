//! Where streaming stands in the catalogue, followed by UPC so that books added or removed
//! between scrapes do not make it skip or repeat; persisted after every acknowledged record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalogue::{Book, Snapshot, StateFileError, read_json, write_json_atomic};

/// The streaming position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Key (UPC) of the last acknowledged book; `None` = nothing sent yet.
    pub last_key: Option<String>,
    /// That book's index in the catalogue when it was sent: where to resume if it disappears.
    pub last_index: usize,
    /// Records acknowledged since the state was created.
    pub sent_total: u64,
    /// Sequence number of the last acknowledged record.
    pub last_sequence_number: Option<String>,
    pub updated_at: String,
}

impl Cursor {
    /// Index of the next book to send in `books`.
    pub fn next_index(&self, books: &[Book]) -> usize {
        if books.is_empty() {
            return 0;
        }
        match &self.last_key {
            None => 0,
            Some(key) => match books.iter().position(|b| b.key() == key) {
                Some(i) => (i + 1) % books.len(),
                // The book was removed: the one now at its old index is the one that followed.
                None => self.last_index % books.len(),
            },
        }
    }

    /// Records that `books[index]` was acknowledged.
    pub fn advance(&mut self, books: &[Book], index: usize, sequence_number: &str) {
        self.last_key = Some(books[index].key().to_owned());
        self.last_index = index;
        self.sent_total += 1;
        self.last_sequence_number = Some(sequence_number.to_owned());
        self.updated_at = crate::now_rfc3339();
    }
}

/// The next `max` books to send (indices), walking on from the cursor and wrapping around the
/// end of the catalogue; never more than one full pass.
pub fn plan(books: &[Book], cursor: &Cursor, max: usize) -> Vec<usize> {
    let n = books.len();
    let start = cursor.next_index(books);
    (0..max.min(n)).map(|k| (start + k) % n).collect()
}

/// The state directory: `cursor.json` and `catalogue.json`.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

/// What was found in the state directory at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub cursor: Option<Cursor>,
    pub catalogue: Option<Snapshot>,
    /// Problems that were survived (reported, then started fresh).
    pub problems: Vec<String>,
}

impl StateStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cursor_path(&self) -> PathBuf {
        self.dir.join("cursor.json")
    }

    pub fn catalogue_path(&self) -> PathBuf {
        self.dir.join("catalogue.json")
    }

    /// Creates the directory if needed.
    pub fn ensure_dir(&self) -> Result<(), StateFileError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| StateFileError::Write {
            path: self.dir.clone(),
            source,
        })
    }

    /// Loads both files. A corrupt file is moved aside (`*.corrupt`) and reported; the daemon
    /// never refuses to start because of its own state.
    pub fn load(&self) -> Loaded {
        let mut loaded = Loaded::default();
        loaded.cursor = self.load_one(&self.cursor_path(), &mut loaded.problems);
        loaded.catalogue = self.load_one(&self.catalogue_path(), &mut loaded.problems);
        loaded
    }

    fn load_one<T: serde::de::DeserializeOwned>(
        &self,
        path: &Path,
        problems: &mut Vec<String>,
    ) -> Option<T> {
        match read_json(path) {
            Ok(v) => v,
            Err(e) => {
                let aside = path.with_extension("json.corrupt");
                let moved = std::fs::rename(path, &aside).is_ok();
                problems.push(if moved {
                    format!("{e}; moved it to {} and starting fresh", aside.display())
                } else {
                    format!("{e}; starting fresh")
                });
                None
            }
        }
    }

    pub fn save_cursor(&self, cursor: &Cursor) -> Result<(), StateFileError> {
        write_json_atomic(&self.cursor_path(), cursor)
    }

    pub fn save_catalogue(&self, snapshot: &Snapshot) -> Result<(), StateFileError> {
        write_json_atomic(&self.catalogue_path(), snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books(keys: &[&str]) -> Vec<Book> {
        keys.iter()
            .map(|k| Book {
                title: k.to_string(),
                price: "£1.00".into(),
                num_reviews: "One".into(),
                upc: Some(k.to_string()),
                availability: "In stock".into(),
                price_gbp: Some(1.0),
                rating: Some(1),
                stock: Some(1),
                category: None,
                url: format!("http://x/{k}"),
                product_type: None,
                price_excl_tax_gbp: None,
                price_incl_tax_gbp: None,
                tax_gbp: None,
                review_count: None,
                scraped_at: String::new(),
            })
            .collect()
    }

    fn after(books: &[Book], i: usize) -> Cursor {
        let mut c = Cursor::default();
        c.advance(books, i, "1");
        c
    }

    #[test]
    fn a_fresh_cursor_starts_at_the_beginning() {
        let b = books(&["a", "b", "c"]);
        assert_eq!(plan(&b, &Cursor::default(), 2), vec![0, 1]);
    }

    #[test]
    fn the_walk_wraps_around_and_never_exceeds_one_pass() {
        let b = books(&["a", "b", "c", "d"]);
        assert_eq!(plan(&b, &after(&b, 2), 3), vec![3, 0, 1]);
        assert_eq!(plan(&b, &after(&b, 0), 60), vec![1, 2, 3, 0]);
    }

    #[test]
    fn cursor_follows_the_upc_when_books_are_added_before_it() {
        let old = books(&["a", "b", "c", "d"]);
        let c = after(&old, 1); // "b" sent
        let new = books(&["x", "y", "a", "b", "c", "d"]);
        assert_eq!(plan(&new, &c, 2), vec![4, 5]); // c, d
    }

    #[test]
    fn when_the_last_sent_book_is_removed_the_walk_resumes_at_its_old_place() {
        let old = books(&["a", "b", "c", "d"]);
        let c = after(&old, 1); // "b" sent, then removed
        let new = books(&["a", "c", "d"]);
        assert_eq!(plan(&new, &c, 2), vec![1, 2]); // c, d
    }

    #[test]
    fn every_book_goes_out_once_per_pass_across_cycles() {
        let b = books(&["a", "b", "c", "d", "e", "f", "g"]);
        let mut c = Cursor::default();
        let mut sent = Vec::new();
        for _ in 0..3 {
            for i in plan(&b, &c, 3) {
                c.advance(&b, i, "1");
                sent.push(i);
            }
        }
        assert_eq!(sent, vec![0, 1, 2, 3, 4, 5, 6, 0, 1]);
    }

    #[test]
    fn corrupt_state_is_moved_aside_and_reported() {
        let dir = std::env::temp_dir().join(format!("bookstream-cursor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = StateStore::new(&dir);
        std::fs::write(store.cursor_path(), b"\0garbage").unwrap();
        let loaded = store.load();
        assert!(loaded.cursor.is_none());
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
        assert!(dir.join("cursor.json.corrupt").exists());
        let saved = after(&books(&["a"]), 0);
        store.save_cursor(&saved).unwrap();
        assert_eq!(store.load().cursor, Some(saved));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
