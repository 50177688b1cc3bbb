//! The test site over real sockets: a raw HTTP/1.1 client against [`TestServer`], so the
//! server is checked byte for byte rather than through a client library's interpretation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Content, LiveSite, ServeOptions, Site, TestServer};

pub(super) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends one request on `stream` and reads exactly one response (bodiless for HEAD and 304).
pub(super) async fn exchange(stream: &mut TcpStream, request: &str) -> std::io::Result<Response> {
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    let head_len = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_string(), value.trim().to_string()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: String::new(),
    };
    let bodiless = request.starts_with("HEAD") || status == 304;
    let len: usize = match response.header("content-length") {
        Some(len) if !bodiless => len.parse().unwrap_or(0),
        _ => 0,
    };
    let mut body = buf[head_len..].to_vec();
    while body.len() < len {
        if stream.read_buf(&mut body).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    response.body = String::from_utf8_lossy(&body).to_string();
    Ok(response)
}

pub(super) fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

fn generated(books: usize) -> Content {
    Content::Generated(Arc::new(Site::generate(books, 20)))
}

#[tokio::test]
async fn serves_pages_with_validators_and_answers_conditional_requests() -> std::io::Result<()> {
    let server = TestServer::start(generated(1000), ServeOptions::default()).await?;
    let mut stream = TcpStream::connect(server.addr()).await?;

    let page = exchange(&mut stream, &get("/", "")).await?;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html"),
        "no charset, like the real site"
    );
    assert_eq!(
        page.header("content-length"),
        Some(page.body.len().to_string().as_str())
    );
    assert_eq!(page.body.matches("class=\"product_pod\"").count(), 20);
    let etag = page.header("etag").expect("ETag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    let modified = page
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();
    assert_eq!(modified, "Fri, 24 Jun 2016 09:29:00 GMT");

    // Same connection throughout: keep-alive.
    let cached = exchange(
        &mut stream,
        &get("/", &format!("If-None-Match: {etag}\r\n")),
    )
    .await?;
    assert_eq!((cached.status, cached.body.as_str()), (304, ""));
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    let since = format!("If-Modified-Since: {modified}\r\n");
    assert_eq!(
        exchange(&mut stream, &get("/index.html", &since))
            .await?
            .status,
        304
    );
    let stale = exchange(&mut stream, &get("/", "If-None-Match: \"old\"\r\n")).await?;
    assert_eq!(stale.status, 200);
    assert_eq!(
        exchange(&mut stream, &get("/catalogue/page-51.html", ""))
            .await?
            .status,
        404
    );
    let head = exchange(&mut stream, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    assert_eq!(
        (head.status, head.header("etag")),
        (200, Some(etag.as_str()))
    );
    let post = exchange(
        &mut stream,
        "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await?;
    assert_eq!(
        (post.status, post.header("allow")),
        (405, Some("GET, HEAD"))
    );

    let closing = get("/catalogue/page-50.html", "Connection: close\r\n");
    let last = exchange(&mut stream, &closing).await?;
    assert_eq!(last.header("connection"), Some("close"));
    assert!(!last.body.contains("class=\"next\""));
    let mut rest = Vec::new();
    assert_eq!(
        stream.read_to_end(&mut rest).await?,
        0,
        "server closed the connection"
    );

    let stats = server.stats();
    assert_eq!(stats.connections(), 1);
    assert_eq!(
        (stats.requests(), stats.ok(), stats.not_modified()),
        (8, 4, 2)
    );
    assert_eq!(stats.errors(), 2);
    assert_eq!(
        stats.hits("/"),
        5,
        "GET, conditional GET, stale GET, HEAD and POST"
    );
    Ok(())
}

#[tokio::test]
async fn fail_first_answers_503_per_path_before_succeeding() -> std::io::Result<()> {
    let options = ServeOptions {
        fail_first: 2,
        ..ServeOptions::default()
    };
    let server = TestServer::start(generated(40), options).await?;
    let mut stream = TcpStream::connect(server.addr()).await?;
    let mut statuses = Vec::new();
    for path in [
        "/",
        "/",
        "/catalogue/page-2.html",
        "/",
        "/",
        "/catalogue/page-2.html",
    ] {
        statuses.push(exchange(&mut stream, &get(path, "")).await?.status);
    }
    assert_eq!(statuses, [503, 503, 503, 200, 200, 503]);
    assert_eq!(server.stats().injected_failures(), 4);
    Ok(())
}

#[tokio::test]
async fn throttles_every_nth_request_and_always_fails_listed_paths() -> std::io::Result<()> {
    let options = ServeOptions {
        throttle_every: 3,
        fail_always: vec!["page-2".to_string()],
        ..ServeOptions::default()
    };
    let server = TestServer::start(generated(40), options).await?;
    let mut stream = TcpStream::connect(server.addr()).await?;
    let mut statuses = Vec::new();
    for path in [
        "/",
        "/catalogue/page-2.html",
        "/",
        "/",
        "/catalogue/page-2.html",
        "/",
    ] {
        let response = exchange(&mut stream, &get(path, "")).await?;
        if response.status == 429 {
            assert_eq!(response.header("retry-after"), Some("0"));
        }
        statuses.push(response.status);
    }
    assert_eq!(statuses, [200, 500, 429, 200, 500, 429]);
    assert_eq!(server.stats().throttled(), 2);
    Ok(())
}

#[tokio::test]
async fn delays_responses() -> std::io::Result<()> {
    let options = ServeOptions {
        delay: Duration::from_millis(150),
        ..ServeOptions::default()
    };
    let server = TestServer::start(generated(20), options).await?;
    let mut stream = TcpStream::connect(server.addr()).await?;
    let started = Instant::now();
    assert_eq!(exchange(&mut stream, &get("/", "")).await?.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    Ok(())
}

#[tokio::test]
async fn a_malformed_request_only_ends_its_own_connection() -> std::io::Result<()> {
    let server = TestServer::start(generated(20), ServeOptions::default()).await?;
    let mut bad = TcpStream::connect(server.addr()).await?;
    assert_eq!(exchange(&mut bad, "NONSENSE\r\n\r\n").await?.status, 400);
    let mut rest = Vec::new();
    assert_eq!(bad.read_to_end(&mut rest).await?, 0);
    let mut good = TcpStream::connect(server.addr()).await?;
    assert_eq!(exchange(&mut good, &get("/", "")).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn a_live_site_changes_between_requests() -> std::io::Result<()> {
    let live = LiveSite::new(Site::generate(100, 20));
    let server = TestServer::start(Content::Live(Arc::clone(&live)), ServeOptions::default());
    let server = server.await?;
    let mut stream = TcpStream::connect(server.addr()).await?;
    let before = exchange(&mut stream, &get("/", "")).await?;
    live.replace(Site::generate_version(100, 20, 1));
    let etag = before.header("etag").unwrap_or_default();
    let after = exchange(
        &mut stream,
        &get("/", &format!("If-None-Match: {etag}\r\n")),
    )
    .await?;
    assert_eq!(after.status, 200, "changed page is sent again");
    assert_ne!(
        after.header("last-modified"),
        before.header("last-modified")
    );
    Ok(())
}

#[tokio::test]
async fn serves_a_directory_and_refuses_to_leave_it() -> std::io::Result<()> {
    let root = std::env::temp_dir().join(format!("testsite-dir-{}", std::process::id()));
    std::fs::create_dir_all(root.join("catalogue/book_1"))?;
    std::fs::write(root.join("index.html"), "<p>home £</p>")?;
    std::fs::write(root.join("catalogue/book_1/index.html"), "<p>book</p>")?;
    let server = TestServer::start(Content::Dir(root.clone()), ServeOptions::default()).await?;
    let mut stream = TcpStream::connect(server.addr()).await?;
    let home = exchange(&mut stream, &get("/", "")).await?;
    assert_eq!((home.status, home.body.as_str()), (200, "<p>home £</p>"));
    assert_eq!(home.header("content-type"), Some("text/html"));
    let book = exchange(&mut stream, &get("/catalogue/book_1/", "")).await?;
    assert_eq!(book.body, "<p>book</p>");
    for path in ["/../etc/passwd", "/catalogue/../../x", "/missing.html"] {
        assert_eq!(
            exchange(&mut stream, &get(path, "")).await?.status,
            404,
            "{path}"
        );
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

#[tokio::test]
async fn a_running_site_switches_version_quirks_and_faults_on_one_connection() -> std::io::Result<()>
{
    use clap::Parser;
    let args = super::SiteArgs::try_parse_from(["t", "--books", "100", "--per-page", "20"])
        .map_err(std::io::Error::other)?;
    let site = args.start()?;
    let mut stream = TcpStream::connect(site.addr()).await?;
    let book = Site::generate(100, 20).books()[30].clone();
    let product = format!("/catalogue/{}_{}/index.html", book.slug, book.id);
    let page2 = exchange(&mut stream, &get("/catalogue/page-2.html", "")).await?;
    assert!(page2.body.contains("<a href=\"page-3.html\">next</a>"));
    assert_eq!(exchange(&mut stream, &get(&product, "")).await?.status, 200);

    let faulty = ["--books", "100", "--per-page", "20", "--version", "1"];
    let faulty = [
        &faulty[..],
        &["--no-next-on", "2", "--fail-always", &product],
    ]
    .concat();
    site.switch(&faulty).map_err(std::io::Error::other)?;
    let page2 = exchange(&mut stream, &get("/catalogue/page-2.html", "")).await?;
    assert!(page2.body.contains("Page 2 of"), "{}", page2.body);
    assert!(!page2.body.contains("class=\"next\""), "{}", page2.body);
    assert_eq!(exchange(&mut stream, &get(&product, "")).await?.status, 500);
    let home = exchange(&mut stream, &get("/", "")).await?;
    let v1 = Site::generate_version(100, 20, 1)
        .render("/")
        .unwrap_or_default();
    assert_eq!(home.body, v1, "version 1 from the switch on");

    site.switch(&["--books", "100", "--per-page", "20"])
        .map_err(std::io::Error::other)?;
    assert_eq!(exchange(&mut stream, &get(&product, "")).await?.status, 200);
    assert_eq!(site.stats().hits(&product), 3, "the counters go on");
    assert!(site.switch(&["--root", "/tmp"]).is_err());
    assert!(site.switch(&["--no-next-on", "0"]).is_err());
    Ok(())
}

#[test]
fn the_request_log_finds_the_busiest_window() {
    let stats = super::Stats::default();
    for path in ["/a", "/b", "/c"] {
        stats.received(path);
    }
    std::thread::sleep(Duration::from_millis(120));
    stats.received("/d");
    let (most, paths) = stats.busiest(Duration::from_millis(100));
    assert_eq!(
        (most, paths),
        (3, vec!["/a".into(), "/b".into(), "/c".into()])
    );
    assert_eq!(stats.busiest(Duration::from_secs(5)).0, 4);
    let log = stats.log();
    assert_eq!(log.len(), 4);
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test]
async fn robots_gone_and_captcha_answer_as_asked() -> std::io::Result<()> {
    let site = Site::generate(40, 20);
    let book = &site.books()[2];
    let gone = format!("/catalogue/{}_{}/index.html", book.slug, book.id);
    let options = ServeOptions {
        robots: Some("User-agent: *\nDisallow: /x\n".into()),
        gone: vec![gone.clone()],
        captcha: vec!["page-2".into()],
        ..ServeOptions::default()
    };
    let server = TestServer::start(generated(40), options).await?;
    let mut stream = TcpStream::connect(server.addr()).await?;
    let mut bodies = Vec::new();
    for path in ["/robots.txt", gone.as_str(), "/catalogue/page-2.html"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(req.as_bytes()).await?;
        let mut buf = vec![0u8; 65536];
        let n = stream.read(&mut buf).await?;
        bodies.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(bodies[0].starts_with("HTTP/1.1 200") && bodies[0].contains("Disallow: /x"));
    assert!(bodies[1].starts_with("HTTP/1.1 410 Gone"), "{}", bodies[1]);
    assert!(bodies[2].starts_with("HTTP/1.1 200") && bodies[2].contains("robot"));
    assert!(!bodies[2].contains("product_pod"));
    Ok(())
}

#[tokio::test]
async fn a_volatile_page_differs_on_every_request_and_is_never_a_304() -> std::io::Result<()> {
    let options = ServeOptions {
        volatile: true,
        ..ServeOptions::default()
    };
    let server = TestServer::start(generated(40), options).await?;
    let mut stream = TcpStream::connect(server.addr()).await?;
    let product = Site::generate(40, 20).books()[3].clone();
    for path in [
        "/catalogue/page-1.html".to_owned(),
        format!("/catalogue/{}_{}/index.html", product.slug, product.id),
    ] {
        let first = exchange(&mut stream, &get(&path, "")).await?;
        let etag = first.header("etag").unwrap_or_default().to_owned();
        let again = exchange(
            &mut stream,
            &get(&path, &format!("If-None-Match: {etag}\r\n")),
        )
        .await?;
        assert_eq!((first.status, again.status), (200, 200), "{path}");
        assert_ne!(first.body, again.body, "{path}");
        assert_ne!(again.header("etag"), Some(etag.as_str()), "{path}");
        assert!(first.body.contains("csrfmiddlewaretoken"), "{path}");
    }
    assert_eq!(server.stats().not_modified(), 0);
    assert!(server.stats().bytes_sent() > 0);
    Ok(())
}
