//! Where streaming stands in the catalogue, followed by UPC so that books added or removed
//! between scrapes do not make it skip or repeat. Pure: `state` persists it.

use serde::{Deserialize, Serialize};

use crate::catalogue::{Book, Timestamp};

/// How many keys before the last sent one the cursor remembers.
const TRAIL: usize = 16;

/// The streaming position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Key (UPC) of the last acknowledged book; `None` = nothing sent yet.
    pub last_key: Option<String>,
    /// That book's index in the catalogue when it was sent: where to resume if it and its
    /// whole trail disappear.
    pub last_index: usize,
    /// Keys of the books just before it in that catalogue, nearest first: when the last book
    /// is removed, the walk resumes right after the nearest of them still listed, so that
    /// books added or removed before it shift nothing.
    #[serde(default)]
    pub trail: Vec<String>,
    /// Records acknowledged since the state was created.
    pub sent_total: u64,
    /// Sequence number of the last acknowledged record.
    pub last_sequence_number: Option<String>,
    /// Records set aside in the dead-letter file since the state was created.
    #[serde(default)]
    pub dead_lettered_total: u64,
    /// Changes mode: the feed's last event acknowledged (or dead-lettered).
    #[serde(default)]
    pub acked_seq: u64,
    /// When it last moved; `None` until the first record.
    #[serde(with = "updated_at")]
    pub updated_at: Option<Timestamp>,
}

/// `updated_at` as `cursor.json` has always had it: `""` until the first record, then the time.
mod updated_at {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    use crate::catalogue::Timestamp;

    pub fn serialize<S: Serializer>(at: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => at.serialize(s),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match String::deserialize(d)?.as_str() {
            "" => Ok(None),
            at => at.parse().map(Some).map_err(|e| {
                D::Error::custom(format!("updated_at {at:?} is not an RFC 3339 time: {e}"))
            }),
        }
    }
}

impl Cursor {
    /// Index of the next book to send in `books`.
    pub fn next_index(&self, books: &[Book]) -> usize {
        if books.is_empty() {
            return 0;
        }
        match &self.last_key {
            None => 0,
            // Looked up from its last index on, so that a key listed twice never sends the
            // walk back to the earlier copy.
            Some(key) => {
                let n = books.len();
                let find = |key: &str| {
                    (0..n)
                        .map(|k| (self.last_index + k) % n)
                        .find(|&i| books[i].key() == key)
                };
                std::iter::once(key.as_str())
                    .chain(self.trail.iter().map(String::as_str))
                    .find_map(find)
                    .map_or(self.last_index % n, |i| (i + 1) % n)
            }
        }
    }

    /// Records that `books[index]` was acknowledged.
    pub fn advance(&mut self, books: &[Book], index: usize, sequence_number: &str) {
        self.move_past(books, index);
        self.sent_total += 1;
        self.last_sequence_number = Some(sequence_number.to_owned());
    }

    /// Records that `books[index]` was set aside (dead-lettered): the walk goes on after it.
    pub fn skip(&mut self, books: &[Book], index: usize) {
        self.move_past(books, index);
        self.dead_lettered_total += 1;
    }

    /// Changes mode: event `seq` of the feed was acknowledged.
    pub fn ack_event(&mut self, seq: u64, sequence_number: &str) {
        self.acked_seq = seq;
        self.sent_total += 1;
        self.last_sequence_number = Some(sequence_number.to_owned());
        self.updated_at = Some(crate::catalogue::now());
    }

    /// Changes mode: event `seq` was set aside (dead-lettered).
    pub fn skip_event(&mut self, seq: u64) {
        self.acked_seq = seq;
        self.dead_lettered_total += 1;
        self.updated_at = Some(crate::catalogue::now());
    }

    fn move_past(&mut self, books: &[Book], index: usize) {
        self.last_key = Some(books[index].key().to_owned());
        self.last_index = index;
        self.trail = books[index.saturating_sub(TRAIL)..index]
            .iter()
            .rev()
            .map(|b| b.key().to_owned())
            .collect();
        self.updated_at = Some(crate::catalogue::now());
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
        keys.iter().map(|k| Book::sample(k)).collect()
    }

    fn after(books: &[Book], i: usize) -> Cursor {
        let mut c = Cursor::default();
        c.advance(books, i, "1");
        c
    }

    #[test]
    fn cursor_json_keeps_its_text_an_empty_updated_at_before_the_first_record_then_the_time() {
        let fresh = serde_json::to_string(&Cursor::default()).unwrap();
        assert!(
            fresh.ends_with(r#""acked_seq":0,"updated_at":""}"#),
            "{fresh}"
        );
        assert_eq!(
            serde_json::from_str::<Cursor>(&fresh).unwrap(),
            Cursor::default()
        );
        let saved = r#"{"last_key":"a","last_index":0,"trail":[],"sent_total":1,"last_sequence_number":"1","dead_lettered_total":0,"acked_seq":0,"updated_at":"2026-11-25T12:05:00Z"}"#;
        let cursor: Cursor = serde_json::from_str(saved).unwrap();
        assert_eq!(serde_json::to_string(&cursor).unwrap(), saved);
        let moved = serde_json::to_value(after(&books(&["a"]), 0)).unwrap();
        let at = moved["updated_at"].as_str().unwrap();
        assert!(at.len() == 20 && at.ends_with('Z'), "{at}");
        let bad = saved.replace("2026-11-25T12:05:00Z", "noon");
        let err = serde_json::from_str::<Cursor>(&bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"updated_at "noon" is not an RFC 3339 time"#),
            "{err}"
        );
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
    fn when_the_last_sent_book_and_books_before_it_change_the_walk_resumes_after_its_nearest_predecessor()
     {
        let old = books(&["a", "b", "c", "d", "e"]);
        let c = after(&old, 2); // "c" sent, then "c" and "b" removed and "x" added in front
        let new = books(&["x", "a", "d", "e"]);
        assert_eq!(plan(&new, &c, 2), vec![2, 3]); // d, e: nothing skipped, nothing repeated
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
    fn a_key_listed_twice_never_sends_the_walk_back() {
        let b = books(&["a", "b", "c", "b", "d"]);
        let c = after(&b, 3); // the second "b" was sent
        assert_eq!(plan(&b, &c, 1), vec![4]);
    }

    /// One step of the property test's world.
    #[derive(Debug, Clone)]
    enum Step {
        /// The site now lists these keys (duplicates and any order allowed; deduped as the
        /// scraper does).
        Version(Vec<u8>),
        /// A cycle sends this many records.
        Send(usize),
        /// `kill -9` between a record's acknowledgement and its checkpoint: the last advance
        /// is lost, as if the process restarted from the saved cursor.
        Kill,
    }

    /// A listing of keys with duplicates, at least two distinct (with one book every send
    /// repeats the last, by design).
    fn listing() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(0u8..24, 2..16).prop_filter("two distinct books", |v| {
            v.iter().collect::<std::collections::HashSet<_>>().len() >= 2
        })
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            1 => listing().prop_map(Step::Version),
            4 => (1usize..12).prop_map(Step::Send),
            1 => Just(Step::Kill),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any sequence of catalogue versions (added, removed, reordered, duplicated books)
        /// and kills: while a version lasts, every window of |version| + (kills in it) sends
        /// holds every one of its books (nothing skipped), and a record is repeated right
        /// after itself at most once per kill.
        #[test]
        fn no_book_is_skipped_and_duplicates_never_exceed_kills(
            first in listing(),
            steps in proptest::collection::vec(step(), 1..40),
        ) {
            let keys = |v: &[u8]| -> Vec<String> { v.iter().map(|k| format!("k{k}")).collect() };
            let catalogue = |v: &[u8]| {
                let names = keys(v);
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                crate::scrape::dedupe(books(&refs)).0
            };
            let mut current = catalogue(&first);
            let mut cursor = Cursor::default();
            let mut before_last_advance: Option<Cursor> = None;
            // (key, version number, kills so far) per send.
            let mut sent: Vec<(String, usize, usize)> = Vec::new();
            let (mut version, mut kills) = (0usize, 0usize);
            let mut sizes = vec![current.len()];
            for step in steps {
                match step {
                    Step::Version(v) => {
                        current = catalogue(&v);
                        version += 1;
                        sizes.push(current.len());
                    }
                    Step::Send(n) => {
                        for i in plan(&current, &cursor, n) {
                            before_last_advance = Some(cursor.clone());
                            cursor.advance(&current, i, "1");
                            sent.push((current[i].key().to_owned(), version, kills));
                        }
                    }
                    Step::Kill => {
                        if let Some(saved) = before_last_advance.take() {
                            cursor = saved;
                            kills += 1;
                        }
                    }
                }
            }
            let repeats = sent.windows(2).filter(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1).count();
            proptest::prop_assert!(repeats <= kills, "{repeats} repeats, {kills} kills: {sent:?}");
            for (v, &size) in sizes.iter().enumerate() {
                let run: Vec<&(String, usize, usize)> = sent.iter().filter(|s| s.1 == v).collect();
                for start in 0..run.len() {
                    // |version| sends, widened by the kills that happened inside the window.
                    let mut end = start + size;
                    while end <= run.len() {
                        let need = start + size + (run[end - 1].2 - run[start].2);
                        if need <= end {
                            break;
                        }
                        end = need;
                    }
                    if end > run.len() {
                        break;
                    }
                    let seen: std::collections::HashSet<&str> =
                        run[start..end].iter().map(|s| s.0.as_str()).collect();
                    proptest::prop_assert_eq!(seen.len(), size, "version {} window {}..{}: {:?}", v, start, end, run);
                }
            }
        }
    }

    /// Versions that keep the order of the books they share (books added and removed, some
    /// listed twice), as a site's catalogue changes between scrapes.
    fn ordered_listing() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        (
            proptest::collection::btree_set(0u8..24, 2..16),
            proptest::collection::vec(any::<proptest::sample::Index>(), 0..3),
        )
            .prop_map(|(set, dups)| {
                let mut v: Vec<u8> = set.into_iter().collect();
                for d in dups {
                    let at = d.index(v.len());
                    v.push(v[at]); // listed again further down; the scraper keeps the first
                }
                v
            })
    }

    fn ordered_step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            1 => ordered_listing().prop_map(Step::Version),
            4 => (1usize..12).prop_map(Step::Send),
            1 => Just(Step::Kill),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Across catalogue versions that add and remove books (and list some twice), each
        /// record is the one after the last acknowledged book in the current catalogue; when
        /// that book is gone, the one after its nearest predecessor still listed. So no book
        /// is skipped or repeated, whatever changed before the cursor (an index-based cursor,
        /// or one that falls back to the old index, fails this).
        #[test]
        fn the_walk_resumes_exactly_where_it_was_across_added_and_removed_books(
            first in ordered_listing(),
            steps in proptest::collection::vec(ordered_step(), 1..40),
        ) {
            let catalogue = |v: &[u8]| {
                let names: Vec<String> = v.iter().map(|k| format!("k{k:02}")).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                crate::scrape::dedupe(books(&refs)).0
            };
            let keys = |b: &[Book]| b.iter().map(|b| b.key().to_owned()).collect::<Vec<_>>();
            let mut current = catalogue(&first);
            let mut cursor = Cursor::default();
            // What the cursor stands on: (catalogue keys when it was sent, its index there).
            type Standing = Option<(Vec<String>, usize)>;
            let mut standing: Standing = None;
            let mut before: Option<(Cursor, Standing)> = None;
            for step in steps {
                match step {
                    Step::Version(v) => current = catalogue(&v),
                    Step::Kill => {
                        if let Some((c, s)) = before.take() {
                            cursor = c;
                            standing = s;
                        }
                    }
                    Step::Send(n) => {
                        for i in plan(&current, &cursor, n) {
                            let now = keys(&current);
                            let expected = match &standing {
                                None => 0,
                                Some((old, at)) => {
                                    let after = |k: &String| now.iter().position(|x| x == k).map(|j| (j + 1) % now.len());
                                    after(&old[*at])
                                        .or_else(|| old[..*at].iter().rev().find_map(after))
                                        .unwrap_or(*at % now.len())
                                }
                            };
                            proptest::prop_assert_eq!(
                                i, expected,
                                "sent {} after {:?} in {:?}", now[i], standing, now
                            );
                            before = Some((cursor.clone(), standing.clone()));
                            cursor.advance(&current, i, "1");
                            standing = Some((now, i));
                        }
                    }
                }
            }
        }
    }
}
