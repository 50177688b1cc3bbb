//! The listing pages between walks: a 304 answers with the page as it was parsed, so the
//! scraper keeps each one (the site's 50) in a compact form: its entries' text without spare
//! capacity, the star word and availability word as the values they are, the links as text
//! (about 130 bytes of entry and 3 allocations a book, where the parse's `ListingItem` is
//! 184 and 5).

use std::sync::Arc;

use url::Url;

use super::budget::Pace;
use super::fetch::{Fetched, Validators};
use super::parse::{self, ListingItem, ListingPage, Pager, ParseError};
use super::{Counted, MAX_CACHE_ENTRIES, ScrapeError, Scraper};

/// A listing page as kept: the validators it came with and its parse, compact.
#[derive(Debug, PartialEq)]
pub(super) struct Kept {
    validators: Validators,
    items: Box<[KeptItem]>,
    next: Option<Box<str>>,
    pager: Option<Pager>,
}

/// A [`ListingItem`] as kept.
#[derive(Debug, PartialEq)]
struct KeptItem {
    title: Box<str>,
    price: Box<str>,
    /// The star word as its rating (the parser takes only "One".."Five").
    rating: u8,
    /// The availability word: the parser gives "In stock" or "Out of stock".
    in_stock: bool,
    url: Box<str>,
}

impl Kept {
    /// `None` when the page has something the compact form cannot give back as it is (never
    /// from the parser; such a page is just not kept).
    fn of(validators: Validators, page: &ListingPage) -> Option<Kept> {
        let items = page
            .items
            .iter()
            .map(|i| {
                let rating = parse::rating_from_word(&i.star_word)?;
                let in_stock = match i.availability.as_str() {
                    "In stock" => true,
                    "Out of stock" => false,
                    _ => return None,
                };
                Some(KeptItem {
                    title: i.title.as_str().into(),
                    price: i.price.as_str().into(),
                    rating,
                    in_stock,
                    url: i.url.as_str().into(),
                })
            })
            .collect::<Option<_>>()?;
        Some(Kept {
            validators,
            items,
            next: page.next.as_ref().map(|u| u.as_str().into()),
            pager: page.pager,
        })
    }

    /// The page as it was parsed. The links were `Url`s, and a URL's text parses back to
    /// the same `Url`; should one not, the page reads as having a bad link.
    fn page(&self) -> Result<ListingPage, ParseError> {
        let url = |text: &str| {
            Url::parse(text).map_err(|e| ParseError::BadLink {
                href: text.to_owned(),
                reason: e.to_string(),
            })
        };
        let items = self
            .items
            .iter()
            .map(|i| {
                Ok(ListingItem {
                    title: i.title.to_string(),
                    price: i.price.to_string(),
                    star_word: parse::star_word(i.rating).unwrap_or_default().to_owned(),
                    availability: parse::availability_word(i.in_stock).to_owned(),
                    url: url(&i.url)?,
                })
            })
            .collect::<Result<_, ParseError>>()?;
        Ok(ListingPage {
            items,
            next: self.next.as_deref().map(url).transpose()?,
            pager: self.pager,
        })
    }
}

impl Scraper {
    /// A listing page, asked with the validators it last came with; a 304 answers with the
    /// page kept, a 200 is parsed and kept.
    pub(super) async fn listing(
        &self,
        url: &Url,
        pace: &Pace,
    ) -> Result<(ListingPage, Counted), ScrapeError> {
        let mut counted = Counted {
            requests: 1,
            ..Counted::default()
        };
        let kept = self.kept_listing(url);
        let fetched = self
            .fetcher
            .get(url, kept.as_ref().map(|k| &k.validators), pace)
            .await
            .map_err(|e| ScrapeError::Listing(Box::new(e)))?;
        let unparsed = |source| ScrapeError::ListingParse {
            url: url.to_string(),
            source,
        };
        let page = match fetched {
            Fetched::NotModified => {
                counted.not_modified += 1;
                // Validators are only sent when a page is kept.
                kept.expect("304 only answers a conditional request")
                    .page()
                    .map_err(unparsed)?
            }
            Fetched::Body { bytes, validators } => {
                // The site sends no charset and its pages are UTF-8; stray bytes are replaced.
                let page = parse::parse_listing(&String::from_utf8_lossy(&bytes), url)
                    .map_err(unparsed)?;
                if !validators.is_empty() {
                    self.keep_listing(url, validators, &page);
                }
                page
            }
        };
        Ok((page, counted))
    }

    fn kept_listing(&self, url: &Url) -> Option<Arc<Kept>> {
        let kept = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        kept.get(url.as_str()).cloned()
    }

    /// Keeps a listing page, up to [`MAX_CACHE_ENTRIES`] pages (past that, new pages are
    /// fetched in full every time: slower, never unbounded).
    fn keep_listing(&self, url: &Url, validators: Validators, page: &ListingPage) {
        let Some(k) = Kept::of(validators, page) else {
            return;
        };
        let mut kept = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < MAX_CACHE_ENTRIES || kept.contains_key(url.as_str()) {
            kept.insert(url.as_str().into(), Arc::new(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_page_kept_gives_back_the_page_it_was() {
        let base = Url::parse("http://127.0.0.1/catalogue/page-2.html").unwrap();
        let html = r#"<article class="product_pod"><p class="star-rating Four"></p>
            <h3><a href="x_1/index.html" title="X &amp; Y">X...</a></h3>
            <p class="price_color">£1.50</p><p class="instock availability">In stock</p></article>
            <article class="product_pod"><p class="star-rating One"></p>
            <h3><a href="z_2/index.html" title="Z">Z</a></h3>
            <p class="price_color">£0.99</p><p class="availability">Out of stock</p></article>
            <ul class="pager"><li class="current">Page 2 of 3</li>
            <li class="next"><a href="page-3.html">next</a></li></ul>"#;
        let page = parse::parse_listing(html, &base).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[1].availability, "Out of stock");
        let validators = Validators {
            etag: Some("\"v1\"".into()),
            last_modified: None,
        };
        let kept = Kept::of(validators, &page).unwrap();
        assert_eq!(kept.page().unwrap(), page);
        let odd = ListingPage {
            items: vec![ListingItem {
                star_word: "Six".into(),
                ..page.items[0].clone()
            }],
            ..page
        };
        assert_eq!(Kept::of(Validators::default(), &odd), None, "not kept");
    }
}
