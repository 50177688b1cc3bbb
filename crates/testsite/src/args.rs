//! What to serve and which faults to inject, as command-line arguments: the binary parses them,
//! and the tests' harness passes the same words to [`SiteArgs::start`] to run the server on a
//! thread of its own (no extra process, no binary to find).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::{Content, ServeOptions, Site, Stats, serve};

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
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration such as \"1s\" or \"500ms\": {e}"))
}

impl SiteArgs {
    /// The pages these arguments ask for.
    pub fn content(&self) -> Content {
        match &self.root {
            Some(dir) => Content::Dir(dir.clone()),
            None => Content::Generated(Arc::new(
                Site::generate(self.books, self.per_page).with_version(self.version),
            )),
        }
    }

    /// The faults these arguments ask for, counting into `stats`.
    pub fn options(&self, stats: Arc<Stats>) -> ServeOptions {
        ServeOptions {
            delay: self.delay,
            fail_first: self.fail_first,
            fail_always: self.fail_always.clone(),
            throttle_every: self.throttle_every,
            stats,
        }
    }

    /// Binds 127.0.0.1:`port` and serves on a thread of its own until the returned handle is
    /// dropped (which closes the listener and every connection, so the port can be reused).
    pub fn start(&self) -> std::io::Result<RunningSite> {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], self.port)))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats::default());
        let (content, options) = (self.content(), self.options(Arc::clone(&stats)));
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("testsite-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = serve(listener, content, options) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here closes every connection it still holds.
            })?;
        Ok(RunningSite {
            addr,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A site served by [`SiteArgs::start`]; dropping it stops the server and waits for its thread.
#[derive(Debug)]
pub struct RunningSite {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningSite {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}

impl Drop for RunningSite {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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
    }
}
