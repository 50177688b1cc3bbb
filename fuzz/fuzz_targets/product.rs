#![no_main]
//! `parse_product` on arbitrary bytes, then `merge` of its details into every item of a
//! listing parsed from the same input: none of it may panic or hang.

use std::sync::LazyLock;

use bookstream::scrape::parse::{merge, parse_listing, parse_product};
use libfuzzer_sys::fuzz_target;
use url::Url;

static PAGE_URL: LazyLock<Url> =
    LazyLock::new(|| Url::parse("http://127.0.0.1:9/catalogue/page-2.html").unwrap());

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(details) = parse_product(&text) else {
        return;
    };
    if let Ok(listing) = parse_listing(&text, &PAGE_URL) {
        for item in &listing.items {
            let _ = merge(item, Some(&details), &Default::default());
            let _ = merge(item, None, &Default::default());
        }
    }
});
