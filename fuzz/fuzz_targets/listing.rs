#![no_main]
//! `parse_listing` on arbitrary bytes: must return Ok/Err, never panic or hang.

use std::sync::LazyLock;

use bookstream::scrape::parse::parse_listing;
use libfuzzer_sys::fuzz_target;
use url::Url;

static PAGE_URL: LazyLock<Url> =
    LazyLock::new(|| Url::parse("http://127.0.0.1:9/catalogue/page-2.html").unwrap());

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        // Valid UTF-8: the raw input as text (the lossy decoding would be the same string).
        Ok(text) => {
            let _ = parse_listing(text, &PAGE_URL);
        }
        // Otherwise decode lossily, as the scraper does.
        Err(_) => {
            let _ = parse_listing(&String::from_utf8_lossy(data), &PAGE_URL);
        }
    }
});
