//! What the test server serves: a generated catalogue, one that a test can swap while the
//! server runs, or a directory of saved pages (such as the real fixtures).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::UNIX_EPOCH;

use super::generate::Site;
use super::http;

/// Last-Modified of catalogue version 0, in seconds since the Unix epoch: the "created" date
/// in the real pages' meta tags (24 Jun 2016 09:29 UTC). Each later version is a day later,
/// so `If-Modified-Since` from an older version never hides a change.
const SITE_CREATED: u64 = 1_466_760_540;

/// The pages behind a server.
#[derive(Debug, Clone)]
pub enum Content {
    /// A fixed generated catalogue.
    Generated(Arc<Site>),
    /// A generated catalogue the test can replace between scrapes (simulating the real site
    /// changing) without restarting the server or changing its URL.
    Live(Arc<LiveSite>),
    /// Files below a directory, served at their relative paths; `/` and directories serve
    /// their `index.html`, and paths with `..` are refused.
    Dir(PathBuf),
}

/// A catalogue that can be swapped while it is being served.
#[derive(Debug)]
pub struct LiveSite {
    current: RwLock<Arc<Site>>,
}

impl LiveSite {
    /// Starts serving `site`; keep a clone of the Arc to [`LiveSite::replace`] it later.
    pub fn new(site: Site) -> Arc<LiveSite> {
        Arc::new(LiveSite {
            current: RwLock::new(Arc::new(site)),
        })
    }

    /// Serves `site` from the next request on; requests already being answered finish with
    /// the old one.
    pub fn replace(&self, site: Site) {
        // A poisoned lock only means a panic elsewhere; the Arc inside is still whole.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(site);
    }

    /// The catalogue being served now.
    pub fn current(&self) -> Arc<Site> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A found page with the validators its responses carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Page {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub last_modified: String,
}

impl Content {
    /// The page at `path` (already stripped of its query), `Ok(None)` for 404, `Err` when a
    /// file exists but cannot be read.
    pub(super) async fn page(&self, path: &str) -> io::Result<Option<Page>> {
        match self {
            Content::Generated(site) => Ok(generated_page(site, path)),
            Content::Live(live) => Ok(generated_page(&live.current(), path)),
            Content::Dir(root) => {
                let root = root.clone();
                let path = path.to_string();
                tokio::task::spawn_blocking(move || read_file(&root, &path))
                    .await
                    .map_err(io::Error::other)?
            }
        }
    }
}

fn generated_page(site: &Site, path: &str) -> Option<Page> {
    let html = site.render(path)?;
    Some(Page {
        body: html.into_bytes(),
        // No charset, exactly like the real server: the scraper must not trust the header.
        content_type: "text/html",
        last_modified: http::http_date(SITE_CREATED + u64::from(site.version()) * 86_400),
    })
}

/// Reads the file for `path` below `root`; blocking, so it runs on the blocking pool.
fn read_file(root: &Path, path: &str) -> io::Result<Option<Page>> {
    let mut file = root.to_path_buf();
    for segment in path.split('/') {
        if segment == ".." || segment.contains(['\\', '\0']) {
            return Ok(None);
        }
        if !segment.is_empty() && segment != "." {
            file.push(segment);
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    let body = match std::fs::read(&file) {
        Ok(body) => body,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let modified = std::fs::metadata(&file)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(SITE_CREATED, |age| age.as_secs());
    Ok(Some(Page {
        body,
        content_type: content_type(&file),
        last_modified: http::http_date(modified),
    }))
}

fn is_missing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|ext| ext.to_str()) {
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("js") => "application/javascript",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain",
        _ => "application/octet-stream",
    }
}
