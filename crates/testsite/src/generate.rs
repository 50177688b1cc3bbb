//! The catalogue behind the test site: a deterministic, full-size stand-in for the books on
//! books.toscrape.com.
//!
//! Everything here is pure. The same arguments always give the same books, so a failing test
//! can be rerun against exactly the catalogue it saw, and benchmarks compare like with like.
//! Randomness comes from an inline splitmix64 seeded with constants rather than a crate,
//! because a dependency upgrade must never silently change the test data.

use super::quirks::Quirks;
use super::words;

/// Seed of the base catalogue; changing it changes every generated book.
const SEED: u64 = 0x6b6f_6f62_7374_7265;
/// Seed of the changes applied between catalogue versions.
const VERSION_SEED: u64 = 0x7665_7273_696f_6e73;
/// Highest stock the real site shows ("In stock (22 available)").
const MAX_STOCK: u64 = 22;

/// One book as the test site publishes it.
///
/// Fields hold the text exactly as the pages show it (prices with "£", the UPC in lowercase
/// hex), so a test can compare what the scraper extracted with what was served without
/// re-deriving any formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteBook {
    /// Product id, the number after the last `_` in the product URL.
    pub id: u32,
    /// The slug before `_{id}` in the product URL, derived from the title like Django's.
    pub slug: String,
    /// Full title, unescaped (may contain `&`, quotes, `:` and non-ASCII characters).
    pub title: String,
    /// Price as shown, e.g. "£51.77"; excluding and including tax are the same, as on the site.
    pub price: String,
    /// Star rating 1..=5, shown as the words One..Five.
    pub rating: u8,
    /// 16 lowercase hex digits; stays the same across catalogue versions.
    pub upc: String,
    /// Units available; 0 means the product page says "Out of stock".
    pub stock: u32,
    /// Category name as shown in the breadcrumb, e.g. "Poetry".
    pub category: String,
    /// "Number of reviews" row of the product table.
    pub num_reviews: u32,
    /// "Tax" row of the product table, always "£0.00" like the real site.
    pub tax: String,
    /// Product description, unescaped; empty means the page has no description block at all,
    /// as happens for a few books on the real site.
    pub description: String,
}

/// A generated catalogue: the books in listing order plus how they are paginated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub(super) books: Vec<SiteBook>,
    pub(super) per_page: usize,
    version: u32,
    /// Serial number the next inserted book is generated from.
    next_serial: u64,
    /// Product id the next inserted book gets (ids only grow, as in a real shop).
    next_id: u32,
    /// Deliberate misbehaviour of the listing pages; none unless asked for.
    pub(super) quirks: Quirks,
}

impl Site {
    /// The base catalogue (version 0): `books` books, ids `books` down to 1 in listing order
    /// (1000..=1 for the real site's size), `per_page` books per listing page.
    ///
    /// A `per_page` of 0 is treated as 1 rather than rejected: this is test tooling and a
    /// site with one book per page is still a valid site.
    pub fn generate(books: usize, per_page: usize) -> Site {
        let count = u32::try_from(books).unwrap_or(u32::MAX);
        let list = (0..count)
            .map(|index| make_book(u64::from(index), count - index))
            .collect();
        Site {
            books: list,
            per_page: per_page.max(1),
            version: 0,
            next_serial: u64::from(count),
            next_id: count.saturating_add(1),
            quirks: Quirks::default(),
        }
    }

    /// The catalogue as it stands after `version` rounds of change, so tests can simulate
    /// the site changing between two scrapes.
    ///
    /// Each round removes a few books, puts a few new ones (with new, higher ids) at the
    /// front of the listing like a shop adding stock, changes some prices and stock levels,
    /// and retitles one book. Books that persist keep their id, slug and UPC. Version 0 is [`Site::generate`];
    /// version `v + 1` is always version `v` plus one more round.
    pub fn generate_version(books: usize, per_page: usize, version: u32) -> Site {
        Site::generate(books, per_page).with_version(version)
    }

    /// Applies change rounds until the site is at `version` (no-op if it is already there or
    /// later), see [`Site::generate_version`].
    pub fn with_version(mut self, version: u32) -> Site {
        while self.version < version {
            self.version += 1;
            self.change_round();
        }
        self
    }

    /// The books in listing order (first book of page 1 first).
    pub fn books(&self) -> &[SiteBook] {
        &self.books
    }

    /// The book with this product id, if the current version has it.
    pub fn book(&self, id: u32) -> Option<&SiteBook> {
        self.books.iter().find(|book| book.id == id)
    }

    /// Number of listing pages; at least 1, since even an empty shop shows page 1.
    pub fn page_count(&self) -> usize {
        self.books.len().div_ceil(self.per_page).max(1)
    }

    /// Books per listing page.
    pub fn per_page(&self) -> usize {
        self.per_page
    }

    /// How many change rounds this catalogue has been through (0 = base catalogue).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// One round of catalogue change; sizes scale with the catalogue so small test sites
    /// change too.
    fn change_round(&mut self) {
        let mut rng = Rng::new(mix(VERSION_SEED, u64::from(self.version)));
        let len = self.books.len();
        let removals = (len / 300).max(1).min(len);
        for _ in 0..removals {
            if self.books.is_empty() {
                break;
            }
            let at = rng.below(self.books.len() as u64) as usize;
            self.books.remove(at);
        }
        let inserts = (len / 500).max(1);
        for _ in 0..inserts {
            let book = make_book(self.next_serial, self.next_id);
            self.next_serial += 1;
            self.next_id = self.next_id.saturating_add(1);
            self.books.insert(0, book);
        }
        let changes = (len / 100).max(1);
        for _ in 0..changes {
            let at = rng.below(self.books.len() as u64) as usize;
            self.books[at].price = format_price(random_cents(&mut rng));
        }
        for _ in 0..changes {
            let at = rng.below(self.books.len() as u64) as usize;
            let book = &mut self.books[at];
            book.stock = if book.stock == 0 || rng.chance(30) {
                random_stock(&mut rng, 0)
            } else {
                0
            };
        }
        // A retitle (the shop fixes a title; the URL stays), drawn last so that the rounds'
        // other changes are the same as before it was added.
        let at = rng.below(self.books.len() as u64) as usize;
        let book = &mut self.books[at];
        book.title = format!("{} (Revised Edition)", book.title);
    }
}

/// Builds the book with creation serial `serial`; everything but the id depends on the serial
/// alone, so a book looks the same whichever catalogue size or version it appears in.
fn make_book(serial: u64, id: u32) -> SiteBook {
    let mut rng = Rng::new(mix(SEED, serial));
    // About 2% of titles repeat an earlier book's title, as a few do on the real site.
    let title = if serial > 10 && rng.chance(2) {
        let back = 1 + rng.below(serial.min(200));
        words::title(&mut Rng::new(mix(SEED ^ 1, serial - back)))
    } else {
        words::title(&mut Rng::new(mix(SEED ^ 1, serial)))
    };
    let price = format_price(random_cents(&mut rng));
    let rating = 1 + rng.below(5) as u8;
    let upc = format!("{:016x}", rng.next_u64());
    let stock = random_stock(&mut rng, 5);
    let category = words::pick(&mut rng, words::CATEGORIES).0.to_string();
    let num_reviews = if rng.chance(10) {
        1 + rng.below(12) as u32
    } else {
        0
    };
    let description = if rng.chance(1) {
        String::new()
    } else {
        words::description(&mut rng, &title)
    };
    SiteBook {
        id,
        slug: slugify(&title),
        title,
        price,
        rating,
        upc,
        stock,
        category,
        num_reviews,
        tax: "£0.00".to_string(),
        description,
    }
}

/// Price in pence within the real site's range, £10.00–£59.99.
fn random_cents(rng: &mut Rng) -> u64 {
    1000 + rng.below(5000)
}

/// Stock level, 0 with probability `zero_percent`.
fn random_stock(rng: &mut Rng, zero_percent: u64) -> u32 {
    if rng.chance(zero_percent) {
        0
    } else {
        1 + rng.below(MAX_STOCK) as u32
    }
}

fn format_price(cents: u64) -> String {
    format!("£{}.{:02}", cents / 100, cents % 100)
}

/// The star-rating class word the site uses for `rating` ("One".."Five").
pub fn rating_word(rating: u8) -> &'static str {
    match rating {
        1 => "One",
        2 => "Two",
        3 => "Three",
        4 => "Four",
        _ => "Five",
    }
}

/// Django's `slugify`: accents folded to ASCII, other non-word characters dropped, runs of
/// spaces and hyphens turned into one hyphen. The real URLs are built this way
/// ("Maude (1883-1993):She Grew Up" -> "maude-1883-1993she-grew-up").
pub fn slugify(title: &str) -> String {
    let mut kept = String::with_capacity(title.len());
    for c in title
        .chars()
        .flat_map(fold_accent)
        .flat_map(char::to_lowercase)
    {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c.is_whitespace() {
            kept.push(c);
        }
    }
    let mut slug = String::with_capacity(kept.len());
    let mut pending_dash = false;
    for c in kept.chars() {
        if c == '-' || c.is_whitespace() {
            pending_dash = true;
        } else {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c);
        }
    }
    slug.trim_matches('_').to_string()
}

/// NFKD-then-ASCII for the accented letters the word lists use; anything else non-ASCII
/// is dropped, as Django does.
fn fold_accent(c: char) -> Option<char> {
    if c.is_ascii() {
        return Some(c);
    }
    let folded = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'ç' => 'c',
        'Ç' => 'C',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'Ö' => 'O',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'Ü' => 'U',
        _ => return None,
    };
    Some(folded)
}

/// Combines a seed and a stream number into an independent seed.
fn mix(seed: u64, n: u64) -> u64 {
    Rng::new(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).next_u64()
}

/// splitmix64: tiny, fast, and good enough for test data; written inline so the data can
/// never change under a dependency upgrade.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough value in `0..n` (modulo bias is irrelevant for test data); 0 if `n` is 0.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `percent`/100.
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn same_arguments_give_the_same_site() {
        assert_eq!(Site::generate(1000, 20), Site::generate(1000, 20));
        assert_eq!(
            Site::generate_version(1000, 20, 3),
            Site::generate_version(1000, 20, 3)
        );
    }

    #[test]
    fn full_size_catalogue_has_fifty_pages_and_ids_from_1000_down() {
        let site = Site::generate(1000, 20);
        assert_eq!(site.page_count(), 50);
        let ids: Vec<u32> = site.books().iter().map(|b| b.id).collect();
        assert_eq!(ids, (1..=1000).rev().collect::<Vec<_>>());
    }

    #[test]
    fn books_look_like_the_real_catalogue() {
        let site = Site::generate(1000, 20);
        let books = site.books();
        let upcs: HashSet<&str> = books.iter().map(|b| b.upc.as_str()).collect();
        assert_eq!(upcs.len(), books.len(), "UPCs are unique");
        let out_of_stock = books.iter().filter(|b| b.stock == 0).count();
        assert!(
            (20..=90).contains(&out_of_stock),
            "~5% out of stock: {out_of_stock}"
        );
        let mut titles: HashMap<&str, usize> = HashMap::new();
        for book in books {
            *titles.entry(&book.title).or_default() += 1;
            assert_eq!(book.upc.len(), 16);
            assert!(
                book.upc
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
            assert!((1..=5).contains(&book.rating));
            let pounds: f64 = book.price.trim_start_matches('£').parse().unwrap_or(0.0);
            assert!((10.0..60.0).contains(&pounds), "price {}", book.price);
            assert!(!book.slug.is_empty() && book.slug.is_ascii());
        }
        assert!(titles.values().any(|&n| n > 1), "some titles repeat");
        for needle in ["&", "'", "\"", ":", "(", "é", "—", "’"] {
            assert!(
                books.iter().any(|b| b.title.contains(needle)),
                "some title contains {needle}"
            );
        }
        let categories: HashSet<&str> = books.iter().map(|b| b.category.as_str()).collect();
        assert!(categories.len() >= 15);
    }

    #[test]
    fn slugs_follow_django() {
        assert_eq!(
            slugify("Maude (1883-1993):She Grew Up with the country"),
            "maude-1883-1993she-grew-up-with-the-country"
        );
        assert_eq!(
            slugify("Worlds Elsewhere: Journeys Around Shakespeare’s Globe"),
            "worlds-elsewhere-journeys-around-shakespeares-globe"
        );
        assert_eq!(slugify("Café — Zürich & Co."), "cafe-zurich-co");
    }

    #[test]
    fn new_versions_change_a_little_and_keep_upcs() {
        let base = Site::generate(1000, 20);
        let next = Site::generate_version(1000, 20, 1);
        assert_eq!(next.version(), 1);
        let by_upc: HashMap<&str, &SiteBook> =
            base.books().iter().map(|b| (b.upc.as_str(), b)).collect();
        let mut kept = 0;
        let mut changed = 0;
        let mut retitled = 0;
        for book in next.books() {
            if let Some(old) = by_upc.get(book.upc.as_str()) {
                kept += 1;
                assert_eq!((old.id, &old.slug), (book.id, &book.slug));
                if old.title != book.title {
                    assert_eq!(book.title, format!("{} (Revised Edition)", old.title));
                    retitled += 1;
                }
                if old.price != book.price || old.stock != book.stock {
                    changed += 1;
                }
            } else {
                assert!(book.id > 1000, "new books get new ids");
            }
        }
        assert_eq!(kept, 997, "three books removed");
        assert_eq!(next.books().len(), 999, "two books added");
        assert!(changed >= 10, "prices or stock changed: {changed}");
        assert!(
            retitled <= 1,
            "at most one retitle per round (none if it hit a new book)"
        );
        assert!(next.books()[0].id > 1000, "new books come first");
        assert_eq!(
            Site::generate_version(1000, 20, 2),
            Site::generate_version(1000, 20, 1).with_version(2)
        );
    }

    #[test]
    fn tiny_sites_still_work() {
        let empty = Site::generate(0, 20);
        assert_eq!(empty.page_count(), 1);
        let changed = empty.with_version(2);
        assert_eq!(
            changed.books().len(),
            1,
            "one added per round, one removed from round 2"
        );
        assert_eq!(Site::generate(3, 0).page_count(), 3);
    }
}
