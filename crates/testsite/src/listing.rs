//! Listing pages: the home page, `catalogue/page-N.html` and the category pages, which
//! differ only in heading, which books they list and how their relative links are written.

use super::generate::{Site, SiteBook, slugify};
use super::render::{
    FOOT, availability, escape, head, image_path, page_number, parse_number, stars, truncate_words,
};
use super::words::CATEGORIES;

/// Words of a title shown in a listing before it is cut with "..." (Django's
/// `truncatewords:4`, which is what the real listings use).
const LISTING_TITLE_WORDS: usize = 4;

/// Where a listing sits, which decides its heading and how its links are written.
struct Listing<'a> {
    heading: &'a str,
    /// Breadcrumb entries between "Home" and the heading: (text, href).
    crumbs: &'a [(&'a str, &'a str)],
    books: Vec<&'a SiteBook>,
    page: usize,
    per_page: usize,
    /// Relative path from this page to the site root ("", "../", "../../../").
    root: &'a str,
    /// Prefix of product links, as the real site writes them from this page.
    book_prefix: &'a str,
    /// Prefix of pager links ("catalogue/" on the home page, "" elsewhere).
    pager_prefix: &'a str,
}

impl Site {
    /// `/` and `/index.html`: page 1 with links written from the site root.
    pub(super) fn home(&self) -> Option<String> {
        self.listing(self.all_books(1, "", "catalogue/", "catalogue/", "All products"))
    }

    /// `/catalogue/page-N.html`.
    pub(super) fn catalogue_page(&self, page: usize) -> Option<String> {
        self.listing(self.all_books(page, "../", "", "", "All products"))
    }

    fn all_books<'a>(
        &'a self,
        page: usize,
        root: &'a str,
        book_prefix: &'a str,
        pager_prefix: &'a str,
        heading: &'a str,
    ) -> Listing<'a> {
        Listing {
            heading,
            crumbs: &[],
            books: self.books.iter().collect(),
            page,
            per_page: self.per_page,
            root,
            book_prefix,
            pager_prefix,
        }
    }

    /// `rest` is the path after `/catalogue/category/`.
    pub(super) fn category_page(&self, rest: &str) -> Option<String> {
        if let Some(file) = rest.strip_prefix("books_1/") {
            let page = page_number(file, true)?;
            return self.listing(self.all_books(page, "../../../", "../../", "", "Books"));
        }
        let (dir, file) = rest.strip_prefix("books/")?.split_once('/')?;
        let page = page_number(file, true)?;
        let (slug, id) = dir.rsplit_once('_')?;
        let id = parse_number(id)?;
        let (name, _) = CATEGORIES
            .iter()
            .find(|(name, cat_id)| *cat_id == id && slugify(name) == slug)?;
        self.listing(Listing {
            heading: name,
            crumbs: &[("Books", "../../books_1/index.html")],
            books: self.books.iter().filter(|b| b.category == *name).collect(),
            page,
            per_page: self.per_page,
            root: "../../../../",
            book_prefix: "../../../",
            pager_prefix: "",
        })
    }

    fn listing(&self, listing: Listing<'_>) -> Option<String> {
        let total = listing.books.len();
        let pages = total.div_ceil(listing.per_page).max(1);
        if listing.page == 0 || listing.page > pages {
            return None;
        }
        let first = (listing.page - 1) * listing.per_page;
        let shown = &listing.books[first..(first + listing.per_page).min(total)];
        let root = listing.root;
        let mut html = head(listing.heading, root);
        html.push_str("<ul class=\"breadcrumb\">\n<li>\n<a href=\"");
        html.push_str(root);
        html.push_str("index.html\">Home</a>\n</li>\n");
        for (text, href) in listing.crumbs {
            html.push_str(&format!(
                "<li>\n<a href=\"{href}\">{}</a>\n</li>\n",
                escape(text)
            ));
        }
        html.push_str(&format!(
            "<li class=\"active\">{}</li>\n</ul>\n",
            escape(listing.heading)
        ));
        html.push_str(&sidebar(root));
        html.push_str(&format!(
            "<div class=\"col-sm-8 col-md-9\">\n<div class=\"page-header action\">\n\
             <h1>{}</h1>\n</div>\n<div id=\"messages\">\n</div>\n\
             <form method=\"get\" class=\"form-horizontal\">\n",
            escape(listing.heading)
        ));
        html.push_str(&if pages > 1 {
            format!(
                "<strong>{total}</strong> results - showing <strong>{}</strong> to \
                 <strong>{}</strong>.\n",
                first + 1,
                first + shown.len()
            )
        } else {
            format!("<strong>{total}</strong> results.\n")
        });
        html.push_str(
            "</form>\n<section>\n<div class=\"alert alert-warning\" role=\"alert\">\
             <strong>Warning!</strong> This is a demo website for web scraping purposes. \
             Prices and ratings here were randomly assigned and have no real meaning.</div>\n\
             <div>\n<ol class=\"row\">\n",
        );
        let pods = self
            .quirks
            .pods(&listing.books, shown, listing.page, listing.per_page);
        for (at, book) in pods.iter().enumerate() {
            let href = self.quirks.product_href(at, book, listing.book_prefix);
            html.push_str(&product_pod(book, root, &href));
        }
        html.push_str("</ol>\n");
        if pages > 1 || self.quirks.next_loop {
            let next = if self.quirks.drops_next(listing.page) {
                Next::None
            } else if self.quirks.next_loop {
                Next::Looping
            } else {
                Next::Faithful
            };
            html.push_str(&pager(listing.page, pages, listing.pager_prefix, next));
        }
        html.push_str("</div>\n</section>\n</div>\n</div><!-- /row -->\n");
        html.push_str(FOOT);
        Some(html)
    }
}

fn sidebar(root: &str) -> String {
    let mut html = format!(
        "<div class=\"row\">\n<aside class=\"sidebar col-sm-4 col-md-3\">\n<div \
         class=\"side_categories\">\n<ul class=\"nav nav-list\">\n<li>\n<a \
         href=\"{root}catalogue/category/books_1/index.html\">\n    Books\n</a>\n<ul>\n"
    );
    for (name, id) in CATEGORIES {
        html.push_str(&format!(
            "<li>\n<a href=\"{root}catalogue/category/books/{}_{id}/index.html\">\n    {}\n</a>\n\
             </li>\n",
            slugify(name),
            escape(name)
        ));
    }
    html.push_str("</ul></li>\n</ul>\n</div>\n</aside>\n");
    html
}

fn product_pod(book: &SiteBook, root: &str, href: &str) -> String {
    let title = escape(&book.title);
    format!(
        "<li class=\"col-xs-6 col-sm-4 col-md-3 col-lg-3\">\n<article class=\"product_pod\">\n\
         <div class=\"image_container\">\n<a href=\"{href}\"><img src=\"{root}{image}\" \
         alt=\"{title}\" class=\"thumbnail\"></a>\n</div>\n{stars}\
         <h3><a href=\"{href}\" title=\"{title}\">{short}</a></h3>\n\
         <div class=\"product_price\">\n<p class=\"price_color\">{price}</p>\n{availability}\
         <form>\n<button type=\"submit\" class=\"btn btn-primary btn-block\" \
         data-loading-text=\"Adding...\">Add to basket</button>\n</form>\n</div>\n</article>\n\
         </li>\n",
        image = image_path(book),
        stars = stars(book.rating),
        short = escape(&truncate_words(&book.title, LISTING_TITLE_WORDS)),
        price = escape(&book.price),
        availability = availability(
            if book.stock > 0 {
                "In stock"
            } else {
                "Out of stock"
            },
            book.stock > 0
        ),
    )
}

/// Which "next" link a pager shows.
#[derive(Clone, Copy)]
enum Next {
    /// To the following page; none on the last.
    Faithful,
    /// As `Faithful`, and the last page links back to page 1.
    Looping,
    /// None at all.
    None,
}

/// The pager ("Page N of M" and the links around it).
fn pager(page: usize, pages: usize, prefix: &str, next: Next) -> String {
    let mut html = String::from("<div>\n<ul class=\"pager\">\n");
    if page > 1 {
        html.push_str(&format!(
            "<li class=\"previous\"><a href=\"{prefix}page-{}.html\">previous</a></li>\n",
            page - 1
        ));
    }
    html.push_str(&format!(
        "<li class=\"current\">\n    \n        Page {page} of {pages}\n    \n    </li>\n"
    ));
    let next = match next {
        Next::None => None,
        _ if page < pages => Some(page + 1),
        Next::Looping => Some(1),
        Next::Faithful => None,
    };
    if let Some(next) = next {
        html.push_str(&format!(
            "<li class=\"next\"><a href=\"{prefix}page-{next}.html\">next</a></li>\n"
        ));
    }
    html.push_str("</ul>\n</div>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::generate(1000, 20)
    }

    #[test]
    fn home_page_is_listing_one_with_catalogue_links() {
        let site = site();
        let html = site.render("/").expect("home page");
        assert_eq!(Some(&html), site.render("/index.html?utm=x").as_ref());
        assert_eq!(html.matches("<article class=\"product_pod\">").count(), 20);
        let first = &site.books()[0];
        assert!(html.contains(&format!(
            "href=\"catalogue/{}_1000/index.html\"",
            first.slug
        )));
        assert!(html.contains("Page 1 of 50"));
        assert!(html.contains("<li class=\"next\"><a href=\"catalogue/page-2.html\">next</a>"));
        assert!(!html.contains("class=\"previous\""));
        assert!(html.contains("<strong>1000</strong> results - showing <strong>1</strong>"));
    }

    #[test]
    fn catalogue_pages_link_relative_and_the_last_has_no_next() {
        let site = site();
        let page2 = site.render("/catalogue/page-2.html").expect("page 2");
        let book = &site.books()[20];
        assert!(page2.contains(&format!(
            "<a href=\"{}_{}/index.html\">",
            book.slug, book.id
        )));
        assert!(page2.contains("<li class=\"previous\"><a href=\"page-1.html\">previous</a>"));
        assert!(page2.contains("<li class=\"next\"><a href=\"page-3.html\">next</a>"));
        let last = site.render("/catalogue/page-50.html").expect("last page");
        assert!(last.contains("Page 50 of 50"));
        assert!(!last.contains("class=\"next\""));
        assert!(last.contains(&format!("{}_1/index.html", site.books()[999].slug)));
        for missing in ["page-0.html", "page-51.html", "page-01.html", "page-x.html"] {
            assert_eq!(
                site.render(&format!("/catalogue/{missing}")),
                None,
                "{missing}"
            );
        }
        let one = site.render("/catalogue/page-1.html").expect("page 1");
        assert_ne!(
            Some(one),
            site.render("/"),
            "same books, different relative links"
        );
    }

    #[test]
    fn category_pages_list_their_books() {
        let site = site();
        let all = site
            .render("/catalogue/category/books_1/index.html")
            .expect("books");
        assert!(all.contains(&format!(
            "href=\"../../{}_1000/index.html\"",
            site.books()[0].slug
        )));
        assert!(all.contains("<a href=\"page-2.html\">next</a>"));
        let poetry = site.render("/catalogue/category/books/poetry_23/index.html");
        let count = site
            .books()
            .iter()
            .filter(|b| b.category == "Poetry")
            .count();
        assert!(
            poetry
                .expect("poetry")
                .contains(&format!("<strong>{count}</strong> results"))
        );
        assert_eq!(
            site.render("/catalogue/category/books/poetry_24/index.html"),
            None
        );
    }
}
