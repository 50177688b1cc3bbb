//! The first walk after a restart: the daemon seeds its record of the product pages read from
//! the catalogue it saved, so it reads the listing pages and the rotation's share of product
//! pages, not every product page again; a corrupt `catalogue.json` falls back to reading them
//! all, with one line naming the file and what was wrong, and is kept aside (nothing lost).
//! Counted on the test site's own request log, against moto_server.

mod common;

use bookstream_testsite::Logged;
use common::named;
use common::rig::*;

/// Walks every second, a cycle every two.
const ENV: &[(&str, &str)] = &[("BOOKSTREAM__SITE__REFRESH", "1s")];

fn is_listing(path: &str) -> bool {
    path.starts_with("/catalogue/page-")
}

/// The product pages the first walk in `log` asked for: the requests from the first listing
/// page 1 to the next one (a walk starts there, one walk at a time).
fn first_walk_products(log: &[Logged]) -> Vec<String> {
    let page1 = |l: &Logged| l.path == "/catalogue/page-1.html";
    let start = log
        .iter()
        .position(page1)
        .expect("a walk after the restart");
    let end = log[start + 1..]
        .iter()
        .position(page1)
        .map_or(log.len(), |n| start + 1 + n);
    log[start..end]
        .iter()
        .filter(|l| !is_listing(&l.path) && l.path != "/robots.txt")
        .map(|l| l.path.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_the_rotations_share_of_product_pages_not_all() {
    let rig = Rig::new("restart", &["--books", "60", "--per-page", "20"], FAST).await;
    let site = rig._site.stats();

    // The first start has nothing saved: every product page.
    let first = rig.run_until(10, ENV).await;
    let not_seeded = named(&first, "product_pages_not_seeded");
    assert_eq!(not_seeded.len(), 1, "{first}");
    assert!(
        not_seeded[0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("catalogue.json")),
        "{first}"
    );
    assert_eq!(first_walk_products(&site.log()).len(), 60);
    let saved = rig.dir.join("state/catalogue.json");
    assert!(saved.exists());

    // A restart: the product pages are known from catalogue.json. The first walk reads the
    // rotation's share (1 of 60 for a walk a second and verify_every = 1h) and those the spread
    // of the unknown read times makes due now: a handful, not 60.
    let mark = site.log().len();
    let second = rig.run_until(20, ENV).await;
    let seeded = named(&second, "product_pages_seeded");
    assert_eq!(seeded.len(), 1, "{second}");
    assert_eq!(seeded[0]["known"], 60, "{second}");
    assert!(named(&second, "product_pages_not_seeded").is_empty());
    let read = first_walk_products(&site.log()[mark..]);
    assert!(
        !read.is_empty() && read.len() <= 3,
        "the first walk after a restart read {} product pages: {read:?}",
        read.len()
    );
    let taken = named(&second, "catalogue_refreshed");
    assert!(
        taken
            .first()
            .is_some_and(|t| t["books"] == 60 && t["walk_complete"] == true),
        "{second}"
    );

    // A corrupt catalogue.json: set aside as before, one line naming it and what was wrong,
    // and the first walk reads every product page, as without a catalogue.
    std::fs::write(&saved, b"{\"scraped_at\": torn").unwrap();
    let mark = site.log().len();
    let third = rig.run_until(30, ENV).await;
    let not_seeded = named(&third, "product_pages_not_seeded");
    assert_eq!(not_seeded.len(), 1, "{third}");
    let line = not_seeded[0]["message"].as_str().unwrap_or_default();
    assert!(
        line.contains("catalogue.json") && line.contains("not valid JSON"),
        "{line}"
    );
    assert!(rig.dir.join("state/catalogue.json.corrupt").exists());
    assert_eq!(first_walk_products(&site.log()[mark..]).len(), 60);
    assert!(named(&third, "daemon_stopped").len() == 1, "{third}");
}
