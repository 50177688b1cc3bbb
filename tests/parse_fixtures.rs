//! The pure HTML -> record functions on the real saved pages of books.toscrape.com (third-party
//! pages: never copied into this repository). They live in `../shared/fixtures/` beside the
//! project, or in the folder `BOOKSTREAM_FIXTURES` names, so this file is built only with
//! `--features fixture-tests` (.ci/run does); then a missing folder fails every test loudly.

use std::path::PathBuf;

use bookstream::scrape::parse::{merge, parse_listing, parse_product};
use url::Url;

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("BOOKSTREAM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    assert!(
        dir.join("toscrape").is_dir(),
        "fixtures missing at {} (set BOOKSTREAM_FIXTURES, or put the shared folder beside the project)",
        dir.display()
    );
    dir
}

fn page(rel: &str) -> String {
    let path = fixtures().join("toscrape").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const SITE: &str = "http://127.0.0.1:9/";

#[test]
fn home_page_lists_twenty_books_with_links_under_catalogue() {
    let url = Url::parse(SITE).unwrap().join("index.html").unwrap();
    let listing = parse_listing(&page("index.html"), &url).unwrap();
    assert_eq!(listing.items.len(), 20);
    let first = &listing.items[0];
    assert_eq!(first.title, "A Light in the Attic");
    assert_eq!(first.price, "£51.77");
    assert_eq!(first.star_word, "Three");
    assert_eq!(
        first.url.as_str(),
        "http://127.0.0.1:9/catalogue/a-light-in-the-attic_1000/index.html"
    );
    assert_eq!(
        listing.next.unwrap().as_str(),
        "http://127.0.0.1:9/catalogue/page-2.html"
    );
    let pager = listing.pager.expect("the real pager's \"Page 1 of 50\"");
    assert_eq!((pager.page, pager.of), (1, 50));
}

#[test]
fn full_titles_come_from_the_title_attribute_not_the_truncated_text() {
    let url = Url::parse(SITE).unwrap().join("index.html").unwrap();
    let listing = parse_listing(&page("index.html"), &url).unwrap();
    assert!(
        listing
            .items
            .iter()
            .any(|i| i.title == "Sapiens: A Brief History of Humankind")
    );
    assert!(listing.items.iter().all(|i| !i.title.ends_with("...")));
}

#[test]
fn listing_hrefs_resolve_against_the_listing_pages_own_url() {
    let url = Url::parse(SITE)
        .unwrap()
        .join("catalogue/page-2.html")
        .unwrap();
    let listing = parse_listing(&page("catalogue/page-2.html"), &url).unwrap();
    assert_eq!(listing.items.len(), 20);
    assert_eq!(
        listing.items[0].url.as_str(),
        "http://127.0.0.1:9/catalogue/in-her-wake_980/index.html"
    );
    assert_eq!(
        listing.next.unwrap().as_str(),
        "http://127.0.0.1:9/catalogue/page-3.html"
    );
}

#[test]
fn the_five_old_keys_match_the_old_pipelines_output() {
    // The old pipeline scraped pages 1..10 (200 books); page 1 is the home page's listing.
    let old: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("old_pipeline/books_data.json")).unwrap(),
    )
    .unwrap();
    let mut items = Vec::new();
    let base = Url::parse(SITE).unwrap();
    items.extend(
        parse_listing(&page("index.html"), &base.join("index.html").unwrap())
            .unwrap()
            .items,
    );
    for n in 2..=10 {
        let rel = format!("catalogue/page-{n}.html");
        items.extend(
            parse_listing(&page(&rel), &base.join(&rel).unwrap())
                .unwrap()
                .items,
        );
    }
    assert_eq!(items.len(), old.len());
    for (item, old) in items.iter().zip(&old) {
        let book = serde_json::to_value(merge(item, None, &Default::default())).unwrap();
        for key in ["title", "price", "num_reviews"] {
            assert_eq!(book[key], old[key], "{key} of {}", item.title);
        }
        assert!(["In stock", "Out of stock"].contains(&book["availability"].as_str().unwrap()));
    }
}

#[test]
fn product_page_gives_the_real_upc_stock_category_and_table_rows() {
    let d = parse_product(&page("catalogue/a-light-in-the-attic_1000/index.html")).unwrap();
    assert_eq!(d.upc.as_deref(), Some("a897fe39b1053632"));
    assert_eq!(d.category.as_deref(), Some("Poetry"));
    assert_eq!(d.product_type.as_deref(), Some("Books"));
    assert_eq!(d.availability.as_deref(), Some("In stock (22 available)"));
    assert_eq!(d.tax.as_deref(), Some("£0.00"));
    assert_eq!(d.review_count, Some(0));

    let url = Url::parse(SITE).unwrap().join("index.html").unwrap();
    let item = &parse_listing(&page("index.html"), &url).unwrap().items[0];
    let book = merge(item, Some(&d), &"2026-11-25T00:00:00Z".parse().unwrap());
    let json = serde_json::to_string(&book).unwrap();
    assert!(
        json.starts_with(
            r#"{"title":"A Light in the Attic","price":"£51.77","num_reviews":"Three","upc":"a897fe39b1053632","availability":"In stock","price_gbp":51.77,"rating":3,"stock":22,"category":"Poetry","url":"http://127.0.0.1:9/catalogue/a-light-in-the-attic_1000/index.html""#
        ),
        "{json}"
    );
    assert!(
        json.contains(r#""tax_gbp":0.0,"review_count":0,"scraped_at":"2026-11-25T00:00:00Z"}"#),
        "{json}"
    );
}

#[test]
fn browser_saved_product_pages_parse_despite_extra_blocks() {
    let cases = [
        ("sharp-objects_997", "e00eb4fd7b871a48", "Mystery"),
        ("soumission_998", "6957f44c3847a760", "Fiction"),
        (
            "tipping-the-velvet_999",
            "90fa61229261140a",
            "Historical Fiction",
        ),
    ];
    for (dir, upc, category) in cases {
        let d = parse_product(&page(&format!("browser_saved/{dir}/index.html"))).unwrap();
        assert_eq!(d.upc.as_deref(), Some(upc), "{dir}");
        assert_eq!(d.category.as_deref(), Some(category), "{dir}");
        assert_eq!(
            d.availability.as_deref(),
            Some("In stock (20 available)"),
            "{dir}"
        );
    }
}

#[test]
fn a_listing_page_is_not_a_product_page() {
    let err = parse_product(&page("catalogue/page-2.html")).unwrap_err();
    assert!(err.to_string().contains("UPC"), "{err}");
}
