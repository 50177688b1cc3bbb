//! Hostile listings: deliberate faults in the generated pages themselves (a product link to
//! another host, a pager that loops, a book listed twice, a page without products, a
//! catalogue that shrinks), so a scraper's defences against a misbehaving site are tested
//! against real pages. Faults of the server (statuses, delays, redirects, slow bodies) are in
//! `faults`. They apply to every listing (home, catalogue, `books_1` and each category),
//! since a real redesign or bug would not spare any of them.

use super::generate::{Site, SiteBook};
use super::render::escape;

/// Which quirks a [`Site`] renders; the default renders the site faithfully.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Quirks {
    /// Absolute base URL (ending in `/`) that the first product link of a listing points into.
    foreign_links: Option<String>,
    /// The last listing page links "next" back to page 1.
    pub next_loop: bool,
    /// Page 3 repeats the first book of page 2 at its end.
    duplicate_listing: bool,
    /// Listing pages (1-based) rendered without any product.
    empty_pages: Vec<usize>,
    /// Listing pages (1-based) whose pager has no "next" link (its "Page N of M" stays).
    no_next: Vec<usize>,
}

impl Site {
    /// The first product of every listing page links (title and image) to
    /// `{base_url}catalogue/{slug}_{id}/index.html` instead of relatively, as when a shop
    /// links a partner's copy of a book: the scraper must not follow it off the site.
    /// A `/` is added to `base_url` if it has none at its end.
    pub fn with_foreign_links(mut self, base_url: &str) -> Site {
        let mut base = base_url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        self.quirks.foreign_links = Some(base);
        self
    }

    /// The last page of every listing gets a "next" link back to `page-1.html`, so a crawler
    /// that only follows "next" never stops (a single-page listing links to itself).
    pub fn with_next_loop(mut self) -> Site {
        self.quirks.next_loop = true;
        self
    }

    /// The first book of listing page 2 appears again at the end of page 3 (same title, link
    /// and product), as when a shop's ordering shifts during a crawl. Listings with fewer than
    /// three pages are unchanged.
    pub fn with_duplicate_listing(mut self) -> Site {
        self.quirks.duplicate_listing = true;
        self
    }

    /// Listing page `page` (1-based) shows no `article.product_pod` at all, as after a
    /// redesign the scraper does not know; its pager stays as it was.
    pub fn without_products_on(mut self, page: usize) -> Site {
        if !self.quirks.empty_pages.contains(&page) {
            self.quirks.empty_pages.push(page);
        }
        self
    }

    /// Listing page `page` (1-based) is rendered without its "next" link, its "Page N of M"
    /// unchanged, as when a template bug drops the link: a crawler that only follows "next"
    /// stops there, short of the end the pager announces.
    pub fn without_next_on(mut self, page: usize) -> Site {
        if !self.quirks.no_next.contains(&page) {
            self.quirks.no_next.push(page);
        }
        self
    }

    /// Only the first `books` books in listing order remain (pagination follows, the other
    /// product pages answer 404), to simulate a site that suddenly shrinks.
    pub fn truncated(mut self, books: usize) -> Site {
        self.books.truncate(books);
        self
    }
}

impl Quirks {
    /// The books listing page `page` shows: `shown` (its share of `all`), unless a quirk
    /// empties it or adds the duplicate.
    pub(super) fn pods<'a>(
        &self,
        all: &[&'a SiteBook],
        shown: &[&'a SiteBook],
        page: usize,
        per_page: usize,
    ) -> Vec<&'a SiteBook> {
        if self.empty_pages.contains(&page) {
            return Vec::new();
        }
        let mut pods = shown.to_vec();
        if self.duplicate_listing && page == 3 {
            pods.extend(all.get(per_page).copied());
        }
        pods
    }

    /// Whether listing page `page` loses its "next" link.
    pub(super) fn drops_next(&self, page: usize) -> bool {
        self.no_next.contains(&page)
    }

    /// Link of the `at`-th product (from 0) of a listing page whose own links start `prefix`.
    pub(super) fn product_href(&self, at: usize, book: &SiteBook, prefix: &str) -> String {
        let target = format!("{}_{}/index.html", book.slug, book.id);
        match &self.foreign_links {
            Some(base) if at == 0 => format!("{}catalogue/{target}", escape(base)),
            _ => format!("{prefix}{target}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(html: &str) -> usize {
        html.matches("<article class=\"product_pod\">").count()
    }

    #[test]
    fn foreign_links_replace_only_the_first_product_link() {
        let site = Site::generate(100, 20).with_foreign_links("http://127.0.0.1:9/shop");
        let html = site.render("/catalogue/page-2.html").expect("page 2");
        let [first, second] = [&site.books()[20], &site.books()[21]];
        let foreign = format!(
            "href=\"http://127.0.0.1:9/shop/catalogue/{}_{}/index.html\"",
            first.slug, first.id
        );
        assert_eq!(html.matches(&foreign).count(), 2, "image and title link");
        assert!(html.contains(&format!(
            "href=\"{}_{}/index.html\"",
            second.slug, second.id
        )));
        assert!(html.contains("<a href=\"page-3.html\">next</a>"));
        let home = site.render("/").expect("home");
        assert!(home.contains("href=\"http://127.0.0.1:9/shop/catalogue/"));
    }

    #[test]
    fn next_loop_links_the_last_page_back_to_the_first() {
        let site = Site::generate(50, 20).with_next_loop();
        let last = site.render("/catalogue/page-3.html").expect("last page");
        assert!(last.contains("<li class=\"next\"><a href=\"page-1.html\">next</a></li>"));
        assert!(last.contains("Page 3 of 3"));
        let middle = site.render("/catalogue/page-2.html").expect("page 2");
        assert!(middle.contains("<a href=\"page-3.html\">next</a>"));
        let single = Site::generate(5, 20).with_next_loop();
        let home = single.render("/").expect("home");
        assert!(home.contains("<a href=\"catalogue/page-1.html\">next</a>"));
    }

    #[test]
    fn duplicate_listing_repeats_page_twos_first_book_on_page_three() {
        let site = Site::generate(100, 20).with_duplicate_listing();
        let book = &site.books()[20];
        let link = format!("<h3><a href=\"{}_{}/index.html\"", book.slug, book.id);
        let page3 = site.render("/catalogue/page-3.html").expect("page 3");
        assert_eq!(pods(&page3), 21);
        assert!(page3.contains(&link));
        assert!(page3.contains("showing <strong>41</strong> to <strong>60</strong>"));
        let page2 = site.render("/catalogue/page-2.html").expect("page 2");
        assert_eq!((pods(&page2), page2.matches(&link).count()), (20, 1));
        let small = Site::generate(40, 20).with_duplicate_listing();
        assert_eq!(small, Site::generate(40, 20).with_duplicate_listing());
        assert_eq!(
            pods(&small.render("/catalogue/page-2.html").expect("p2")),
            20
        );
    }

    #[test]
    fn pages_without_products_keep_their_pager() {
        let site = Site::generate(100, 20).without_products_on(2);
        let page2 = site.render("/catalogue/page-2.html").expect("page 2");
        assert_eq!(pods(&page2), 0);
        assert!(page2.contains("<a href=\"page-3.html\">next</a>"));
        assert!(page2.contains("Page 2 of 5"));
        assert_eq!(pods(&site.render("/").expect("home")), 20);
    }

    #[test]
    fn a_page_without_next_keeps_its_pager_text() {
        let site = Site::generate(100, 20).without_next_on(3);
        let page3 = site.render("/catalogue/page-3.html").expect("page 3");
        assert!(page3.contains("Page 3 of 5"), "{page3}");
        assert!(!page3.contains("class=\"next\""), "{page3}");
        assert!(page3.contains("<a href=\"page-2.html\">previous</a>"));
        assert_eq!(pods(&page3), 20);
        let page2 = site.render("/catalogue/page-2.html").expect("page 2");
        assert!(page2.contains("<a href=\"page-3.html\">next</a>"));
        let page4 = site
            .render("/catalogue/page-4.html")
            .expect("page 4 is still served");
        assert!(page4.contains("<a href=\"page-5.html\">next</a>"));
    }

    #[test]
    fn truncated_sites_repaginate_and_lose_the_dropped_books() {
        let full = Site::generate(100, 20);
        let dropped = &full.books()[30];
        let site = full.clone().truncated(30);
        assert_eq!((site.books().len(), site.page_count()), (30, 2));
        assert_eq!(site.render("/catalogue/page-3.html"), None);
        let path = format!("/catalogue/{}_{}/index.html", dropped.slug, dropped.id);
        assert_eq!(site.render(&path), None);
        assert_eq!(Site::generate(10, 20).truncated(30).books().len(), 10);
    }
}
