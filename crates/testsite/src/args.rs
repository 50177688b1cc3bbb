//! What to serve and which faults to inject, as command-line arguments: the binary parses them,
//! and the tests' harness passes the same words to [`SiteArgs::start`] to run the server on a
//! thread of its own (no extra process, no binary to find).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::on_thread::OnThread;
use crate::server::{LiveOptions, serve_live};
use crate::{Content, LiveSite, ServeOptions, Site, Stats};

/// Serve the generated test catalogue (or a directory of saved pages) on 127.0.0.1.
#[derive(Debug, Clone, Parser)]
#[command(name = "bookstream-testsite", about)]
pub struct SiteArgs {
    /// 0 picks a free port; the address is printed on stdout.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[arg(long, default_value_t = 1000)]
    pub books: usize,
    #[arg(long, default_value_t = 20)]
    pub per_page: usize,
    /// Catalogue version: later versions change a few books (for refresh tests).
    #[arg(long, default_value_t = 0)]
    pub version: u32,
    /// Serve this directory instead of the generated catalogue.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Delay before every response, e.g. "200ms".
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub delay: Duration,
    /// Every path answers 503 this many times before succeeding.
    #[arg(long, default_value_t = 0)]
    pub fail_first: u32,
    /// Paths containing this always answer 500 (repeatable).
    #[arg(long)]
    pub fail_always: Vec<String>,
    /// Every Nth request answers 429.
    #[arg(long, default_value_t = 0)]
    pub throttle_every: u32,
    /// Seconds the 429s of --throttle-every ask to wait (their Retry-After).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub retry_after: u32,
    /// Request path FROM (exact, query ignored) answers 302 to TO, a path or any URL (repeatable).
    #[arg(long, value_name = "FROM=TO", value_parser = parse_redirect)]
    pub redirect: Vec<(String, String)>,
    /// Paths containing this send their body one byte per --trickle-interval (repeatable).
    #[arg(long, value_name = "PATH_SUBSTRING")]
    pub trickle: Vec<String>,
    /// Wait before each trickled byte, e.g. "50ms".
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub trickle_interval: Duration,
    /// The first product link of every listing page points to BASE_URL/catalogue/... instead.
    #[arg(long, value_name = "BASE_URL", value_parser = parse_base_url, conflicts_with = "root")]
    pub foreign_links: Option<String>,
    /// The last listing page links "next" back to page 1.
    #[arg(long, conflicts_with = "root")]
    pub next_loop: bool,
    /// Listing page 3 lists page 2's first book again, at its end.
    #[arg(long, conflicts_with = "root")]
    pub duplicate_listing: bool,
    /// This listing page (1-based) shows no products, pager unchanged (repeatable).
    #[arg(long, value_name = "PAGE", value_parser = parse_page, conflicts_with = "root")]
    pub no_products_on: Vec<usize>,
    /// This listing page (1-based) has no "next" link, "Page N of M" unchanged (repeatable).
    #[arg(long, value_name = "PAGE", value_parser = parse_page, conflicts_with = "root")]
    pub no_next_on: Vec<usize>,
    /// Paths containing this answer 410 Gone (repeatable).
    #[arg(long, value_name = "PATH_SUBSTRING")]
    pub gone: Vec<String>,
    /// Paths containing this answer 200 with a captcha page instead (repeatable).
    #[arg(long, value_name = "PATH_SUBSTRING")]
    pub captcha: Vec<String>,
    /// Serve TEXT as /robots.txt (which otherwise answers 404).
    #[arg(long, value_name = "TEXT")]
    pub robots: Option<String>,
    /// Serve only the first N books of the catalogue, as if the site had shrunk.
    #[arg(long, value_name = "N", conflicts_with = "root")]
    pub drop_books: Option<usize>,
    /// Every HTML page carries a token and a timestamp new on every request (a CSRF field in
    /// each product pod and product form, a "generated at" line), so no two answers match.
    #[arg(long)]
    pub volatile: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration such as \"1s\" or \"500ms\": {e}"))
}

/// `FROM=TO`, split at the first `=`. FROM must be a path; TO goes out verbatim as the
/// Location header, so it may hold no whitespace or control characters.
fn parse_redirect(s: &str) -> Result<(String, String), String> {
    let (from, to) = s
        .split_once('=')
        .ok_or_else(|| format!("expected FROM=TO, such as /old.html=/new.html: {s:?}"))?;
    if !from.starts_with('/') || from.contains(['?', '#']) {
        return Err(format!("FROM must be a path without query: {from:?}"));
    }
    if to.is_empty() || to.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("TO must be a path or URL without spaces: {to:?}"));
    }
    Ok((from.to_string(), to.to_string()))
}

fn parse_base_url(s: &str) -> Result<String, String> {
    let ok = (s.starts_with("http://") || s.starts_with("https://"))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then(|| s.to_string())
        .ok_or_else(|| format!("expected an absolute http(s) URL: {s:?}"))
}

fn parse_page(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(page) if page > 0 => Ok(page),
        _ => Err(format!("expected a page number from 1: {s:?}")),
    }
}

impl SiteArgs {
    /// The pages these arguments ask for.
    pub fn content(&self) -> Content {
        match &self.root {
            Some(dir) => Content::Dir(dir.clone()),
            None => Content::Generated(Arc::new(self.site())),
        }
    }

    /// The generated catalogue with the asked-for quirks; shrinking comes last, after the
    /// version's changes, so `--drop-books N` always leaves N books (if there were as many).
    pub fn site(&self) -> Site {
        let mut site = Site::generate(self.books, self.per_page).with_version(self.version);
        if let Some(base) = &self.foreign_links {
            site = site.with_foreign_links(base);
        }
        if self.next_loop {
            site = site.with_next_loop();
        }
        if self.duplicate_listing {
            site = site.with_duplicate_listing();
        }
        for &page in &self.no_products_on {
            site = site.without_products_on(page);
        }
        for &page in &self.no_next_on {
            site = site.without_next_on(page);
        }
        match self.drop_books {
            Some(keep) => site.truncated(keep),
            None => site,
        }
    }

    /// The faults these arguments ask for, counting into `stats`.
    pub fn options(&self, stats: Arc<Stats>) -> ServeOptions {
        ServeOptions {
            delay: self.delay,
            fail_first: self.fail_first,
            fail_always: self.fail_always.clone(),
            throttle_every: self.throttle_every,
            retry_after: self.retry_after,
            redirects: self.redirect.clone(),
            trickle: self.trickle.clone(),
            trickle_interval: self.trickle_interval,
            gone: self.gone.clone(),
            captcha: self.captcha.clone(),
            robots: self.robots.clone(),
            volatile: self.volatile,
            stats,
        }
    }

    /// Binds 127.0.0.1:`port` and serves on a thread of its own until the returned handle is
    /// dropped (which closes the listener and every connection, so the port can be reused).
    /// A generated catalogue and every fault can be switched while it runs
    /// ([`RunningSite::switch`]).
    pub fn start(&self) -> std::io::Result<RunningSite> {
        let stats = Arc::new(Stats::default());
        let live = match &self.root {
            Some(_) => None,
            None => Some(LiveSite::new(self.site())),
        };
        let content = match &live {
            Some(site) => Content::Live(Arc::clone(site)),
            None => self.content(),
        };
        let options = LiveOptions::new(self.options(Arc::clone(&stats)));
        let serving = Arc::clone(&options);
        let server = OnThread::start(
            "testsite",
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            move |listener| serve_live(listener, content, serving),
        )?;
        Ok(RunningSite {
            server,
            stats,
            live,
            options,
            root: self.root.clone(),
        })
    }
}

/// A site served by [`SiteArgs::start`]; dropping it stops the server and waits for its thread.
#[derive(Debug)]
pub struct RunningSite {
    server: OnThread,
    stats: Arc<Stats>,
    /// The generated catalogue being served (`None` for `--root`).
    live: Option<Arc<LiveSite>>,
    options: Arc<LiveOptions>,
    root: Option<PathBuf>,
}

/// Why [`RunningSite::switch`] refused new arguments.
#[derive(Debug)]
pub enum SwitchError {
    Args(clap::Error),
    Root { served: Option<PathBuf> },
}

impl std::fmt::Display for SwitchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SwitchError::Args(e) => write!(f, "bad test-site arguments: {e}"),
            SwitchError::Root { served } => write!(
                f,
                "--root cannot be switched while the site runs (it serves {served:?})"
            ),
        }
    }
}

impl std::error::Error for SwitchError {}

impl RunningSite {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr())
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// From the next request on, serves as if started with `args` (the same words as the
    /// command line, without the program name): another `--version`, other quirks
    /// (`--no-next-on 45`), other faults (`--fail-always PATH`), or none. The port stays and
    /// `--port` is ignored; the counters go on. Requests being answered finish as before.
    pub fn switch(&self, args: &[&str]) -> Result<(), SwitchError> {
        let argv = std::iter::once("bookstream-testsite").chain(args.iter().copied());
        let next = SiteArgs::try_parse_from(argv).map_err(SwitchError::Args)?;
        if next.root != self.root {
            return Err(SwitchError::Root {
                served: self.root.clone(),
            });
        }
        if let Some(live) = &self.live {
            live.replace(next.site());
        }
        self.options.replace(next.options(Arc::clone(&self.stats)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed_and_defaults_to_the_full_catalogue() {
        <SiteArgs as clap::CommandFactory>::command().debug_assert();
        let args = SiteArgs::try_parse_from(["bookstream-testsite", "--version", "3"]).unwrap();
        assert_eq!((args.books, args.per_page, args.version), (1000, 20, 3));
        assert_eq!(args.trickle_interval, Duration::from_secs(1));
        assert_eq!(args.site(), Site::generate_version(1000, 20, 3));
    }

    #[test]
    fn hostile_flags_are_checked() {
        let parse = |words: &[&str]| {
            SiteArgs::try_parse_from(
                std::iter::once("bookstream-testsite").chain(words.iter().copied()),
            )
        };
        let args = parse(&["--redirect", "/a.html=http://x/?q=1", "--redirect", "/b=c"]);
        let redirects = args.map(|a| a.redirect).unwrap_or_default();
        assert_eq!(
            redirects,
            [
                ("/a.html".to_string(), "http://x/?q=1".to_string()),
                ("/b".to_string(), "c".to_string())
            ]
        );
        for bad in [
            &["--redirect", "/a.html"][..],
            &["--redirect", "a=/b"],
            &["--redirect", "/a=b\r\nX: y"],
            &["--no-products-on", "0"],
            &["--foreign-links", "127.0.0.1:9/"],
            &["--root", "/tmp", "--next-loop"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
