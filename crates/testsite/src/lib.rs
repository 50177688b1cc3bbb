//! The project's own copy of books.toscrape.com, for tests, demos and benchmarks.
//!
//! It is its own crate so that the product (`/usr/bin/bookstream` and the RPM) carries none of
//! it: the tests use it as a dev-dependency, the benchmarks and the CI's systemd test run its
//! binary (`bookstream-testsite`), and `bookstream demo` links it only with the `demo` feature.
//!
//! Nothing automated may touch the real site: it is a third party's service, it can change or
//! go away, and a test that depends on it is neither repeatable nor fast. Instead
//! [`Site::generate`] builds a deterministic full-size catalogue (1000 books, 50 listing pages
//! by default) whose pages have the real site's HTML structure, and [`serve`] (or
//! [`TestServer::start`]) puts it, or a directory of saved real pages, behind a real HTTP
//! server on 127.0.0.1 with optional injected faults (delays, 429s, 5xx), so fetching,
//! retrying and caching are exercised over real sockets.
//!
//! Layout: `generate` (the books, pure) and `words` (its vocabularies); `render` (path ->
//! HTML, pure, with `listing` and `product`) and `quirks` (deliberately broken listings);
//! `http` (request parsing and validators, pure); `content` (what is served); `server`
//! (sockets), `faults` (which response a request gets) and `stats` (counters); `args` (the
//! command line of the binary, also used by the tests' harness to start a server
//! in-process).

mod args;
pub mod cloudwatch;
mod content;
mod faults;
mod generate;
#[cfg(test)]
mod hostile_tests;
mod http;
mod listing;
mod on_thread;
mod product;
mod quirks;
mod render;
mod server;
mod stats;
#[cfg(test)]
mod tests;
mod words;

pub use args::{RunningSite, SiteArgs, SwitchError};
pub use content::{Content, LiveSite};
pub use generate::{Site, SiteBook, rating_word, slugify};
pub use render::{escape, truncate_words};
pub use server::{LiveOptions, ServeOptions, TestServer, serve, serve_live};
pub use stats::{Logged, Stats};
