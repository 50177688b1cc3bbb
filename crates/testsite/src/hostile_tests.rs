//! The hostile-site flags over real sockets, started through [`SiteArgs`] exactly as the
//! binary parses them, so each test also checks that its flag reaches the server.

use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tests::{Response, exchange, get};
use super::{RunningSite, Site, SiteArgs};

fn start(words: &[&str]) -> std::io::Result<RunningSite> {
    let argv = std::iter::once("bookstream-testsite").chain(words.iter().copied());
    SiteArgs::try_parse_from(argv)
        .map_err(std::io::Error::other)?
        .start()
}

async fn fetch(site: &RunningSite, path: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(site.addr()).await?;
    exchange(&mut stream, &get(path, "")).await
}

/// The `(href, title)` of each `h3` product link, in page order.
fn product_links(html: &str) -> Vec<(String, String)> {
    html.split("<h3><a href=\"")
        .skip(1)
        .filter_map(|rest| {
            let (href, rest) = rest.split_once("\" title=\"")?;
            let (title, _) = rest.split_once('"')?;
            Some((href.to_string(), title.to_string()))
        })
        .collect()
}

fn pods(html: &str) -> usize {
    html.matches("<article class=\"product_pod\">").count()
}

#[tokio::test]
async fn foreign_links_send_the_first_product_of_each_listing_elsewhere() -> std::io::Result<()> {
    let site = start(&["--books", "60", "--foreign-links", "http://127.0.0.1:9999/"])?;
    let books = Site::generate(60, 20);
    for (path, first, prefix) in [
        ("/", 0, "catalogue/"),
        ("/catalogue/page-2.html", 20, ""),
        ("/catalogue/category/books_1/page-3.html", 40, "../../"),
    ] {
        let page = fetch(&site, path).await?;
        let links = product_links(&page.body);
        assert_eq!(links.len(), 20, "{path}");
        let book = &books.books()[first];
        let foreign = format!(
            "http://127.0.0.1:9999/catalogue/{}_{}/index.html",
            book.slug, book.id
        );
        assert_eq!(links[0].0, foreign, "{path}");
        assert_eq!(
            page.body
                .matches(&format!("<a href=\"{foreign}\">"))
                .count(),
            1,
            "the image link too"
        );
        let next = &books.books()[first + 1];
        assert_eq!(
            links[1].0,
            format!("{prefix}{}_{}/index.html", next.slug, next.id)
        );
    }
    Ok(())
}

#[tokio::test]
async fn next_loop_sends_a_naive_crawler_round_in_circles() -> std::io::Result<()> {
    let site = start(&["--books", "45", "--next-loop"])?;
    let mut path = "/catalogue/page-1.html".to_string();
    let mut visited = Vec::new();
    for _ in 0..5 {
        let page = fetch(&site, &path).await?;
        assert_eq!(page.status, 200, "{path}");
        visited.push(path.clone());
        let (_, rest) = page
            .body
            .split_once("<li class=\"next\"><a href=\"")
            .expect("a next link on every page");
        let href = rest.split('"').next().unwrap_or_default();
        path = format!("/catalogue/{href}");
    }
    let expected = [1, 2, 3, 1, 2].map(|n| format!("/catalogue/page-{n}.html"));
    assert_eq!(visited, expected);
    assert_eq!(site.stats().hits("/catalogue/page-1.html"), 2);
    Ok(())
}

#[tokio::test]
async fn duplicate_listing_lists_page_twos_first_book_again_on_page_three() -> std::io::Result<()> {
    let site = start(&["--books", "60", "--duplicate-listing"])?;
    let page2 = product_links(&fetch(&site, "/catalogue/page-2.html").await?.body);
    let page3 = fetch(&site, "/catalogue/page-3.html").await?;
    assert_eq!(pods(&page3.body), 21);
    let page3 = product_links(&page3.body);
    assert_eq!(page3.len(), 21);
    assert_eq!(page3.last(), page2.first());
    assert!(!page3[..20].contains(&page2[0]));
    let product = fetch(&site, &format!("/catalogue/{}", page2[0].0)).await?;
    assert_eq!(product.status, 200);
    assert_eq!(site.stats().requests(), 3);
    Ok(())
}

#[tokio::test]
async fn trickled_bodies_come_a_byte_at_a_time_without_blocking_others() -> std::io::Result<()> {
    let interval = Duration::from_millis(20);
    let site = start(&[
        "--books",
        "20",
        "--trickle",
        "slow",
        "--trickle-interval",
        "20ms",
    ])?;
    let mut slow = TcpStream::connect(site.addr()).await?;
    let started = Instant::now();
    slow.write_all(get("/slow.html", "").as_bytes()).await?;
    let mut buf = Vec::new();
    let head_len = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if slow.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).to_string();
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    let len: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .and_then(|len| len.parse().ok())
        .unwrap_or(0);
    assert!(len > 20, "a body worth trickling: {len}");
    assert!(buf.len() - head_len < len / 2, "the body is still coming");

    // Meanwhile another connection is served at once, and its body in one piece.
    let other = Instant::now();
    let home = fetch(&site, "/").await?;
    assert_eq!(home.status, 200);
    let trickle_time = interval * u32::try_from(len).unwrap_or(0);
    assert!(other.elapsed() < trickle_time / 2, "{:?}", other.elapsed());

    let mut body = buf[head_len..].to_vec();
    while body.len() < len {
        if slow.read_buf(&mut body).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    assert_eq!(body.len(), len);
    assert!(started.elapsed() >= trickle_time);
    // The connection is still usable afterwards.
    let again = exchange(&mut slow, &get("/", "")).await?;
    assert_eq!(again.status, 200);
    let stats = site.stats();
    assert_eq!((stats.trickled(), stats.requests()), (1, 3));
    Ok(())
}

#[tokio::test]
async fn throttled_responses_carry_the_asked_retry_after() -> std::io::Result<()> {
    let site = start(&[
        "--books",
        "20",
        "--throttle-every",
        "2",
        "--retry-after",
        "7",
    ])?;
    let mut stream = TcpStream::connect(site.addr()).await?;
    assert_eq!(exchange(&mut stream, &get("/", "")).await?.status, 200);
    let throttled = exchange(&mut stream, &get("/", "")).await?;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("retry-after"), Some("7"));
    assert_eq!(site.stats().throttled(), 1);
    Ok(())
}

#[tokio::test]
async fn redirects_answer_302_with_the_given_location() -> std::io::Result<()> {
    let site = start(&[
        "--books",
        "40",
        "--redirect",
        "/old.html=/catalogue/page-2.html",
        "--redirect",
        "/catalogue/page-2.html=http://127.0.0.1:9/elsewhere/",
    ])?;
    let mut stream = TcpStream::connect(site.addr()).await?;
    let moved = exchange(&mut stream, &get("/old.html?utm=x", "")).await?;
    assert_eq!(moved.status, 302);
    assert_eq!(moved.header("location"), Some("/catalogue/page-2.html"));
    assert!(moved.body.contains("href=\"/catalogue/page-2.html\""));
    let away = exchange(&mut stream, &get("/catalogue/page-2.html", "")).await?;
    assert_eq!(
        (away.status, away.header("location")),
        (302, Some("http://127.0.0.1:9/elsewhere/"))
    );
    let exact = exchange(&mut stream, &get("/old.html/x", "")).await?;
    assert_eq!(exact.status, 404, "only the exact path redirects");
    let stats = site.stats();
    assert_eq!((stats.redirected(), stats.ok(), stats.errors()), (2, 0, 1));
    assert_eq!((stats.requests(), stats.hits("/old.html")), (3, 1));
    Ok(())
}

#[tokio::test]
async fn a_page_without_products_keeps_its_pager() -> std::io::Result<()> {
    let site = start(&["--books", "60", "--no-products-on", "2"])?;
    let empty = fetch(&site, "/catalogue/page-2.html").await?;
    assert_eq!((empty.status, pods(&empty.body)), (200, 0));
    assert!(
        empty
            .body
            .contains("<li class=\"next\"><a href=\"page-3.html\">next</a>")
    );
    assert!(
        empty
            .body
            .contains("<li class=\"previous\"><a href=\"page-1.html\">")
    );
    assert!(empty.body.contains("Page 2 of 3"));
    assert_eq!(
        pods(&fetch(&site, "/catalogue/page-3.html").await?.body),
        20
    );
    Ok(())
}

#[tokio::test]
async fn dropped_books_are_gone_from_listings_and_product_pages() -> std::io::Result<()> {
    let site = start(&["--books", "100", "--drop-books", "30"])?;
    let full = Site::generate(100, 20);
    let home = fetch(&site, "/").await?;
    assert!(home.body.contains("<strong>30</strong> results"));
    assert!(home.body.contains("Page 1 of 2"));
    let last = fetch(&site, "/catalogue/page-2.html").await?;
    assert_eq!(pods(&last.body), 10);
    assert!(!last.body.contains("class=\"next\""));
    assert_eq!(fetch(&site, "/catalogue/page-3.html").await?.status, 404);
    let product = |at: usize| {
        let book = &full.books()[at];
        format!("/catalogue/{}_{}/index.html", book.slug, book.id)
    };
    assert_eq!(fetch(&site, &product(29)).await?.status, 200);
    assert_eq!(fetch(&site, &product(30)).await?.status, 404);
    Ok(())
}
