//! HTML of the test site: request path -> page, with the tag and class structure of
//! books.toscrape.com (a django-oscar shop) so a scraper that works here works there.
//!
//! The pages keep what a scraper may look at (breadcrumb, listing pods, pager, product table,
//! relative links exactly as the real site writes them) and drop what it never should (scripts,
//! most of the head). Pure: rendering the same site and path always gives the same bytes,
//! which is what makes the server's ETags stable. This file routes and holds the pieces every
//! page shares; `listing` and `product` hold the two kinds of page.

use super::generate::{Rng, Site, SiteBook, rating_word};
use super::product::product_page;

impl Site {
    /// The page at `path` (query string and fragment ignored), or `None` for a path the real
    /// site would answer with 404, including product pages of books this version removed.
    ///
    /// Served paths: `/`, `/index.html`, `/catalogue/page-N.html`,
    /// `/catalogue/{slug}_{id}/index.html`, `/catalogue/category/books_1/{index,page-N}.html`
    /// and `/catalogue/category/books/{category}_{id}/{index,page-N}.html`.
    pub fn render(&self, path: &str) -> Option<String> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if path == "/" || path == "/index.html" {
            return self.home();
        }
        let rest = path.strip_prefix("/catalogue/")?;
        if let Some(page) = page_number(rest, false) {
            return self.catalogue_page(page);
        }
        if let Some(category) = rest.strip_prefix("category/") {
            return self.category_page(category);
        }
        let (dir, file) = rest.split_once('/')?;
        if file != "index.html" && !file.is_empty() {
            return None;
        }
        let (slug, id) = dir.rsplit_once('_')?;
        let book = self.book(parse_number(id)?)?;
        (book.slug == slug).then(|| product_page(book))
    }
}

/// `index.html` (page 1, only where `index_ok`) or `page-N.html`; strict, so `page-01.html`
/// is a 404 as on a static server.
pub(super) fn page_number(file: &str, index_ok: bool) -> Option<usize> {
    if index_ok && file == "index.html" {
        return Some(1);
    }
    let n = file.strip_prefix("page-")?.strip_suffix(".html")?;
    usize::try_from(parse_number(n)?).ok()
}

/// Decimal digits without sign or leading zero.
pub(super) fn parse_number(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

pub(super) fn head(title: &str, root: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-us\" class=\"no-js\">\n<head>\n<title>\n    {} | Books \
         to Scrape - Sandbox\n</title>\n<meta http-equiv=\"content-type\" content=\"text/html; \
         charset=UTF-8\" />\n<meta name=\"robots\" content=\"NOARCHIVE,NOCACHE\" />\n\
         <link rel=\"stylesheet\" type=\"text/css\" href=\"{root}static/oscar/css/styles.css\" \
         />\n</head>\n<body id=\"default\" class=\"default\">\n<header class=\"header \
         container-fluid\">\n<div class=\"page_inner\">\n<div class=\"row\">\n<div \
         class=\"col-sm-8 h1\"><a href=\"{root}index.html\">Books to Scrape</a><small> We love \
         being scraped!</small>\n</div>\n</div>\n</div>\n</header>\n<div class=\"container-fluid \
         page\">\n<div class=\"page_inner\">\n",
        escape(title)
    )
}

pub(super) const FOOT: &str = "</div><!-- /page_inner -->\n</div><!-- /container-fluid -->\n\
<footer class=\"footer container-fluid\">\n</footer>\n</body>\n</html>\n";

/// The availability paragraph. Out-of-stock books get django-oscar's own markup
/// (`outofstock availability`, `icon-remove`), which the real site never shows but a
/// scraper must still survive.
pub(super) fn availability(text: &str, in_stock: bool) -> String {
    let (class, icon) = if in_stock {
        ("instock", "icon-ok")
    } else {
        ("outofstock", "icon-remove")
    };
    format!(
        "<p class=\"{class} availability\">\n    <i class=\"{icon}\"></i>\n    \n        \
         {text}\n    \n</p>\n"
    )
}

pub(super) fn stars(rating: u8) -> String {
    format!(
        "<p class=\"star-rating {}\">\n{}</p>\n",
        rating_word(rating),
        "    <i class=\"icon-star\"></i>\n".repeat(5)
    )
}

/// Cover image path below the site root; the site never serves it (the real covers are
/// third-party files), but the URL has the real shape.
pub(super) fn image_path(book: &SiteBook) -> String {
    let seed = book.upc.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = Rng::new(seed);
    let hash = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    format!("media/cache/{}/{}/{hash}.jpg", &hash[..2], &hash[2..4])
}

/// Django's `truncatewords`: the first `words` words and " ..." if any were cut.
pub fn truncate_words(text: &str, words: usize) -> String {
    let all: Vec<&str> = text.split_whitespace().collect();
    if all.len() <= words {
        all.join(" ")
    } else {
        format!("{} ...", all[..words].join(" "))
    }
}

/// Django's HTML escaping (`&`, `<`, `>`, `"`, and `'` as `&#39;`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_escaped_and_truncated_like_django() {
        assert_eq!(
            escape(r#"Tom & "Jerry's" <3"#),
            "Tom &amp; &quot;Jerry&#39;s&quot; &lt;3"
        );
        assert_eq!(
            truncate_words("A Light in the Attic", 4),
            "A Light in the ..."
        );
        assert_eq!(
            truncate_words("Sapiens: A Brief History", 4),
            "Sapiens: A Brief History"
        );
        let site = Site::generate(1000, 20);
        let book = site
            .books()
            .iter()
            .find(|b| b.title.contains('&'))
            .expect("a title with &");
        let page = site
            .books()
            .iter()
            .position(|b| b.id == book.id)
            .unwrap_or(0)
            / 20
            + 1;
        let html = site
            .render(&format!("/catalogue/page-{page}.html"))
            .expect("listing");
        assert!(html.contains(&format!("title=\"{}\"", escape(&book.title))));
        assert!(!html.contains(&format!("title=\"{}\"", book.title)));
    }
}
