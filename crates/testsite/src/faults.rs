//! Deciding each response: the injected faults (delay, 429, 500, 503, redirects) before the
//! page itself with its validators, and the slow body writer behind `ServeOptions::trickle`.
//! The socket handling stays in `server`.

use std::io;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::http::{self, Request};
use super::render::escape;
use super::server::{Reply, ServeOptions, State};

impl State {
    /// Decides the response: injected faults first (in the order delay, 405, 429, 500, 503,
    /// 302), then the page with its validators.
    pub(super) async fn respond(&self, request: &Request) -> Reply {
        let options = &*self.options.current();
        let path = request.path();
        options.stats.received(path);
        if !options.delay.is_zero() {
            tokio::time::sleep(options.delay).await;
        }
        if request.method != "GET" && request.method != "HEAD" {
            return Reply::error(405).with("Allow", "GET, HEAD");
        }
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        if options.throttle_every > 0 && sequence.is_multiple_of(u64::from(options.throttle_every))
        {
            options.stats.throttled.fetch_add(1, Ordering::Relaxed);
            return Reply::error(429).with("Retry-After", &options.retry_after.to_string());
        }
        if options
            .fail_always
            .iter()
            .any(|part| path.contains(part.as_str()))
        {
            options
                .stats
                .injected_failures
                .fetch_add(1, Ordering::Relaxed);
            return Reply::error(500);
        }
        if self.fails_first(options, path) {
            options
                .stats
                .injected_failures
                .fetch_add(1, Ordering::Relaxed);
            return Reply::error(503);
        }
        if path == "/robots.txt"
            && let Some(text) = &options.robots
        {
            return Reply {
                status: 200,
                headers: vec![("Content-Type", "text/plain".to_string())],
                body: text.clone().into_bytes(),
            };
        }
        if options.gone.iter().any(|part| path.contains(part.as_str())) {
            return Reply::error(410);
        }
        if options
            .captcha
            .iter()
            .any(|part| path.contains(part.as_str()))
        {
            return Reply {
                status: 200,
                headers: vec![("Content-Type", "text/html".to_string())],
                body: CAPTCHA.as_bytes().to_vec(),
            };
        }
        if let Some((_, to)) = options.redirects.iter().find(|(from, _)| from == path) {
            options.stats.redirected.fetch_add(1, Ordering::Relaxed);
            return redirect(to);
        }
        let mut page = match self.content.page(path).await {
            Ok(Some(page)) => page,
            Ok(None) => return Reply::error(404),
            Err(_) => return Reply::error(500),
        };
        if options.volatile && page.content_type == "text/html" {
            page.body = volatile(&page.body, sequence);
        }
        let etag = http::etag(&page.body);
        let fresh = match request.header("if-none-match") {
            Some(tags) => http::etag_matches(tags, &etag),
            // Exact comparison, like nginx's default: clients echo the value they were sent.
            None => request.header("if-modified-since") == Some(page.last_modified.as_str()),
        };
        let reply = Reply {
            status: if fresh { 304 } else { 200 },
            headers: Vec::new(),
            body: page.body,
        };
        let reply = if fresh {
            reply
        } else {
            reply.with("Content-Type", page.content_type)
        };
        reply
            .with("ETag", &etag)
            .with("Last-Modified", &page.last_modified)
    }

    /// Whether `path` still owes a 503 under `fail_first`; counts the one it gives.
    fn fails_first(&self, options: &ServeOptions, path: &str) -> bool {
        if options.fail_first == 0 {
            return false;
        }
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let given = failures.entry(path.to_string()).or_default();
        if *given < options.fail_first {
            *given += 1;
            true
        } else {
            false
        }
    }

    /// Whether the body of a response for `path` goes out byte by byte.
    pub(super) fn trickles(&self, options: &ServeOptions, path: &str) -> bool {
        options
            .trickle
            .iter()
            .any(|part| path.contains(part.as_str()))
    }
}

/// `html` as a dynamic page serves it, different on every request: a CSRF token (new each
/// time, as django-oscar's basket forms carry one) inside each product pod and next to the
/// product's title, and a "generated at" time before `</body>`. Nothing the scraper reads
/// changes; the whole page, and so its ETag, does.
pub(super) fn volatile(html: &[u8], sequence: u64) -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let token = format!(
        "{:016x}{sequence:08x}",
        (nanos as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    let field =
        format!("<input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{token}\" />\n");
    let html = String::from_utf8_lossy(html)
        .replace(
            "<article class=\"product_pod\">\n",
            &format!("<article class=\"product_pod\">\n{field}"),
        )
        .replace(
            "<div class=\"col-sm-6 product_main\">\n",
            &format!("<div class=\"col-sm-6 product_main\">\n{field}"),
        )
        .replace(
            "</body>",
            &format!(
                "<p class=\"generated\">Generated at {nanos} ns, request {sequence}</p>\n</body>"
            ),
        );
    html.into_bytes()
}

/// What a bot wall answers instead of the page: 200, and no catalogue in it.
const CAPTCHA: &str = "<html><head><title>Are you a robot?</title></head><body>\
<form action=\"/verify\"><p>Please prove you are human.</p><div class=\"g-recaptcha\"></div>\
</form></body></html>\n";

/// `302 Found` to `to` (sent as given, relative or absolute) with the small body servers
/// usually send, for clients that do not follow redirects.
fn redirect(to: &str) -> Reply {
    let to_html = escape(to);
    Reply {
        status: 302,
        headers: vec![("Content-Type", "text/html".to_string())],
        body: format!(
            "<html><body><h1>302 Found</h1><p><a href=\"{to_html}\">{to_html}</a></p>\
             </body></html>\n"
        )
        .into_bytes(),
    }
    .with("Location", to)
}

/// Writes `body` one byte per `interval` (the head has already gone out whole), like a server
/// behind a congested link: the client's read timeout, not the connect timeout, must catch it.
/// Only this connection's task waits; the others are served meanwhile.
pub(super) async fn trickle(
    stream: &mut TcpStream,
    body: &[u8],
    interval: Duration,
) -> io::Result<()> {
    for byte in body {
        tokio::time::sleep(interval).await;
        stream.write_all(std::slice::from_ref(byte)).await?;
    }
    Ok(())
}
