//! HTML -> records, with no I/O: listing pages (their products, "next" link and pager),
//! product pages, and the merge into a [`Book`]; the values on them (money, the star word,
//! stock) are read in `values`.
//!
//! Kept pure so it is tested on the real saved pages without any server.

use std::sync::LazyLock;

use scraper::{ElementRef, Html, Selector};
use url::Url;

use crate::catalogue::{Book, Timestamp};

pub use super::values::{
    normalise_availability, parse_money, rating_from_word, star_word, stock_count,
};

/// One `article.product_pod` of a listing page.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingItem {
    pub title: String,
    pub price: String,
    pub star_word: String,
    pub availability: String,
    /// Absolute product URL, resolved against the listing page's own URL.
    pub url: Url,
}

/// A parsed listing page.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingPage {
    pub items: Vec<ListingItem>,
    /// The "next" link, absolute; `None` on the last page.
    pub next: Option<Url>,
    /// The pager's "Page N of M"; `None` when the page has none (a catalogue of one page) or
    /// it does not read as such.
    pub pager: Option<Pager>,
}

/// Where a listing page says it stands: "Page `page` of `of`" (1 <= page <= of).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pager {
    pub page: u32,
    pub of: u32,
}

impl Pager {
    /// Whether this is the last page the pager announces.
    pub fn is_last(&self) -> bool {
        self.page == self.of
    }
}

/// What a product page adds to the listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductDetails {
    /// The price the product page shows (`.product_main .price_color`, e.g. "£51.77").
    pub price: Option<String>,
    pub upc: Option<String>,
    pub product_type: Option<String>,
    pub price_excl_tax: Option<String>,
    pub price_incl_tax: Option<String>,
    pub tax: Option<String>,
    /// The Availability row, e.g. "In stock (22 available)".
    pub availability: Option<String>,
    pub review_count: Option<u32>,
    pub category: Option<String>,
}

/// Why a page could not be read as what it should be.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("{what} missing (selector `{selector}`)")]
    Missing {
        what: &'static str,
        selector: &'static str,
    },
    #[error("bad link `{href}`: {reason}")]
    BadLink { href: String, reason: String },
    #[error("{what} is {chars} characters long; at most {MAX_FIELD_CHARS} are accepted")]
    TooLong { what: &'static str, chars: usize },
    #[error("{items} products on one listing page; at most {MAX_ITEMS_PER_PAGE} are accepted")]
    TooManyItems { items: usize },
}

/// Longest text accepted in any field (titles on the real site are under 300 characters).
pub const MAX_FIELD_CHARS: usize = 2048;
/// Most products accepted on one listing page (the real site shows 20).
pub const MAX_ITEMS_PER_PAGE: usize = 200;

/// `text`, unless it is longer than [`MAX_FIELD_CHARS`].
fn bounded(what: &'static str, text: String) -> Result<String, ParseError> {
    let chars = text.chars().count();
    if chars > MAX_FIELD_CHARS {
        return Err(ParseError::TooLong { what, chars });
    }
    Ok(text)
}

fn sel(s: &'static str) -> Selector {
    // The selectors are literals in this file; a typo is a programming error caught by tests.
    Selector::parse(s).unwrap_or_else(|e| panic!("selector `{s}` is invalid: {e}"))
}

/// A CSS selector parsed once, on first use.
type Sel = LazyLock<Selector>;

static POD: Sel = LazyLock::new(|| sel("article.product_pod"));
static POD_LINK: Sel = LazyLock::new(|| sel("h3 a"));
static POD_PRICE: Sel = LazyLock::new(|| sel("p.price_color"));
static POD_STARS: Sel = LazyLock::new(|| sel("p.star-rating"));
static POD_AVAILABILITY: Sel = LazyLock::new(|| sel("p.availability"));
static NEXT: Sel = LazyLock::new(|| sel("li.next a"));
static PAGER: Sel = LazyLock::new(|| sel("ul.pager li.current"));
static PRODUCT_PRICE: Sel = LazyLock::new(|| sel(".product_main .price_color"));
static TABLE_ROW: Sel = LazyLock::new(|| sel("table.table-striped tr"));
static TH: Sel = LazyLock::new(|| sel("th"));
static TD: Sel = LazyLock::new(|| sel("td"));
static BREADCRUMB: Sel = LazyLock::new(|| sel("ul.breadcrumb li a"));

fn text_of(el: ElementRef<'_>) -> String {
    el.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn missing(what: &'static str, selector: &'static str) -> ParseError {
    ParseError::Missing { what, selector }
}

fn join(base: &Url, href: &str) -> Result<Url, ParseError> {
    base.join(href).map_err(|e| ParseError::BadLink {
        href: href.to_owned(),
        reason: e.to_string(),
    })
}

/// Parses a listing page (`/catalogue/page-N.html` or the home page).
pub fn parse_listing(html: &str, page_url: &Url) -> Result<ListingPage, ParseError> {
    let doc = Html::parse_document(html);
    let items_on_page = doc.select(&POD).count();
    if items_on_page > MAX_ITEMS_PER_PAGE {
        return Err(ParseError::TooManyItems {
            items: items_on_page,
        });
    }
    let mut items = Vec::new();
    for article in doc.select(&POD) {
        let a = article
            .select(&POD_LINK)
            .next()
            .ok_or(missing("title link", "article.product_pod h3 a"))?;
        let title = a
            .value()
            .attr("title")
            .map(str::to_owned)
            .unwrap_or_else(|| text_of(a));
        let href = a
            .value()
            .attr("href")
            .ok_or(missing("title href", "h3 a[href]"))?;
        let price = article
            .select(&POD_PRICE)
            .next()
            .map(text_of)
            .ok_or(missing("price", "p.price_color"))?;
        let star_word = article
            .select(&POD_STARS)
            .next()
            .and_then(|p| {
                p.value()
                    .classes()
                    .find(|c| rating_from_word(c).is_some())
                    .map(str::to_owned)
            })
            .ok_or(missing("star rating", "p.star-rating"))?;
        let availability = article
            .select(&POD_AVAILABILITY)
            .next()
            .map(|p| normalise_availability(&text_of(p)))
            .unwrap_or_else(|| "In stock".to_owned());
        items.push(ListingItem {
            title: bounded("title", title)?,
            price: bounded("price", price)?,
            star_word,
            availability,
            url: join(page_url, &bounded("product link", href.to_owned())?)?,
        });
    }
    let next = match doc.select(&NEXT).next() {
        Some(a) => {
            let href = a
                .value()
                .attr("href")
                .ok_or(missing("next href", "li.next a[href]"))?;
            Some(join(page_url, &bounded("next link", href.to_owned())?)?)
        }
        None => None,
    };
    let pager = doc
        .select(&PAGER)
        .next()
        .and_then(|li| parse_pager(&text_of(li)));
    Ok(ListingPage { items, next, pager })
}

/// "Page 45 of 50" (whitespace as it comes) -> 45 of 50; anything else, or a page past the
/// end, is `None`.
pub fn parse_pager(text: &str) -> Option<Pager> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let ["Page", page, "of", of] = words[..] else {
        return None;
    };
    let (page, of) = (page.parse().ok()?, of.parse().ok()?);
    (1 <= page && page <= of).then_some(Pager { page, of })
}

/// Parses a product page. Only the UPC row is required: it is the record's identity.
pub fn parse_product(html: &str) -> Result<ProductDetails, ParseError> {
    let doc = Html::parse_document(html);
    let field =
        |what, el: Option<ElementRef<'_>>| el.map(|e| bounded(what, text_of(e))).transpose();
    let mut d = ProductDetails {
        price: field("price", doc.select(&PRODUCT_PRICE).next())?,
        ..ProductDetails::default()
    };
    for row in doc.select(&TABLE_ROW) {
        let (Some(th), Some(td)) = (row.select(&TH).next(), row.select(&TD).next()) else {
            continue;
        };
        let value = field("product table cell", Some(td))?;
        match text_of(th).as_str() {
            "UPC" => d.upc = value,
            "Product Type" => d.product_type = value,
            "Price (excl. tax)" => d.price_excl_tax = value,
            "Price (incl. tax)" => d.price_incl_tax = value,
            "Tax" => d.tax = value,
            "Availability" => d.availability = value,
            "Number of reviews" => d.review_count = value.and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    if d.upc.as_deref().is_none_or(str::is_empty) {
        return Err(missing("UPC row", "table.table-striped tr th=UPC"));
    }
    d.category = field("category", doc.select(&BREADCRUMB).nth(2))?;
    Ok(d)
}

/// What a product page gives the record, in the record's own types: the part of a product
/// page the scraper keeps between walks (for each of the site's 1,000 pages), so it holds no
/// page text it would parse again, no field the record does not carry (the page's own title:
/// the listing's `title` attribute is the full one), and `Box<str>`s without spare capacity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductFields {
    /// The price the page shows, as text and in pounds, when it reads as money.
    pub price: Option<(Box<str>, f64)>,
    pub upc: Option<Box<str>>,
    /// Whether the Availability row says "In stock" (`None`: the page has no such row).
    pub in_stock: Option<bool>,
    /// Units in stock, from the Availability row.
    pub stock: Option<u32>,
    pub category: Option<Box<str>>,
    pub product_type: Option<Box<str>>,
    pub price_excl_tax_gbp: Option<f64>,
    pub price_incl_tax_gbp: Option<f64>,
    pub tax_gbp: Option<f64>,
    pub review_count: Option<u32>,
}

/// The availability word of the record ("In stock" / "Out of stock").
pub(super) fn availability_word(in_stock: bool) -> &'static str {
    if in_stock { "In stock" } else { "Out of stock" }
}

impl From<&ProductDetails> for ProductFields {
    fn from(d: &ProductDetails) -> Self {
        let boxed = |s: &Option<String>| s.as_deref().map(Box::from);
        ProductFields {
            price: d
                .price
                .as_deref()
                .and_then(|p| parse_money(p).map(|gbp| (Box::from(p), gbp))),
            upc: boxed(&d.upc),
            in_stock: d
                .availability
                .as_deref()
                .map(|a| normalise_availability(a) == "In stock"),
            stock: d.availability.as_deref().and_then(stock_count),
            category: boxed(&d.category),
            product_type: boxed(&d.product_type),
            price_excl_tax_gbp: d.price_excl_tax.as_deref().and_then(parse_money),
            price_incl_tax_gbp: d.price_incl_tax.as_deref().and_then(parse_money),
            tax_gbp: d.tax.as_deref().and_then(parse_money),
            review_count: d.review_count,
        }
    }
}

impl ProductFields {
    /// The product fields of a book read whole (`None` for one without a UPC: its product
    /// page was never read), as [`merge`] took them: merged again with the listing entry the
    /// book was made from, they give the same book. A field the product page lacked reads as
    /// the listing's here (the book cannot tell them apart), which changes nothing as long as
    /// the listing entry is the same; a changed entry has its product page read again anyway.
    pub fn of_book(book: &Book) -> Option<ProductFields> {
        let boxed = |s: &Option<String>| s.as_deref().map(Box::from);
        Some(ProductFields {
            price: book
                .price_gbp
                .map(|gbp| (Box::from(book.price.as_str()), gbp)),
            upc: Some(Box::from(book.upc.as_deref()?)),
            in_stock: Some(book.availability == "In stock"),
            stock: book.stock,
            category: boxed(&book.category),
            product_type: boxed(&book.product_type),
            price_excl_tax_gbp: book.price_excl_tax_gbp,
            price_incl_tax_gbp: book.price_incl_tax_gbp,
            tax_gbp: book.tax_gbp,
            review_count: book.review_count,
        })
    }
}

/// Builds the streamed record from the listing item and, when it could be fetched, the
/// product page. Without details the book keeps what the listing gave.
pub fn merge(item: &ListingItem, details: Option<&ProductDetails>, scraped_at: &Timestamp) -> Book {
    merge_fields(item, details.map(ProductFields::from).as_ref(), scraped_at)
}

/// [`merge`] from the product fields kept of a page.
///
/// The price the product page shows wins over the listing's: a walk reads a product page
/// after its listing entry, so when a site changes mid-walk (listing page read before the
/// change, product page after) the record stays one version of the book, its `price` agreeing
/// with its taxes, and the change is one event, not two halves over two walks. Details kept
/// from an earlier read are only used while the listing entry is unchanged since (a changed
/// entry's product page is read again at once), so they show the listing's price anyway.
pub fn merge_fields(
    item: &ListingItem,
    fields: Option<&ProductFields>,
    scraped_at: &Timestamp,
) -> Book {
    let none = ProductFields::default();
    let d = fields.unwrap_or(&none);
    let text = |s: &Option<Box<str>>| s.as_deref().map(String::from);
    let (price, price_gbp) = match &d.price {
        Some((text, gbp)) => (String::from(&**text), Some(*gbp)),
        None => (item.price.clone(), parse_money(&item.price)),
    };
    let availability = d
        .in_stock
        .map(|s| availability_word(s).to_owned())
        .unwrap_or_else(|| item.availability.clone());
    Book {
        title: item.title.clone(),
        price,
        price_gbp,
        num_reviews: item.star_word.clone(),
        upc: text(&d.upc),
        availability,
        rating: rating_from_word(&item.star_word),
        stock: d.stock,
        category: text(&d.category),
        url: item.url.to_string(),
        product_type: text(&d.product_type),
        price_excl_tax_gbp: d.price_excl_tax_gbp,
        price_incl_tax_gbp: d.price_incl_tax_gbp,
        tax_gbp: d.tax_gbp,
        review_count: d.review_count,
        scraped_at: *scraped_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A book in stock as a listing page shows it, and when it was read.
    fn listed(title: &str, price: &str, star_word: &str) -> (ListingItem, Timestamp) {
        let item = ListingItem {
            title: title.into(),
            price: price.into(),
            star_word: star_word.into(),
            availability: "In stock".into(),
            url: Url::parse("http://127.0.0.1/catalogue/a_1/index.html").unwrap(),
        };
        (item, "2026-12-03T12:00:00Z".parse().unwrap())
    }

    /// A site changed between a book's listing page and its product page: the record is the
    /// product page's version of the price, whole (its `price` agrees with its taxes).
    #[test]
    fn the_product_pages_price_wins_over_the_listings() {
        let (item, at) = listed("A", "£1.50", "Two");
        let read = ProductDetails {
            price: Some("£2.25".into()),
            price_excl_tax: Some("£2.25".into()),
            price_incl_tax: Some("£2.25".into()),
            ..ProductDetails::default()
        };
        let book = merge(&item, Some(&read), &at);
        assert_eq!(
            (book.price.as_str(), book.price_gbp, book.price_incl_tax_gbp),
            ("£2.25", Some(2.25), Some(2.25))
        );
        // Without the product page, or with a price that is not money, the listing's.
        assert_eq!(merge(&item, None, &at).price, "£1.50");
        let odd = ProductDetails {
            price: Some("call us".into()),
            ..ProductDetails::default()
        };
        let book = merge(&item, Some(&odd), &at);
        assert_eq!((book.price.as_str(), book.price_gbp), ("£1.50", Some(1.5)));
        // The page's own price is read from the product_main block.
        let html = r#"<div class="col-sm-6 product_main"><h1>A</h1>
            <p class="price_color">£2.25</p></div>
            <table class="table table-striped"><tr><th>UPC</th><td>abc</td></tr></table>"#;
        assert_eq!(parse_product(html).unwrap().price.as_deref(), Some("£2.25"));
    }

    /// What the scraper keeps of a product page, and what it takes back from a saved book,
    /// give the book the page and its listing entry gave.
    #[test]
    fn a_book_read_whole_gives_back_the_fields_it_was_made_of() {
        let (item, at) = listed("A Light in the Attic", "£51.77", "Three");
        let page = ProductDetails {
            price: Some("£51.77".into()),
            upc: Some("a897fe39b1053632".into()),
            product_type: Some("Books".into()),
            price_excl_tax: Some("£51.77".into()),
            price_incl_tax: Some("£51.77".into()),
            tax: Some("£0.00".into()),
            availability: Some("In stock (22 available)".into()),
            review_count: Some(0),
            category: Some("Poetry".into()),
        };
        let book = merge(&item, Some(&page), &at);
        assert_eq!(
            (book.stock, book.availability.as_str()),
            (Some(22), "In stock")
        );
        let kept = ProductFields::from(&page);
        assert_eq!(merge_fields(&item, Some(&kept), &at), book);
        let back = ProductFields::of_book(&book).unwrap();
        assert_eq!(merge_fields(&item, Some(&back), &at), book);
        let sold_out = ProductDetails {
            availability: Some("Out of stock".into()),
            ..page
        };
        let book = merge(&item, Some(&sold_out), &at);
        assert_eq!(
            (book.stock, book.availability.as_str()),
            (Some(0), "Out of stock")
        );
        let back = ProductFields::of_book(&book).unwrap();
        assert_eq!(merge_fields(&item, Some(&back), &at), book);
        // A book without a UPC was never read whole: nothing to take back.
        assert_eq!(ProductFields::of_book(&merge(&item, None, &at)), None);
    }

    #[test]
    fn oversized_fields_and_pages_are_errors_not_records() {
        let base = Url::parse("http://127.0.0.1/catalogue/page-1.html").unwrap();
        let pod = |title: &str| {
            format!(
                r#"<article class="product_pod"><p class="star-rating Two"></p>
                <h3><a href="x_1/index.html" title="{title}">X</a></h3>
                <p class="price_color">£1.50</p></article>"#
            )
        };
        let long = "t".repeat(MAX_FIELD_CHARS + 1);
        let err = parse_listing(&pod(&long), &base).unwrap_err();
        assert!(
            matches!(err, ParseError::TooLong { what: "title", .. }),
            "{err}"
        );
        let many = pod("ok").repeat(MAX_ITEMS_PER_PAGE + 1);
        let err = parse_listing(&many, &base).unwrap_err();
        assert!(matches!(err, ParseError::TooManyItems { .. }), "{err}");
        let product = format!(
            "<table class=\"table table-striped\"><tr><th>UPC</th><td>{long}</td></tr></table>"
        );
        assert!(matches!(
            parse_product(&product),
            Err(ParseError::TooLong { .. })
        ));
        // The page's own `<h1>` is not read (the record's title is the listing's): however
        // long, it does not make the page unreadable.
        let long_h1 = format!(
            "<div class=\"col-sm-6 product_main\"><h1>{long}</h1></div><table class=\"table table-striped\"><tr><th>UPC</th><td>abc</td></tr></table>"
        );
        assert_eq!(parse_product(&long_h1).unwrap().upc.as_deref(), Some("abc"));
    }

    #[test]
    fn product_page_without_upc_is_an_error() {
        let err = parse_product("<html><body><h1>x</h1></body></html>").unwrap_err();
        assert!(err.to_string().contains("UPC"), "{err}");
    }

    #[test]
    fn listing_without_next_link_is_the_last_page() {
        let base = Url::parse("http://127.0.0.1/catalogue/page-50.html").unwrap();
        let html = r#"<article class="product_pod"><p class="star-rating Two"></p>
            <h3><a href="x_1/index.html" title="X &amp; Y">X...</a></h3>
            <p class="price_color">£1.50</p></article>"#;
        let page = parse_listing(html, &base).unwrap();
        assert_eq!(page.next, None);
        assert_eq!(page.pager, None, "no pager at all");
        assert_eq!(page.items[0].title, "X & Y");
        assert_eq!(
            page.items[0].url.as_str(),
            "http://127.0.0.1/catalogue/x_1/index.html"
        );
    }

    #[test]
    fn the_pager_says_where_the_page_stands() {
        let base = Url::parse("http://127.0.0.1/catalogue/page-45.html").unwrap();
        let html = r#"<article class="product_pod"><p class="star-rating Two"></p>
            <h3><a href="x_1/index.html" title="X">X</a></h3><p class="price_color">£1.50</p>
            </article><ul class="pager"><li class="previous"><a href="page-44.html">previous</a></li>
            <li class="current">
                Page 45 of 50
            </li></ul>"#;
        let page = parse_listing(html, &base).unwrap();
        assert_eq!(page.pager, Some(Pager { page: 45, of: 50 }));
        assert!(!page.pager.unwrap().is_last());
        assert_eq!(page.next, None, "a page 45 of 50 without its next link");
        assert!(parse_pager("Page 50 of 50").unwrap().is_last());
        for bad in [
            "Page 51 of 50",
            "Page 0 of 3",
            "Seite 1 von 3",
            "Page x of 3",
            "Page 1 of",
        ] {
            assert_eq!(parse_pager(bad), None, "{bad}");
        }
    }
}
