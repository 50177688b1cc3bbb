//! What the scraper keeps between walks (the conditional-request cache and the record of each
//! product page read), measured in heap bytes with a counting allocator: a walk of the
//! project's 1,000-book test site (1,050 pages) and one of a 20-book site, both kept by their
//! scraper; the difference over the 1,029 pages between them is what one page costs, whatever
//! the fixed costs (the HTTP client, its pooled connections, `robots.txt`) are.
//!
//! A binary of its own: the counting allocator is this process's. It counts what the test's
//! own thread allocates and frees (the walk runs on a current-thread runtime, the test site on
//! a thread of its own), the bytes asked for, without the allocator's own overhead.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bookstream::scrape::fetch::{FetchPolicy, Fetcher};
use bookstream::scrape::rotation::Verify;
use bookstream::scrape::{ScrapePlan, Scraper};
use common::Site;

/// The system allocator, counting the live bytes of each thread.
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    // A thread being torn down has no counter left; its last frees are not ours to count.
    let _ = LIVE.try_with(|c| c.set(c.get() + delta));
}

// SAFETY: every call is passed through to `System` unchanged; only a counter is kept beside.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// Heap bytes a scraper keeps after two walks of `site` (the second answered with 304s), the
/// walks' results dropped; and the pages the first walk asked for.
fn kept_after_walks(site: &Site) -> (i64, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plan = ScrapePlan {
        site: site.url.parse().unwrap(),
        pages: None,
        concurrency: 8,
        max_requests_per_sec: 1000.0,
        verify: Some(Verify {
            every: std::time::Duration::from_secs(3600),
            cycle: std::time::Duration::from_secs(60),
        }),
    };
    runtime.block_on(async {
        let before = live();
        let scraper = Scraper::new(Fetcher::new(FetchPolicy::default()).unwrap());
        let first = scraper.walk(&plan).await.unwrap();
        let pages = u64::from(first.stats.requests);
        drop(first);
        let second = scraper.walk(&plan).await.unwrap();
        assert!(second.stats.not_modified > 0, "{:?}", second.stats);
        drop(second);
        let kept = live() - before;
        drop(scraper);
        (kept, pages)
    })
}

#[test]
fn the_scraper_keeps_under_900_bytes_a_page_between_walks() {
    let big = Site::start(&["--books", "1000"]);
    let small = Site::start(&["--books", "20", "--per-page", "20"]);
    let (kept_big, pages_big) = kept_after_walks(&big);
    let (kept_small, pages_small) = kept_after_walks(&small);
    let per_page = (kept_big - kept_small) / (pages_big - pages_small) as i64;
    eprintln!(
        "scraper heap kept: {kept_big} bytes after {pages_big} pages, {kept_small} after \
         {pages_small}; {per_page} bytes a page; {:.2} MiB at the real site's 1,050 pages",
        (per_page * 1050) as f64 / 1048576.0
    );
    assert!(per_page > 0, "nothing kept: the cache does not work");
    // 2,283 bytes a page (2.29 MiB) when the cache kept each product page's parse and the
    // record of reads a second copy of it with its listing entry; 837 with one entry a page,
    // 680-730 with the listing pages kept compact (the pooled connections vary).
    assert!(
        per_page <= 900,
        "{per_page} bytes a page kept between walks, over 900"
    );
}
