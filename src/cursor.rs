//! Where streaming stands in the catalogue, followed by UPC so that books added or removed
//! between scrapes do not make it skip or repeat. Pure: `state` persists it.

use serde::{Deserialize, Serialize};

use crate::catalogue::Book;

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
}
